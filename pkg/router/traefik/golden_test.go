package traefik

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

// The TraefikService after Apply (and Finalize), as stored. Observe reads back the weights and
// the mirror applied, converged.
func TestGoldenTraefikServices(t *testing.T) {
	fixture := routertest.Fixture{
		New: func(t *testing.T) (router.Router, client.Client) {
			r, cl, _ := newRouter(t)
			return r, cl
		},
		Canary: newCanary,
		Render: render,
	}
	routertest.RunGolden(t, fixture, []routertest.Case{
		{Name: "weight-0", Desired: canary.DesiredRoute{PrimaryWeight: 100}},
		{Name: "weight-10", Desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}},
		{Name: "weight-50", Desired: canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}},
		{Name: "weight-100", Desired: canary.DesiredRoute{CanaryWeight: 100}},
		{Name: "mirror", Canary: mirrored(0), Desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true}},
		{Name: "mirror-weight-30", Canary: mirrored(30), Desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true, MirrorWeight: 30}},
		{
			Name:    "service-name",
			Canary:  func(c *siskinv1.Canary) { c.Spec.Service.Name = "frontend"; c.Spec.Service.Port = 80 },
			Desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10},
		},
		{Name: "finalize", Desired: canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}, Finalize: true},
	})
}

// render is the YAML of the TraefikServices, as stored, in name order.
func render(t *testing.T, cl client.Client) []byte {
	t.Helper()
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(GVK.GroupVersion().WithKind(kindTraefikService + "List"))
	return routertest.YAML(t, cl, routertest.List(t, cl, list)...)
}
