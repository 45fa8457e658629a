package metrics

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestCacheReader(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := siskinv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	r := CacheReader{Reader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&siskinv1.MetricTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "latency"},
			Spec: siskinv1.MetricTemplateSpec{Query: "up"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "prom"},
			Data: map[string][]byte{"token": []byte("t")}},
	).Build()}
	ctx := context.Background()

	tpl, err := r.MetricTemplate(ctx, "test", "latency")
	if err != nil || tpl.Spec.Query != "up" {
		t.Errorf("MetricTemplate = %v, %v", tpl, err)
	}
	if _, err := r.MetricTemplate(ctx, "test", "gone"); !apierrors.IsNotFound(err) {
		t.Errorf("MetricTemplate of a missing template: %v, want NotFound", err)
	}
	data, err := r.SecretData(ctx, "test", "prom")
	if err != nil || string(data["token"]) != "t" {
		t.Errorf("SecretData = %v, %v", data, err)
	}
	if _, err := r.SecretData(ctx, "other", "prom"); !apierrors.IsNotFound(err) {
		t.Errorf("SecretData of a missing Secret: %v, want NotFound", err)
	}
}
