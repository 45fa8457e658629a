package providers

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Provider gatewayapi owns every route kind spec.service.routeKind may ask for, so that the
// controller watches them.
func TestGatewayAPIOwnsGRPCAndTCPRoutes(t *testing.T) {
	p, _ := Lookup(siskinv1.ProviderGatewayAPIEnvoy)
	if !slices.Equal(p.Owns, []schema.GroupVersionKind{HTTPRoute, GRPCRoute, TCPRoute}) {
		t.Errorf("gatewayapi owns %v", p.Owns)
	}
	if GRPCRoute.GroupVersion().String() != "gateway.networking.k8s.io/v1" || TCPRoute.GroupVersion().String() != "gateway.networking.k8s.io/v1" {
		t.Errorf("GRPCRoute %s, TCPRoute %s: want gateway.networking.k8s.io/v1", GRPCRoute.GroupVersion(), TCPRoute.GroupVersion())
	}
}
