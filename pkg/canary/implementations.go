package canary

import (
	"fmt"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// ProviderName is the provider name of a Canary as written (spec.provider, or the controller's
// default; replicas for a StatefulSet), before aliases are resolved: the metrics read the
// built-in queries of this exact name (gatewayapi:contour), while Provider names the router.
func ProviderName(spec *siskinv1.CanarySpec, defaultProvider string) string {
	p := spec.Provider
	if p == "" && spec.TargetRef.Kind == "StatefulSet" {
		p = siskinv1.ProviderReplicas
	}
	if p == "" {
		p = defaultProvider
	}
	return p
}

// validateImplementation refuses what the provider name a Canary uses cannot do: built-in
// metrics of a Gateway API implementation that has none, and, with provider linkerd, Gateways
// and mirroring (its route's parent is the apex Service, and Linkerd's proxies apply no
// RequestMirror filter).
func validateImplementation(spec *siskinv1.CanarySpec, name string) error {
	if providers.Canonical(name) == siskinv1.ProviderLinkerd {
		if len(spec.Service.GatewayRefs) > 0 {
			return fmt.Errorf("%w: provider linkerd routes meshed clients by an HTTPRoute whose parent is the apex Service %s, with no Gateway: delete spec.service.gatewayRefs, or use provider gatewayapi:linkerd to route through Gateways", ErrInvalidSpec, apexName(spec))
		}
		if a := spec.Analysis; a != nil && a.Mirror {
			return fmt.Errorf("%w: provider linkerd cannot mirror requests (Linkerd applies no RequestMirror filter): delete analysis.mirror", ErrInvalidSpec)
		}
	}
	m := providers.MetricsOf(name)
	if m.Refusal == "" || spec.Analysis == nil {
		return nil
	}
	for i, metric := range spec.Analysis.Metrics {
		builtin := metric.Name == siskinv1.MetricRequestSuccessRate || metric.Name == siskinv1.MetricRequestDuration
		if builtin && metric.TemplateRef == nil && metric.Query == "" {
			return fmt.Errorf("%w: analysis.metrics[%d] %s: provider %s has no built-in metrics: %s", ErrInvalidSpec, i, metric.Name, name, m.Refusal)
		}
	}
	if c := spec.Analysis.Comparison; c != nil {
		for i, metric := range c.Metrics {
			rate := metric.Name == siskinv1.MetricRequestSuccessRate && (metric.RequestsQuery == "" || metric.EventsQuery == "")
			if rate || metric.Name == siskinv1.MetricRequestDuration && metric.BucketsQuery == "" {
				return fmt.Errorf("%w: analysis.comparison.metrics[%d] %s: provider %s has no built-in metrics: %s", ErrInvalidSpec, i, metric.Name, name, m.Refusal)
			}
		}
	}
	return nil
}

// apexName is the apex Service's name, for messages.
func apexName(spec *siskinv1.CanarySpec) string {
	if spec.Service.Name != "" {
		return spec.Service.Name
	}
	return spec.TargetRef.Name
}
