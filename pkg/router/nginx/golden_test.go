package nginx

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

// The Ingresses after Apply (and Finalize), as stored: the user's, unchanged, and the canary
// copy. Observe reads back the weights applied, converged.
func TestGoldenIngresses(t *testing.T) {
	fixture := routertest.Fixture{
		New: func(t *testing.T) (router.Router, client.Client) {
			r, cl, _ := newRouter(t)
			return r, cl
		},
		Canary: newCanary,
		Render: func(t *testing.T, cl client.Client) []byte {
			return routertest.YAML(t, cl, routertest.List(t, cl, &networkingv1.IngressList{})...)
		},
	}
	routertest.RunGolden(t, fixture, []routertest.Case{
		{Name: "weight-0", Desired: canary.DesiredRoute{PrimaryWeight: 100}},
		{Name: "weight-10", Desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}},
		{Name: "weight-50", Desired: canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}},
		{Name: "weight-100", Desired: canary.DesiredRoute{CanaryWeight: 100}},
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
		{Name: "finalize", Desired: canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}, Finalize: true},
	})
}
