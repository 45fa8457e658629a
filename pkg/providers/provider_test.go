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
		"kubernetes": "kubernetes", "replicas": "replicas", "nginx": "nginx", "linkerd": "linkerd",
		"gatewayapi:envoy": "gatewayapi", "gatewayapi:linkerd": "gatewayapi", "gatewayapi:traefik": "gatewayapi",
	} {
		p, ok := Lookup(name)
		if !ok || p.Name != want || Canonical(name) != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", name, p.Name, ok, want)
		}
	}
	for _, name := range []string{"", "kuma", "gatewayapi:v2", "gatewayapi:istio", "Istio"} {
		if _, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) found a provider", name)
		}
		if Canonical(name) != name {
			t.Errorf("Canonical(%q) = %q", name, Canonical(name))
		}
	}
}

func TestNamesForMessages(t *testing.T) {
	got := Names(false)
	for _, want := range []string{
		"istio, gatewayapi (or gatewayapi:v1, gatewayapi:v1beta1, gatewayapi:envoy, gatewayapi:linkerd, gatewayapi:cilium, gatewayapi:kong, gatewayapi:nginx, gatewayapi:contour, gatewayapi:traefik), linkerd, nginx, ",
		"kubernetes or replicas",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Names(false) = %q, want it to contain %q", got, want)
		}
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
		names := append([]string{p.Name}, p.Aliases...)
		for _, i := range p.Implementations {
			names = append(names, i.Name)
		}
		for _, n := range names {
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
		siskinv1.ProviderGatewayAPIV1beta, siskinv1.ProviderNginx, siskinv1.ProviderKubernetes, siskinv1.ProviderReplicas, siskinv1.ProviderLinkerd,
		siskinv1.ProviderGatewayAPIEnvoy, siskinv1.ProviderGatewayAPILinkerd, siskinv1.ProviderGatewayAPICilium, siskinv1.ProviderGatewayAPIKong,
		siskinv1.ProviderGatewayAPINginx, siskinv1.ProviderGatewayAPIContour, siskinv1.ProviderGatewayAPITraefik} {
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

// An implementation's alias routes as gatewayapi does but has its own built-in queries; the
// version aliases keep gatewayapi's (Istio's), and provider linkerd shares Linkerd's.
func TestMetricsOfTheExactName(t *testing.T) {
	for name, want := range map[string]Metrics{
		"gatewayapi":         {Queries: "gatewayapi", Compare: true},
		"gatewayapi:v1":      {Queries: "gatewayapi", Compare: true},
		"gatewayapi:v1beta1": {Queries: "gatewayapi", Compare: true},
		"gatewayapi:linkerd": {Queries: "linkerd", Compare: true},
		"linkerd":            {Queries: "linkerd", Compare: true},
		"gatewayapi:contour": {Queries: "gatewayapi-contour"},
		"gatewayapi:traefik": {Queries: "gatewayapi-traefik"},
		"kuma":               {},
	} {
		if got := MetricsOf(name); got != want {
			t.Errorf("MetricsOf(%q) = %+v, want %+v", name, got, want)
		}
	}
	for _, name := range []string{"gatewayapi:envoy", "gatewayapi:cilium", "gatewayapi:kong", "gatewayapi:nginx"} {
		m := MetricsOf(name)
		if m.Queries != "" || !strings.Contains(m.Refusal, "MetricTemplate") {
			t.Errorf("MetricsOf(%q) = %+v, want a refusal naming a MetricTemplate", name, m)
		}
	}
}

// Provider linkerd routes an HTTPRoute like gatewayapi but needs no Gateway.
func TestLinkerdCapabilities(t *testing.T) {
	p, ok := Lookup(siskinv1.ProviderLinkerd)
	if !ok {
		t.Fatal("linkerd is not registered")
	}
	if !p.Weights || !p.Matches || !p.Baseline || !p.Services || p.GatewayRefs || !p.Default || p.CanaryIngress {
		t.Errorf("linkerd capabilities = %+v", p)
	}
	if p.Route != "HTTPRoute" || len(p.Owns) != 1 || p.Owns[0] != HTTPRoute {
		t.Errorf("linkerd route %q, owns %v", p.Route, p.Owns)
	}
}
