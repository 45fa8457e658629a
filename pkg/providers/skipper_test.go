package providers

import (
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Provider skipper says what Skipper's backend weights can do: weights only (no matches,
// mirror or baseline, so that validation refuses them), through a copy of spec.ingressRef; it
// owns Ingresses, as nginx does.
func TestSkipperCapabilities(t *testing.T) {
	p, ok := Lookup(siskinv1.ProviderSkipper)
	if !ok {
		t.Fatal("skipper is not registered")
	}
	if !p.Weights || p.Matches || p.Mirror || p.Baseline || !p.Services || p.GatewayRefs || p.Compare || !p.Default || p.CanaryIngress || !p.IngressRef || p.Pods {
		t.Errorf("skipper capabilities = %+v", p)
	}
	if p.Queries != "skipper" || p.Route != "Ingress" || len(p.Owns) != 1 || p.Owns[0] != Ingress {
		t.Errorf("skipper queries %q, route %q, owns %v", p.Queries, p.Route, p.Owns)
	}
	if n, ok := Lookup(siskinv1.ProviderNginx); !ok || !n.IngressRef {
		t.Errorf("nginx does not need spec.ingressRef: %+v", n)
	}
}
