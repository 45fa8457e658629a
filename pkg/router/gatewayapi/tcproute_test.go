package gatewayapi

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

// tcpCanary is the test Canary with TCPRoutes: a TCP service on port 9898.
func tcpCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	tcp := func(c *siskinv1.Canary) {
		c.Spec.Service.RouteKind = siskinv1.RouteKindTCPRoute
		c.Spec.Service.PortName, c.Spec.Service.AppProtocol = "tcp", "tcp"
	}
	return newCanary(append([]func(*siskinv1.Canary){tcp}, mods...)...)
}

func TestGoldenTCPRoutes(t *testing.T) {
	fixture := routeKindFixture(siskinv1.RouteKindTCPRoute)
	fixture.Canary = tcpCanary
	routertest.RunGolden(t, fixture, []routertest.Case{
		{
			Name: "tcp-70-30-several-ports",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Service.GatewayRefs = append(c.Spec.Service.GatewayRefs, siskinv1.ParentReference{Name: "internal", SectionName: ptr.To("tcp")})
				c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "redis", Port: 6379, AppProtocol: "tcp"}}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30},
		},
		{
			Name: "tcp-baseline-80-10-10",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis.Comparison = &siskinv1.CanaryComparison{Control: siskinv1.ControlBaseline}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10},
		},
		{
			Name:     "tcp-hand-back",
			Desired:  canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50},
			Finalize: true,
		},
	})
}

// The behaviour every router with objects of its own has, for the TCPRoute podinfo.
func TestTCPRouteContract(t *testing.T) {
	route := func(annotations map[string]string) client.Object {
		rt := &gatewayv1.TCPRoute{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, Annotations: annotations}}
		rt.Spec.Rules = []gatewayv1.TCPRouteRule{{BackendRefs: []gatewayv1.BackendRef{
			{BackendObjectReference: serviceRef("podinfo-primary", nil, ptr.To[int32](9898)), Weight: ptr.To[int32](60)},
			{BackendObjectReference: serviceRef("podinfo-canary", nil, ptr.To[int32](9898)), Weight: ptr.To[int32](40)},
		}}}
		return rt
	}
	contract(tcpCanary, "TCPRoute", 40, route, acceptKind(siskinv1.RouteKindTCPRoute)).Run(t)
}

func TestWhatATCPRouteCannotExpress(t *testing.T) {
	checkRefusals(t, func(set func(*siskinv1.Canary)) *siskinv1.Canary { return tcpCanary(set) }, []refusal{
		{
			name: "hosts",
			set:  func(c *siskinv1.Canary) { c.Spec.Service.Hosts = []string{"db.example.com"} },
			want: "a TCPRoute has no hostnames",
		},
		{
			name: "an A/B test",
			set:  routertest.ABTest(routertest.Header("x-canary", siskinv1.StringMatch{Exact: "1"})),
			want: "a TCPRoute has one rule that matches no requests",
		},
		{
			name: "a match of every route",
			set: func(c *siskinv1.Canary) {
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{}, {URI: &siskinv1.StringMatch{Prefix: "/api"}}}
			},
			want: "a TCPRoute matches no requests",
		},
		{
			name: "a mirror",
			set: func(c *siskinv1.Canary) {
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Mirror: true}
			},
			want:    "a TCPRoute has no filters",
			desired: &canary.DesiredRoute{PrimaryWeight: 100, Mirror: true, MirrorWeight: 100},
		},
		{
			name: "header changes",
			set: func(c *siskinv1.Canary) {
				c.Spec.Service.Headers = &siskinv1.Headers{Request: &siskinv1.HeaderOperations{Remove: []string{"x-debug"}}}
			},
			want: "a TCPRoute has no filters",
		},
		{
			name: "a timeout",
			set:  func(c *siskinv1.Canary) { c.Spec.Service.BackendTimeout = "1s" },
			want: "a TCPRoute has no request timeouts",
		},
	})
}

// An additional TCP port is routed by a TCPRoute, and refused by the other kinds with what
// to write instead.
func TestAdditionalTCPPortsNeedTCPRoutes(t *testing.T) {
	redis := func(c *siskinv1.Canary) {
		c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "redis", Port: 6379, AppProtocol: "tcp"}}
	}
	r, _, _ := newRouter(t)
	err := r.Apply(context.Background(), newCanary(withRouteKind(siskinv1.RouteKindGRPCRoute), redis), canary.DesiredRoute{PrimaryWeight: 100})
	if err == nil || !strings.Contains(err.Error(), "which GRPCRoutes cannot route (they route requests): with provider gatewayapi, set spec.service.routeKind to TCPRoute") {
		t.Fatalf("Apply of a GRPCRoute Canary with a TCP port = %v", err)
	}
	if err := r.Apply(context.Background(), tcpCanary(redis), canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatalf("Apply of a TCPRoute Canary with a TCP port: %v", err)
	}
}
