package providers

import (
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Provider contour says what an HTTPProxy can do: weights, matches, mirroring and a third
// service, built-in queries without compared metrics; it routes and owns HTTPProxies.
func TestContourCapabilities(t *testing.T) {
	p, ok := Lookup(siskinv1.ProviderContour)
	if !ok {
		t.Fatal("contour is not registered")
	}
	if !p.Weights || !p.Matches || !p.Baseline || !p.Services || p.GatewayRefs || p.Compare || !p.Default || p.CanaryIngress || p.Pods {
		t.Errorf("contour capabilities = %+v", p)
	}
	if p.Queries != "contour" || p.Route != "HTTPProxy" || len(p.Owns) != 1 || p.Owns[0] != HTTPProxy {
		t.Errorf("contour queries %q, route %q, owns %v", p.Queries, p.Route, p.Owns)
	}
	if HTTPProxy.Group != "projectcontour.io" || HTTPProxy.Version != "v1" || HTTPProxy.Kind != "HTTPProxy" {
		t.Errorf("HTTPProxy = %v", HTTPProxy)
	}
}
