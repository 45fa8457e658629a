package canary

import (
	"errors"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func gatewayRef(c *siskinv1.Canary) {
	c.Spec.Service.GatewayRefs = []siskinv1.ParentReference{{Name: "public"}}
}

// An implementation without per-backend metrics refuses the built-in ones by name and says what
// to write; the same Canary with its own queries, or with an implementation that has them, runs.
func TestValidateImplementationMetrics(t *testing.T) {
	for _, tc := range []struct {
		name, provider, want string
		edit                 func(*siskinv1.Canary)
	}{
		{"envoy gateway refuses the built-in success rate", siskinv1.ProviderGatewayAPIEnvoy,
			"analysis.metrics[0] request-success-rate: provider gatewayapi:envoy has no built-in metrics: Envoy Gateway puts every backendRef", nil},
		{"nginx gateway fabric refuses the built-in duration", siskinv1.ProviderGatewayAPINginx,
			"analysis.metrics[0] request-duration: provider gatewayapi:nginx has no built-in metrics: NGINX Gateway Fabric",
			func(c *siskinv1.Canary) { c.Spec.Analysis.Metrics[0].Name = siskinv1.MetricRequestDuration }},
		{"kong refuses a built-in comparison", siskinv1.ProviderGatewayAPIKong,
			"analysis.comparison.metrics[0] request-success-rate: provider gatewayapi:kong has no built-in metrics",
			func(c *siskinv1.Canary) {
				c.Spec.Analysis.Metrics = nil
				c.Spec.Analysis.Comparison = &siskinv1.CanaryComparison{Metrics: []siskinv1.ComparedMetric{{Name: siskinv1.MetricRequestSuccessRate, RequestsQuery: "r"}}}
			}},
		{"cilium refuses", siskinv1.ProviderGatewayAPICilium, "hubble_http_requests_total", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			c.Spec.Provider = tc.provider
			gatewayRef(c)
			if tc.edit != nil {
				tc.edit(c)
			}
			err := Validate(&c.Spec, "")
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "MetricTemplate") {
				t.Fatalf("Validate = %v, want an invalid spec saying %q and naming a MetricTemplate", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, provider string
		edit           func(*siskinv1.Canary)
	}{
		{"envoy gateway with a MetricTemplate", siskinv1.ProviderGatewayAPIEnvoy, func(c *siskinv1.Canary) {
			c.Spec.Analysis.Metrics[0].TemplateRef = &siskinv1.CrossNamespaceObjectReference{Name: "route-success-rate"}
		}},
		{"envoy gateway with a query", siskinv1.ProviderGatewayAPIEnvoy, func(c *siskinv1.Canary) { c.Spec.Analysis.Metrics[0].Query = "vector(100)" }},
		{"contour with built-in metrics", siskinv1.ProviderGatewayAPIContour, nil},
		{"traefik with built-in metrics", siskinv1.ProviderGatewayAPITraefik, nil},
		{"linkerd through a Gateway with built-in metrics", siskinv1.ProviderGatewayAPILinkerd, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			c.Spec.Provider = tc.provider
			gatewayRef(c)
			if tc.edit != nil {
				tc.edit(c)
			}
			if err := Validate(&c.Spec, ""); err != nil {
				t.Fatalf("Validate = %v", err)
			}
		})
	}
}

// Provider linkerd needs no Gateway, refuses one (its parent is the apex Service) and refuses
// mirroring; the controller's default linkerd counts like spec.provider linkerd.
func TestValidateLinkerd(t *testing.T) {
	c := newCanary()
	c.Spec.Provider = siskinv1.ProviderLinkerd
	if err := Validate(&c.Spec, ""); err != nil {
		t.Fatalf("linkerd without gatewayRefs: %v", err)
	}
	gatewayRef(c)
	if err := Validate(&c.Spec, ""); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "parent is the apex Service podinfo, with no Gateway: delete spec.service.gatewayRefs") {
		t.Errorf("linkerd with gatewayRefs: %v", err)
	}
	c = newCanary()
	c.Spec.Provider = ""
	c.Spec.Analysis.Mirror = true
	if err := Validate(&c.Spec, siskinv1.ProviderLinkerd); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "provider linkerd cannot mirror") {
		t.Errorf("default linkerd mirroring: %v", err)
	}
	if got := ProviderName(&c.Spec, siskinv1.ProviderGatewayAPIContour); got != siskinv1.ProviderGatewayAPIContour {
		t.Errorf("ProviderName = %q", got)
	}
	if got := Provider(&c.Spec, siskinv1.ProviderGatewayAPIContour); got != siskinv1.ProviderGatewayAPI {
		t.Errorf("Provider = %q", got)
	}
}
