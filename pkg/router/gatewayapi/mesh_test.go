package gatewayapi

import (
	"context"
	"testing"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

// newLinkerdCanary is newCanary with provider linkerd: no Gateway, a Service named web (so the
// apex Service differs from the target) and an additional port.
func newLinkerdCanary() *siskinv1.Canary {
	return newCanary(func(c *siskinv1.Canary) {
		c.Spec.Provider = siskinv1.ProviderLinkerd
		c.Spec.Service.Name = "web"
		c.Spec.Service.GatewayRefs = nil
		c.Spec.Service.Hosts = []string{"web.example.com"} // a mesh route has no hostnames
		c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "admin", Port: 8080, AppProtocol: "http"}}
	})
}

// With NewMesh each HTTPRoute's only parent is the apex Service on the route's port (group "",
// kind Service), it has no hostnames, and it carries the weights like a Gateway's route; it
// converges when that parent accepts it, and is handed back to the apex Service.
func TestMeshRoutesAttachToTheApexService(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newRouter(t)
	r := NewMesh(cl, cl)
	c := newLinkerdCanary()
	desired := canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30}
	if err := r.Apply(ctx, c, desired); err != nil {
		t.Fatal(err)
	}
	routertest.Golden(t, "mesh-70-30", render(t, cl))
	for _, rt := range listHTTPRoutes(t, cl) {
		port := int32(9898)
		if rt.Name == "web-admin" {
			port = 8080
		}
		want := gatewayv1.ParentReference{Group: ptr.To(gatewayv1.Group("")), Kind: ptr.To(gatewayv1.Kind("Service")), Name: "web", Port: ptr.To(port)}
		if len(rt.Spec.ParentRefs) != 1 || !sameParent(ns, rt.Spec.ParentRefs[0], want) || len(rt.Spec.Hostnames) != 0 {
			t.Errorf("HTTPRoute %s parents %+v, hostnames %v; want only Service web:%d", rt.Name, rt.Spec.ParentRefs, rt.Spec.Hostnames, port)
		}
	}

	route, err := r.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if route.Converged || route.Message == "" {
		t.Errorf("Observe before the Service parent accepted = %+v, want not converged with a reason", route)
	}
	acceptEvery(t, cl)
	route, err = r.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if want := (canary.Route{Converged: true, PrimaryWeight: 70, CanaryWeight: 30}); route != want {
		t.Errorf("Observe after accept = %+v, want %+v", route, want)
	}

	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	routertest.Golden(t, "mesh-hand-back", render(t, cl))
}

// The Gateway router of the same Canary attaches to its Gateways, not to the Service: the
// parent depends on the router, not on the spec.
func TestGatewayRouterKeepsGatewayParents(t *testing.T) {
	ctx := context.Background()
	r, cl, _ := newRouter(t)
	c := newCanary()
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	rt := getHTTPRoute(t, cl)
	if len(rt.Spec.ParentRefs) != 1 || ptr.Deref(rt.Spec.ParentRefs[0].Kind, "") != "Gateway" || rt.Spec.ParentRefs[0].Name != "public" {
		t.Errorf("parents = %+v, want Gateway public", rt.Spec.ParentRefs)
	}
}
