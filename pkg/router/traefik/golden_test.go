package traefik

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

// The TraefikService after Apply (and Finalize), as stored. Observe reads back the weights and
// the mirror applied, converged.
func TestGoldenTraefikServices(t *testing.T) {
	routertest.RunGolden(t, routertest.FixtureOf(newRouter, newCanary, render), append(routertest.Steps(), []routertest.Case{
		{Name: "mirror", Canary: mirrored(0), Desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true}},
		{Name: "mirror-weight-30", Canary: mirrored(30), Desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true, MirrorWeight: 30}},
		{
			Name:    "service-name",
			Canary:  func(c *siskinv1.Canary) { c.Spec.Service.Name = "frontend"; c.Spec.Service.Port = 80 },
			Desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10},
		},
		routertest.HandBack("finalize"),
	}...))
}

// render is the YAML of the TraefikServices, as stored, in name order.
func render(t *testing.T, cl client.Client) []byte {
	t.Helper()
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(GVK.GroupVersion().WithKind(kindTraefikService + "List"))
	return routertest.YAML(t, cl, routertest.List(t, cl, list)...)
}
