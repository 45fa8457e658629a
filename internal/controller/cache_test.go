package controller

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

func TestTrimForCache(t *testing.T) {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{
		Name:          "podinfo",
		Annotations:   map[string]string{annotationLastApplied: `{"big":"copy"}`, "team": "payments"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	if _, err := TrimForCache(dep); err != nil {
		t.Fatal(err)
	}
	if dep.ManagedFields != nil || len(dep.Annotations) != 1 || dep.Annotations["team"] != "payments" {
		t.Fatalf("deployment after trim: managedFields %v, annotations %v", dep.ManagedFields, dep.Annotations)
	}

	for _, tc := range []struct {
		typ      corev1.SecretType
		keepData bool
	}{
		{corev1.SecretTypeOpaque, true},
		{corev1.SecretTypeBasicAuth, true},
		{corev1.SecretTypeServiceAccountToken, false},
		{"helm.sh/release.v1", false},
	} {
		s := &corev1.Secret{Type: tc.typ, Data: map[string][]byte{"k": []byte("v")}}
		if _, err := TrimForCache(s); err != nil {
			t.Fatal(err)
		}
		if kept := s.Data != nil; kept != tc.keepData {
			t.Errorf("secret of type %q: data kept %v, want %v", tc.typ, kept, tc.keepData)
		}
	}

	// A tombstone passes through untouched.
	tomb := toolscache.DeletedFinalStateUnknown{Key: "ns/podinfo", Obj: dep}
	if out, err := TrimForCache(tomb); err != nil || out.(toolscache.DeletedFinalStateUnknown).Key != "ns/podinfo" {
		t.Fatalf("tombstone: %v, %v", out, err)
	}
}
