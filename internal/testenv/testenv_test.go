package testenv

import (
	"context"
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The test API server has room for more Services than a package's tests make: every Canary
// makes three, and no namespace is ever deleted. envtest's own default of 256 ran out.
func TestTheAPIServerAllocatesMoreThan256ServiceIPs(t *testing.T) {
	e, err := Start()
	if errors.Is(err, ErrNoAssets) {
		t.Skip("no kube-apiserver and etcd in bin/ (make tools)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop() })
	c, err := client.New(e.Config, client.Options{Scheme: e.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ips"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d", i), Namespace: "ips"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
		}
		if err := c.Create(ctx, svc); err != nil {
			t.Fatalf("Service %d: %v", i, err)
		}
	}
}
