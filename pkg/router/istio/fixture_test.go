package istio

import (
	"context"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

const ns = "test"

// writes counts the write calls a router makes.
type writes struct{ n int }

func (w *writes) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			w.n++
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			w.n++
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			w.n++
			return c.Patch(ctx, obj, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			w.n++
			return c.Delete(ctx, obj, opts...)
		},
	}
}

func newRouter(t *testing.T, objs ...client.Object) (*Router, client.Client, *writes) {
	t.Helper()
	s := runtime.NewScheme()
	if err := networkingv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := siskinv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	w := &writes{}
	cl := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithInterceptorFuncs(w.funcs()).Build()
	return New(cl, cl), cl, w
}

// newCanary is a weighted canary of podinfo on port 9898, rolling out revision 5d8f7c9b.
func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, UID: types.UID("canary-uid")},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderIstio,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   siskinv1.CanaryService{Port: 9898, PortName: "http"},
			Analysis:  &siskinv1.CanaryAnalysis{Interval: "1m", StepWeight: 10, MaxWeight: ptr.To[int32](50)},
		},
		Status: siskinv1.CanaryStatus{LastAppliedSpec: "5d8f7c9b"},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func getVirtualService(t *testing.T, cl client.Client, name string) *networkingv1.VirtualService {
	t.Helper()
	vs := &networkingv1.VirtualService{}
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, vs); err != nil {
		t.Fatalf("get VirtualService %s: %v", name, err)
	}
	return vs
}

func getDestinationRule(t *testing.T, cl client.Client, name string) *networkingv1.DestinationRule {
	t.Helper()
	dr := &networkingv1.DestinationRule{}
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, dr); err != nil {
		t.Fatalf("get DestinationRule %s: %v", name, err)
	}
	return dr
}
