package contour

import (
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

// The HTTPProxy after Apply (and Finalize), as stored. Observe reads back the route applied,
// converged.
func TestGoldenHTTPProxies(t *testing.T) {
	routertest.RunGolden(t, routertest.FixtureOf(newRouter, newCanary, render), append(routertest.Steps(), []routertest.Case{
		{Name: "baseline", Desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10}},
		{
			Name: "ab-headers-and-cookie",
			Canary: routertest.ABTest(
				routertest.Header("x-canary", siskinv1.StringMatch{Exact: "insider"}),
				routertest.Header("user-agent", siskinv1.StringMatch{Prefix: "Mozilla/5.0 (Firefox"}),
				routertest.Header("cookie", siskinv1.StringMatch{Exact: "canary=always"}),
				routertest.Header("x-tier", siskinv1.StringMatch{Regex: "^(gold|silver)$"}),
			),
			Desired: canary.DesiredRoute{CanaryWeight: 100},
		},
		{
			Name:    "ab-before-matching",
			Canary:  routertest.ABTest(routertest.Header("x-canary", siskinv1.StringMatch{Exact: "insider"})),
			Desired: canary.DesiredRoute{PrimaryWeight: 100},
		},
		{
			Name: "mirror",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Mirror: true, MirrorWeight: ptr.To[int32](40)}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true},
		},
		{
			Name: "service-options",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Timeout = "15s"
				c.Spec.Service.Retries = &siskinv1.HTTPRetry{Attempts: 3, PerTryTimeout: "5s", RetryOn: "gateway-error,connect-failure"}
				c.Spec.Service.Headers = &siskinv1.Headers{
					Request:  &siskinv1.HeaderOperations{Set: map[string]string{"x-route": "canary"}, Remove: []string{"x-debug"}},
					Response: &siskinv1.HeaderOperations{Set: map[string]string{"x-served-by": "siskin"}},
				}
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/api"}}}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30},
		},
		routertest.HandBack("finalize"),
	}...))
}

// render is the YAML of the HTTPProxies, as stored, in name order.
func render(t *testing.T, cl client.Client) []byte {
	t.Helper()
	return routertest.YAML(t, cl, routertest.List(t, cl, &contourv1.HTTPProxyList{})...)
}
