package gatewayapi

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
	"github.com/siskin-dev/siskin/pkg/target"
)

const ns = routertest.Namespace

func newRouter(t *testing.T, objs ...client.Object) (*Router, client.Client, *routertest.Writes) {
	t.Helper()
	statuses := []client.Object{&gatewayv1.HTTPRoute{}, &gatewayv1.GRPCRoute{}, &gatewayv1.TCPRoute{}}
	cl, w := routertest.Client(t, []func(*runtime.Scheme) error{gatewayv1.Install}, statuses, objs...)
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

// contract is the routertest.Contract of the routes podinfo of one kind, for the Canary that
// canaryOf makes: route is such a route with annotations, carrying canary weight weight.
func contract(canaryOf func(mods ...func(*siskinv1.Canary)) *siskinv1.Canary, kind string, weight int32,
	route func(annotations map[string]string) client.Object, settle func(*testing.T, client.Client)) routertest.Contract {
	return routertest.Contract{
		New:          routertest.New(newRouter),
		Canary:       canaryOf,
		Kind:         kind,
		Name:         "podinfo",
		Foreign:      func() client.Object { return route(nil) },
		Orphan:       func() client.Object { return route(map[string]string{target.AnnotationCanary: "podinfo"}) },
		OrphanWeight: weight,
		CreateWrites: 1, WritesPerChange: 1, AdoptWrites: 1,
		Settle: settle,
	}
}

// refusal is a change to the Canary that a route kind cannot express, and what the error of
// Apply says.
type refusal struct {
	name string
	set  func(*siskinv1.Canary)
	want string
	// desired is the route applied; 90/10 by default.
	desired *canary.DesiredRoute
}

// checkRefusals applies each refusal to the Canary canaryOf makes: Apply must fail saying so,
// writing nothing.
func checkRefusals(t *testing.T, canaryOf func(set func(*siskinv1.Canary)) *siskinv1.Canary, refusals []refusal) {
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r, _, w := newRouter(t)
			d := ptr.Deref(tt.desired, canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10})
			err := r.Apply(context.Background(), canaryOf(tt.set), d)
			if err == nil || !strings.Contains(err.Error(), tt.want) || w.N != 0 {
				t.Fatalf("Apply = %v with %d writes, want an error saying %q", err, w.N, tt.want)
			}
		})
	}
}
