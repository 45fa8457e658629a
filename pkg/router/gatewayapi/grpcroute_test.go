package gatewayapi

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

// routeKindFixture is the golden fixture of the routes of kind name: the Canary asks for them,
// and the golden files hold them.
func routeKindFixture(name string) routertest.Fixture {
	f := routertest.FixtureOf(newRouter,
		func(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
			return newCanary(append([]func(*siskinv1.Canary){withRouteKind(name)}, mods...)...)
		},
		func(t *testing.T, cl client.Client) []byte {
			t.Helper()
			return routertest.YAML(t, cl, routertest.List(t, cl, kinds[name].list())...)
		})
	f.Settle = acceptKind(name)
	return f
}

func withRouteKind(name string) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) { c.Spec.Service.RouteKind = name }
}

// acceptKind records that every parent of every route of kind name accepted its current
// generation, as the Gateway would.
func acceptKind(name string) func(t *testing.T, cl client.Client) {
	return func(t *testing.T, cl client.Client) {
		t.Helper()
		k := kinds[name]
		for _, obj := range routertest.List(t, cl, k.list()) {
			refs, _ := k.parentsOf(obj)
			var parents []gatewayv1.RouteParentStatus
			for _, p := range refs {
				parents = append(parents, gatewayv1.RouteParentStatus{
					ParentRef: p, ControllerName: "example.com/gateway-controller",
					Conditions: []metav1.Condition{{
						Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionTrue, ObservedGeneration: obj.GetGeneration(),
						Reason: "Accepted", Message: "accepted", LastTransitionTime: metav1.Unix(0, 0),
					}},
				})
			}
			switch rt := obj.(type) {
			case *gatewayv1.GRPCRoute:
				rt.Status.Parents = parents
			case *gatewayv1.TCPRoute:
				rt.Status.Parents = parents
			case *gatewayv1.HTTPRoute:
				rt.Status.Parents = parents
			}
			if err := cl.Status().Update(context.Background(), obj); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestGoldenGRPCRoutes(t *testing.T) {
	routertest.RunGolden(t, routeKindFixture(siskinv1.RouteKindGRPCRoute), []routertest.Case{
		{
			Name: "grpc-90-10",
			Canary: func(c *siskinv1.Canary) {
				s := &c.Spec.Service
				s.Hosts = []string{"grpc.example.com"}
				s.Match = []siskinv1.HTTPMatchRequest{
					{URI: &siskinv1.StringMatch{Prefix: "/podinfo.Greeter/"}},
					{URI: &siskinv1.StringMatch{Exact: "/grpc.health.v1.Health/Check"}, Headers: map[string]siskinv1.StringMatch{"x-probe": {Exact: "1"}}},
				}
				s.Headers = &siskinv1.Headers{Request: &siskinv1.HeaderOperations{Set: map[string]string{"x-route": "siskin"}}}
				s.Mirror = []siskinv1.HTTPMirror{{BackendRef: siskinv1.MirrorBackendRef{Name: "podinfo-shadow", Port: ptr.To[int32](9898)}, Percent: ptr.To[int32](10)}}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10},
		},
		{
			Name: "grpc-ab-test",
			Canary: routertest.ABTest(
				siskinv1.HTTPMatchRequest{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}, "user-agent": {Prefix: "grpc-go/1.7"}}},
				siskinv1.HTTPMatchRequest{URI: &siskinv1.StringMatch{Exact: "/podinfo.Greeter/SayHello"}, Headers: map[string]siskinv1.StringMatch{"x-tenant": {Regex: "^beta-.*"}}},
			),
			Desired: canary.DesiredRoute{PrimaryWeight: 0, CanaryWeight: 100},
		},
		mirrorCase("grpc-mirror"),
		{
			Name: "grpc-baseline-several-ports",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "admin", Port: 8080, AppProtocol: "grpc"}}
				c.Spec.Analysis.Comparison = &siskinv1.CanaryComparison{Control: siskinv1.ControlBaseline}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10},
		},
		{
			Name: "grpc-hand-back",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Hosts = []string{"grpc.example.com"}
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/podinfo.Greeter"}}}
			},
			Desired:  canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50},
			Finalize: true,
		},
	})
}

