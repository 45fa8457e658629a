package providers

import (
	"slices"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestLookupByNameAndAlias(t *testing.T) {
	for name, want := range map[string]string{
		"istio": "istio", "gatewayapi": "gatewayapi", "gatewayapi:v1": "gatewayapi", "gatewayapi:v1beta1": "gatewayapi",
		"kubernetes": "kubernetes", "replicas": "replicas", "nginx": "nginx",
	} {
		p, ok := Lookup(name)
		if !ok || p.Name != want || Canonical(name) != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", name, p.Name, ok, want)
		}
	}
	for _, name := range []string{"", "linkerd", "gatewayapi:v2", "Istio"} {
		if _, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) found a provider", name)
		}
		if Canonical(name) != name {
			t.Errorf("Canonical(%q) = %q", name, Canonical(name))
		}
	}
}

func TestNamesForMessages(t *testing.T) {
	if got, want := Names(false), "istio, gatewayapi (or gatewayapi:v1, gatewayapi:v1beta1), nginx, contour, kubernetes or replicas"; got != want {
		t.Errorf("Names(false) = %q, want %q", got, want)
	}
	if got := Names(true); strings.Contains(got, "replicas") {
		t.Errorf("Names(true) = %q: replicas may not be the controller's default", got)
	}
}

// Every provider the API's enum accepts as Siskin's is here, and every one here is in the
// enum, with no name twice.
func TestEveryProviderIsRegisteredOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range All {
		for _, n := range append([]string{p.Name}, p.Aliases...) {
			if seen[n] {
				t.Errorf("%s is registered twice", n)
			}
			seen[n] = true
			if slices.Contains(siskinv1.FlaggerOnlyProviders, n) {
				t.Errorf("%s is both Siskin's and a Flagger router Siskin lacks", n)
			}
		}
	}
	for _, n := range []string{siskinv1.ProviderIstio, siskinv1.ProviderGatewayAPI, siskinv1.ProviderGatewayAPIV1,
		siskinv1.ProviderGatewayAPIV1beta, siskinv1.ProviderNginx, siskinv1.ProviderKubernetes, siskinv1.ProviderReplicas} {
		if !seen[n] {
			t.Errorf("%s is not registered", n)
		}
	}
}

// Provider nginx says what ingress-nginx's canary annotations can do: weights, and a header or
// cookie for A/B testing, but no baseline and no compared counts; it routes Ingresses.
func TestNginxCapabilities(t *testing.T) {
	p, ok := Lookup(siskinv1.ProviderNginx)
	if !ok {
		t.Fatal("nginx is not registered")
	}
	if !p.Weights || !p.Matches || p.Baseline || !p.Services || p.GatewayRefs || p.Compare || !p.Default || !p.CanaryIngress {
		t.Errorf("nginx capabilities = %+v", p)
	}
	if p.Queries != "nginx" || p.Route != "Ingress" || len(p.Owns) != 1 || p.Owns[0] != Ingress {
		t.Errorf("nginx queries %q, route %q, owns %v", p.Queries, p.Route, p.Owns)
	}
}
