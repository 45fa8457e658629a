package providers

import (
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Provider traefik says what a TraefikService can do: weights and a mirror, but no matches, no
// baseline and no compared counts; it owns TraefikServices.
func TestTraefikCapabilities(t *testing.T) {
	p, ok := Lookup(siskinv1.ProviderTraefik)
	if !ok {
		t.Fatal("traefik is not registered")
	}
	if !p.Weights || p.Matches || !p.Mirror || p.Baseline || !p.Services || p.GatewayRefs || p.Compare || !p.Default || p.CanaryIngress || p.Pods {
		t.Errorf("traefik capabilities = %+v", p)
	}
	if p.Queries != "traefik" || p.Route != "TraefikService" || len(p.Owns) != 1 || p.Owns[0] != TraefikService {
		t.Errorf("traefik queries %q, route %q, owns %v", p.Queries, p.Route, p.Owns)
	}
	if TraefikService.Group != "traefik.io" || TraefikService.Version != "v1alpha1" {
		t.Errorf("TraefikService is %v", TraefikService)
	}
}
