package nginx

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

// The Ingresses after Apply (and Finalize), as stored: the user's, unchanged, and the canary
// copy. Observe reads back the weights applied, converged.
func TestGoldenIngresses(t *testing.T) {
	routertest.RunGolden(t, routertest.FixtureOf(newRouter, newCanary, render), append(routertest.Steps(), []routertest.Case{
		{
			Name:    "ab-header",
			Canary:  routertest.ABTest(routertest.Header("x-canary", siskinv1.StringMatch{Exact: "insider"})),
			Desired: canary.DesiredRoute{CanaryWeight: 100},
		},
		{
			Name: "ab-header-pattern-and-cookie",
			Canary: routertest.ABTest(
				routertest.Header("user-agent", siskinv1.StringMatch{Prefix: "Mozilla/5.0 (Firefox"}),
				routertest.Header("cookie", siskinv1.StringMatch{Exact: "canary"}),
			),
			Desired: canary.DesiredRoute{CanaryWeight: 100},
		},
		{
			Name:    "ab-before-matching",
			Canary:  routertest.ABTest(routertest.Header("x-canary", siskinv1.StringMatch{Regex: "^insider|tester$"})),
			Desired: canary.DesiredRoute{PrimaryWeight: 100},
		},
		routertest.HandBack("finalize"),
	}...))
}

// render is the YAML of the Ingresses, as stored, in name order.
func render(t *testing.T, cl client.Client) []byte {
	t.Helper()
	return routertest.YAML(t, cl, routertest.List(t, cl, &networkingv1.IngressList{})...)
}
