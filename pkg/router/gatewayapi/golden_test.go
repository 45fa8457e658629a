package gatewayapi

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

func TestGoldenRoutes(t *testing.T) {
	fixture := routertest.FixtureOf(newRouter, newCanary, render)
	fixture.Settle = acceptEvery
	routertest.RunGolden(t, fixture, []routertest.Case{
		{
			Name:    "canary-90-10-timeouts",
			Canary:  fullService,
			Desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10},
		},
		{
			Name: "ab-test",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 10, Match: []siskinv1.HTTPMatchRequest{
					{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}, "user-agent": {Prefix: "Mozilla/5.0 (Firefox"}}},
					{Headers: map[string]siskinv1.StringMatch{"cookie": {Regex: "^(.*?;)?(canary=always)(;.*)?$"}}},
					{QueryParams: map[string]siskinv1.StringMatch{"canary": {Exact: "true"}}},
				}}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 0, CanaryWeight: 100},
		},
		mirrorCase("mirror"),
		{
			Name: "session-affinity",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/api"}}}
				c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{
					CookieName: "canary-session", PrimaryCookieName: "primary-session",
					MaxAge: 3600, Domain: "example.com", Secure: true, SameSite: "Strict",
				}
				c.Status.PreviousSessionAffinityCookie = "canary-session=0b1d2e3f"
				c.Status.SessionAffinityCookie = "canary-session=0754082261d433f376c6"
				c.Status.PrimarySessionAffinityCookie = "primary-session=ca9c1aeecacaf36a0892"
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 20},
		},
		{
			Name: "several-ports",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Hosts = []string{"podinfo.example.com"}
				c.Spec.Service.GatewayRefs = append(c.Spec.Service.GatewayRefs, siskinv1.ParentReference{Name: "internal", SectionName: ptr.To("http")})
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/api"}}}
				c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "admin", Port: 8080, AppProtocol: "http"}}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 60, CanaryWeight: 40},
		},
		{
			Name: "baseline-80-10-10",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Hosts = []string{"podinfo.example.com"}
				c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "admin", Port: 8080, AppProtocol: "http"}}
				c.Spec.Analysis.Comparison = &siskinv1.CanaryComparison{Control: siskinv1.ControlBaseline}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10},
		},
		{
			Name:     "hand-back",
			Canary:   fullService,
			Desired:  canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50},
			Finalize: true,
		},
	})
}

// mirrorCase is the golden case name of a blue/green analysis that mirrors a quarter of the
// requests to the canary.
func mirrorCase(name string) routertest.Case {
	return routertest.Case{
		Name: name,
		Canary: func(c *siskinv1.Canary) {
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Mirror: true, MirrorWeight: ptr.To[int32](25)}
		},
		Desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true, MirrorWeight: 25},
	}
}

// fullService sets every spec.service field the Gateway API router uses.
func fullService(c *siskinv1.Canary) {
	s := &c.Spec.Service
	s.Hosts = []string{"podinfo.example.com", "www.podinfo.example.com"}
	s.GatewayRefs = append(s.GatewayRefs, siskinv1.ParentReference{Name: "internal", SectionName: ptr.To("http"), Port: ptr.To[int32](8080)})
	s.Match = []siskinv1.HTTPMatchRequest{
		{URI: &siskinv1.StringMatch{Prefix: "/api"}, Method: &siskinv1.StringMatch{Exact: "GET"}},
		{URI: &siskinv1.StringMatch{Exact: "/healthz"}, Headers: map[string]siskinv1.StringMatch{"x-probe": {Exact: "1"}}},
	}
	s.Rewrite = &siskinv1.HTTPRewrite{URI: "/v2", Authority: "podinfo.internal", Type: "ReplaceFullPath"}
	s.Headers = &siskinv1.Headers{
		Request:  &siskinv1.HeaderOperations{Set: map[string]string{"x-route": "siskin"}, Add: map[string]string{"x-b": "2", "x-a": "1"}},
		Response: &siskinv1.HeaderOperations{Remove: []string{"server"}},
	}
	s.Mirror = []siskinv1.HTTPMirror{{BackendRef: siskinv1.MirrorBackendRef{Name: "podinfo-shadow", Port: ptr.To[int32](9898)}, Percent: ptr.To[int32](10)}}
	s.Timeout = "30s"
	s.BackendTimeout = "1.5s"
}

// render is the YAML of the HTTPRoutes, as stored, in name order.
func render(t *testing.T, cl client.Client) []byte {
	t.Helper()
	return routertest.YAML(t, cl, routertest.List(t, cl, &gatewayv1.HTTPRouteList{})...)
}

// listHTTPRoutes returns the HTTPRoutes, as stored, in name order.
func listHTTPRoutes(t *testing.T, cl client.Client) []gatewayv1.HTTPRoute {
	t.Helper()
	var routes []gatewayv1.HTTPRoute
	for _, o := range routertest.List(t, cl, &gatewayv1.HTTPRouteList{}) {
		routes = append(routes, *o.(*gatewayv1.HTTPRoute))
	}
	return routes
}

// acceptEvery records that every parent of every HTTPRoute accepted its current generation.
func acceptEvery(t *testing.T, cl client.Client) {
	t.Helper()
	for _, rt := range listHTTPRoutes(t, cl) {
		rt.Status.Parents = nil
		for _, p := range rt.Spec.ParentRefs {
			rt.Status.Parents = append(rt.Status.Parents, gatewayv1.RouteParentStatus{
				ParentRef:      p,
				ControllerName: "example.com/gateway-controller",
				Conditions: []metav1.Condition{{
					Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionTrue, ObservedGeneration: rt.Generation,
					Reason: "Accepted", Message: "accepted", LastTransitionTime: metav1.Unix(0, 0),
				}},
			})
		}
		if err := cl.Status().Update(context.Background(), &rt); err != nil {
			t.Fatal(err)
		}
	}
}