// The behaviour every router with objects of its own has, for the GRPCRoute podinfo.
func TestGRPCRouteContract(t *testing.T) {
	route := func(annotations map[string]string) client.Object {
		rt := &gatewayv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, Annotations: annotations}}
		rt.Spec.Hostnames = []gatewayv1.Hostname{"grpc.example.com"}
		rt.Spec.Rules = []gatewayv1.GRPCRouteRule{{BackendRefs: []gatewayv1.GRPCBackendRef{
			{BackendRef: gatewayv1.BackendRef{BackendObjectReference: serviceRef("podinfo-primary", nil, ptr.To[int32](9898)), Weight: ptr.To[int32](70)}},
			{BackendRef: gatewayv1.BackendRef{BackendObjectReference: serviceRef("podinfo-canary", nil, ptr.To[int32](9898)), Weight: ptr.To[int32](30)}},
		}}}
		return rt
	}
	grpcCanary := func(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
		return newCanary(append([]func(*siskinv1.Canary){withRouteKind(siskinv1.RouteKindGRPCRoute)}, mods...)...)
	}
	contract(grpcCanary, "GRPCRoute", 30, route, acceptKind(siskinv1.RouteKindGRPCRoute)).Run(t)
}

func TestObserveAGRPCRouteWaitsForItsGateway(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withRouteKind(siskinv1.RouteKindGRPCRoute))
	r, cl, _ := newRouter(t)
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Observe(ctx, c)
	want := canary.Route{PrimaryWeight: 90, CanaryWeight: 10, Message: "parent Gateway gateways/public has not reported on GRPCRoute test/podinfo yet"}
	if err != nil || got != want {
		t.Fatalf("Observe = %+v, %v\nwant      %+v", got, err, want)
	}
	acceptKind(siskinv1.RouteKindGRPCRoute)(t, cl)
	if got, err := r.Observe(ctx, c); err != nil || !got.Converged {
		t.Fatalf("Observe after the Gateway accepted = %+v, %v; want converged", got, err)
	}
}

func TestWhatAGRPCRouteCannotExpress(t *testing.T) {
	checkRefusals(t, func(set func(*siskinv1.Canary)) *siskinv1.Canary {
		return newCanary(withRouteKind(siskinv1.RouteKindGRPCRoute), set)
	}, []refusal{
		{
			name: "query parameters",
			set:  routertest.ABTest(siskinv1.HTTPMatchRequest{QueryParams: map[string]siskinv1.StringMatch{"canary": {Exact: "1"}}}),
			want: "a GRPCRoute cannot match query parameters",
		},
		{
			name: "an HTTP method",
			set: func(c *siskinv1.Canary) {
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{Method: &siskinv1.StringMatch{Exact: "GET"}}}
			},
			want: "a GRPCRoute cannot match HTTP methods",
		},
		{
			name: "a path that names no method",
			set: func(c *siskinv1.Canary) {
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Regex: "/podinfo.*"}}}
			},
			want: `a GRPCRoute matches a gRPC method, not the path "/podinfo.*"`,
		},
		{
			name: "an exact path of a service alone",
			set: func(c *siskinv1.Canary) {
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Exact: "/podinfo.Greeter"}}}
			},
			want: `not the path "/podinfo.Greeter"`,
		},
		{
			name: "a rewrite",
			set:  func(c *siskinv1.Canary) { c.Spec.Service.Rewrite = &siskinv1.HTTPRewrite{URI: "/v2"} },
			want: "a GRPCRoute has no URLRewrite filter",
		},
		{
			name: "a timeout",
			set:  func(c *siskinv1.Canary) { c.Spec.Service.Timeout = "5s" },
			want: "a GRPCRoute has no timeouts",
		},
		{
			name: "session affinity",
			set: func(c *siskinv1.Canary) {
				c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "canary-session"}
				c.Status.SessionAffinityCookie = "canary-session=abc"
			},
			want: "a GRPCRoute cannot set cookies",
		},
	})
}

// A Canary whose routeKind changes deletes the routes of the old kind, which would keep
// routing beside the new ones, and hands back no route of another Canary.
func TestChangingTheRouteKindDeletesTheOldRoutes(t *testing.T) {
	ctx := context.Background()
	c := newCanary(func(c *siskinv1.Canary) {
		c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "admin", Port: 8080}}
	})
	other := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-other", Namespace: ns}}
	r, cl, _ := newRouter(t, other)
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	c.Spec.Service.RouteKind = siskinv1.RouteKindGRPCRoute
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	if routes := listHTTPRoutes(t, cl); len(routes) != 1 || routes[0].Name != "podinfo-other" {
		t.Fatalf("HTTPRoutes after the change to GRPCRoute: %d, want only podinfo-other", len(routes))
	}
	for _, name := range []string{"podinfo", "podinfo-admin"} {
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &gatewayv1.GRPCRoute{}); err != nil {
			t.Errorf("GRPCRoute %s: %v", name, err)
		}
	}
	c.Spec.Service.RouteKind = ""
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, &gatewayv1.GRPCRoute{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("GRPCRoute podinfo after the change back to HTTPRoute: %v, want not found", err)
	}
}
