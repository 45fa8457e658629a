package gatewayapi

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

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
	if err := gatewayv1.Install(s); err != nil {
		t.Fatal(err)
	}
	if err := siskinv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	w := &writes{}
	cl := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithStatusSubresource(&gatewayv1.HTTPRoute{}).WithInterceptorFuncs(w.funcs()).Build()
	return New(cl, cl), cl, w
}

// newCanary is a weighted canary of podinfo on port 9898 behind Gateway gateways/public, rolling out revision 5d8f7c9b.
func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, UID: types.UID("canary-uid")},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderGatewayAPIV1,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service: siskinv1.CanaryService{Port: 9898, PortName: "http", GatewayRefs: []siskinv1.ParentReference{
				{Name: "public", Namespace: ptr.To("gateways")},
			}},
			Analysis: &siskinv1.CanaryAnalysis{Interval: "1m", StepWeight: 10, MaxWeight: ptr.To[int32](50)},
		},
		Status: siskinv1.CanaryStatus{LastAppliedSpec: "5d8f7c9b"},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func getHTTPRoute(t *testing.T, cl client.Client) *gatewayv1.HTTPRoute {
	t.Helper()
	rt := &gatewayv1.HTTPRoute{}
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, rt); err != nil {
		t.Fatalf("get HTTPRoute podinfo: %v", err)
	}
	return rt
}

// accept records that every parent of the live HTTPRoute accepted generation gen.
func accept(t *testing.T, cl client.Client, gen int64, status metav1.ConditionStatus) {
	t.Helper()
	rt := getHTTPRoute(t, cl)
	rt.Status.Parents = nil
	for _, p := range rt.Spec.ParentRefs {
		rt.Status.Parents = append(rt.Status.Parents, gatewayv1.RouteParentStatus{
			ParentRef:      p,
			ControllerName: "example.com/gateway-controller",
			Conditions: []metav1.Condition{{
				Type: string(gatewayv1.RouteConditionAccepted), Status: status, ObservedGeneration: gen,
				Reason: "Accepted", Message: "accepted", LastTransitionTime: metav1.Unix(0, 0),
			}},
		})
	}
	if err := cl.Status().Update(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
}
