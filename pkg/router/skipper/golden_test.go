package skipper

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
		{Name: "finalize", Desired: canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}, Finalize: true},
	})
}
