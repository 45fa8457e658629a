package gatewayapi

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

const ns = routertest.Namespace

func newRouter(t *testing.T, objs ...client.Object) (*Router, client.Client, *routertest.Writes) {
	t.Helper()
	cl, w := routertest.Client(t, []func(*runtime.Scheme) error{gatewayv1.Install}, []client.Object{&gatewayv1.HTTPRoute{}}, objs...)
	return New(cl, cl), cl, w
}

// newCanary is a weighted canary of podinfo on port 9898 behind Gateway gateways/public, rolling out revision 5d8f7c9b.
func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	behindGateway := func(c *siskinv1.Canary) {
		c.Spec.Service.GatewayRefs = []siskinv1.ParentReference{{Name: "public", Namespace: ptr.To("gateways")}}
	}
	return routertest.Canary(siskinv1.ProviderGatewayAPIV1, append([]func(*siskinv1.Canary){behindGateway}, mods...)...)
}

func getHTTPRoute(t *testing.T, cl client.Client) *gatewayv1.HTTPRoute {
	t.Helper()
	return routertest.Get(t, cl, "podinfo", &gatewayv1.HTTPRoute{})
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
