package canary

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// ErrInvalidSpec marks a spec that no retry can fix: the Canary is Stalled until it changes.
var ErrInvalidSpec = errors.New("invalid canary spec")

// MinInterval is the shortest analysis interval: a shorter one is raised to it, as in Flagger.
const MinInterval = 10 * time.Second

// Validate checks what the API server's schema cannot: rules that depend on the controller's
// defaults (the provider when spec.provider is empty), and Flagger values the schema accepts so
// that a Flagger manifest is not refused as a whole but that Siskin cannot run (the providers
// of routers it lacks). It returns an error wrapping ErrInvalidSpec that says what to write.
func Validate(spec *siskinv1.CanarySpec, defaultProvider string) error {
	provider := Provider(spec, defaultProvider)
	info, known := providers.Lookup(provider)
	if spec.CanaryAnalysis != nil {
		return fmt.Errorf("%w: spec.canaryAnalysis is the deprecated name of spec.analysis: rename canaryAnalysis to analysis, or delete it when analysis is also set", ErrInvalidSpec)
	}
	switch {
	case spec.TargetRef.Kind == "StatefulSet" && provider != siskinv1.ProviderReplicas:
		return fmt.Errorf("%w: a StatefulSet is updated in place, pod by pod, and its traffic follows its pods: provider %s cannot route between its revisions; set spec.provider to replicas or leave it out", ErrInvalidSpec, provider)
	case isFlaggerOnlyProvider(provider):
		return fmt.Errorf("%w: provider %s is a Flagger router that Siskin does not have: set spec.provider to %s", ErrInvalidSpec, provider, SupportedProviders)
	case provider != "" && !known:
		return fmt.Errorf("%w: provider %q is not supported: set spec.provider to %s", ErrInvalidSpec, provider, SupportedProviders)
	case info.GatewayRefs && len(spec.Service.GatewayRefs) == 0:
		return fmt.Errorf("%w: provider %s needs service.gatewayRefs", ErrInvalidSpec, provider)
	case info.IngressRef && (spec.IngressRef == nil || spec.IngressRef.Name == ""):
		return fmt.Errorf("%w: provider %s needs spec.ingressRef: the Ingress that routes to the apex Service", ErrInvalidSpec, provider)
	case info.Pods:
		if err := validateShare(spec); err != nil {
			return err
		}
	case spec.TargetRef.Kind == "DaemonSet":
		// A DaemonSet runs one pod a node: nothing scales it, and no third copy can be sized
		// like the canary beside the primary.
		if spec.AutoscalerRef != nil {
			return fmt.Errorf("%w: a DaemonSet target runs one pod a node and takes no autoscalerRef: delete spec.autoscalerRef", ErrInvalidSpec)
		}
		if a := spec.Analysis; a != nil && a.Comparison != nil && a.Comparison.Control == siskinv1.ControlBaseline {
			return fmt.Errorf("%w: analysis.comparison.control baseline needs a Deployment target; a DaemonSet target has no baseline: compare with control primary", ErrInvalidSpec)
		}
	}
	if err := validateImplementation(spec, ProviderName(spec, defaultProvider)); err != nil {
		return err
	}
	if err := validateRouteKind(spec, ProviderName(spec, defaultProvider)); err != nil {
		return err
	}
	if provider == siskinv1.ProviderContour {
		if err := validateContour(spec); err != nil {
			return err
		}
	}
	if info.CanaryIngress {
		if err := validateCanaryIngress(spec, provider); err != nil {
			return err
		}
	}
	a := spec.Analysis
	if a == nil {
		return nil // no analysis: new revisions are promoted without one, as in Flagger
	}
	if a.Interval != "" {
		if _, err := time.ParseDuration(a.Interval); err != nil {
			return fmt.Errorf("%w: analysis.interval %q: %w", ErrInvalidSpec, a.Interval, err)
		}
	}
	if known && !info.Weights {
		if c := a.Comparison; c != nil && c.Control == siskinv1.ControlBaseline {
			return fmt.Errorf("%w: analysis.comparison.control baseline needs a router that splits traffic three ways (%s); provider %s sends every user to the primary: compare with control primary", ErrInvalidSpec, providers.Baselines(), provider)
		}
		return nil // always blue/green, whatever the analysis says (see adjustments)
	}
	if known && !info.Matches {
		if err := validateNoMatches(a, info); err != nil {
			return err
		}
	}
	weighted := a.StepWeight > 0 || len(a.StepWeights) > 0
	switch {
	case len(a.Match) > 0 && a.Iterations == 0:
		return fmt.Errorf("%w: analysis.match (A/B testing) needs analysis.iterations: the number of analysis runs before promotion", ErrInvalidSpec)
	case !spec.SkipAnalysis && !weighted && a.Iterations == 0:
		return fmt.Errorf("%w: analysis needs stepWeight or stepWeights (weighted canary) or iterations (blue/green, A/B testing)", ErrInvalidSpec)
	}
	return nil
}

// validateNoMatches refuses what a router that splits traffic but cannot match requests
// (provider traefik: matching is the user's IngressRoute's) is asked to route by request:
// analysis.match, session affinity, a mirror unless it can mirror, and a third backend unless
// it can route one.
func validateNoMatches(a *siskinv1.CanaryAnalysis, info providers.Info) error {
	switch {
	case len(a.Match) > 0:
		return fmt.Errorf("%w: provider %s cannot route by header or cookie (A/B testing): its %s matches no requests (the user's routes that match requests are not Siskin's to change); delete analysis.match, or use a provider that matches requests", ErrInvalidSpec, info.Name, info.Route)
	case a.SessionAffinity != nil:
		return fmt.Errorf("%w: provider %s cannot pin sessions to the canary: its route matches no cookies; delete analysis.sessionAffinity", ErrInvalidSpec, info.Name)
	case a.Mirror && !info.Mirror:
		return fmt.Errorf("%w: provider %s cannot mirror traffic: delete analysis.mirror", ErrInvalidSpec, info.Name)
	case a.Comparison != nil && a.Comparison.Control == siskinv1.ControlBaseline && !info.Baseline:
		return fmt.Errorf("%w: analysis.comparison.control baseline needs a router that splits traffic three ways (%s); provider %s routes the primary and the canary: compare with control primary", ErrInvalidSpec, providers.Baselines(), info.Name)
	}
	return nil
}

// validateShare refuses what provider replicas cannot do: it moves pods, not requests, so
// nothing can be routed by header, mirrored or split three ways, and the canary's share is only
// ever a weighted schedule.
func validateShare(spec *siskinv1.CanarySpec) error {
	kind := spec.TargetRef.Kind
	if kind == "" {
		kind = "Deployment"
	}
	if kind == "DaemonSet" {
		return fmt.Errorf("%w: a DaemonSet runs one pod a node and cannot give its canary a share of pods: use a router provider (istio, gatewayapi, kubernetes)", ErrInvalidSpec)
	}
	if kind == "StatefulSet" && spec.AutoscalerRef != nil {
		return fmt.Errorf("%w: a StatefulSet target is rolled out in place and keeps its own autoscaler: delete spec.autoscalerRef", ErrInvalidSpec)
	}
	if ref := spec.AutoscalerRef; ref != nil && ref.Kind == "HorizontalPodAutoscaler" {
		return fmt.Errorf("%w: a worker canary runs a share of the primary's replicas, and an HPA on the target would scale it past that share: use a KEDA ScaledObject (Siskin holds it at the share during the analysis) or no autoscalerRef", ErrInvalidSpec)
	}
	what := "provider replicas"
	if kind == "StatefulSet" {
		what = "a StatefulSet target"
	}
	if !reflect.ValueOf(spec.Service).IsZero() {
		return fmt.Errorf("%w: %s generates no Services and no routes (the pods' own Services keep serving): delete spec.service", ErrInvalidSpec, what)
	}
	a := spec.Analysis
	if a == nil {
		return nil
	}
	switch {
	case a.SessionAffinity != nil:
		return fmt.Errorf("%w: %s shares pods, not requests, and cannot pin sessions to the canary: delete analysis.sessionAffinity", ErrInvalidSpec, what)
	case len(a.Match) > 0:
		return fmt.Errorf("%w: %s shares pods, not requests, and cannot route by header or cookie: delete analysis.match", ErrInvalidSpec, what)
	case a.Mirror:
		return fmt.Errorf("%w: %s shares pods, not requests, and cannot mirror traffic: delete analysis.mirror", ErrInvalidSpec, what)
	case a.Comparison != nil:
		return fmt.Errorf("%w: %s runs both versions behind the same workload, so the compared metrics cannot count each version apart: delete analysis.comparison and use metrics that select {{ canaryPods }}", ErrInvalidSpec, what)
	case !spec.SkipAnalysis && a.StepWeight <= 0 && len(a.StepWeights) == 0:
		return fmt.Errorf("%w: %s gives the canary a share of the pods step by step: set analysis.stepWeight or analysis.stepWeights (iterations alone is blue/green, which needs a router)", ErrInvalidSpec, what)
	}
	return nil
}

// validateCanaryIngress refuses what ingress-nginx's canary annotations cannot route (provider
// nginx): its router copies spec.ingressRef, routes one header and one cookie by name for A/B
// testing, and has no mirror, session cookies or third backend.
func validateCanaryIngress(spec *siskinv1.CanarySpec, provider string) error {
	if spec.IngressRef == nil || spec.IngressRef.Name == "" {
		return fmt.Errorf("%w: provider %s needs spec.ingressRef: the Ingress that routes to the apex Service", ErrInvalidSpec, provider)
	}
	a := spec.Analysis
	if a == nil {
		return nil
	}
	switch {
	case a.Mirror:
		return fmt.Errorf("%w: provider %s cannot mirror traffic (ingress-nginx canaries do not): delete analysis.mirror", ErrInvalidSpec, provider)
	case a.SessionAffinity != nil:
		return fmt.Errorf("%w: provider %s cannot pin sessions to the canary: delete analysis.sessionAffinity", ErrInvalidSpec, provider)
	case a.Comparison != nil && a.Comparison.Control == siskinv1.ControlBaseline:
		return fmt.Errorf("%w: analysis.comparison.control baseline needs a router that splits traffic three ways (%s); provider %s routes one canary Ingress: compare with control primary", ErrInvalidSpec, providers.Baselines(), provider)
	}
	var headers, cookies int
	for i, m := range a.Match {
		one := len(m.Headers) == 1 && m.URI == nil && m.Scheme == nil && m.Method == nil && m.Authority == nil &&
			m.Port == 0 && len(m.SourceLabels) == 0 && m.SourceNamespace == "" && len(m.Gateways) == 0 &&
			len(m.QueryParams) == 0 && !m.IgnoreURICase && len(m.WithoutHeaders) == 0
		if !one {
			return fmt.Errorf("%w: analysis.match[%d]: provider %s matches one header or one cookie per match, and nothing else", ErrInvalidSpec, i, provider)
		}
		for name, v := range m.Headers {
			if !strings.EqualFold(name, "cookie") {
				headers++
				continue
			}
			cookies++
			if v.Exact == "" {
				return fmt.Errorf("%w: analysis.match[%d]: provider %s matches a cookie by its name, with cookie: {exact: <cookie name>}; requests whose cookie of that name is \"always\" go to the canary", ErrInvalidSpec, i, provider)
			}
		}
	}
	if headers > 1 || cookies > 1 {
		return fmt.Errorf("%w: analysis.match: provider %s routes at most one header and one cookie (ingress-nginx's canary-by-header and canary-by-cookie)", ErrInvalidSpec, provider)
	}
	return nil
}

// Provider is the router provider of a Canary: its own, or the controller's default (for a
// StatefulSet target, replicas). The Gateway API aliases all name the same router.
func Provider(spec *siskinv1.CanarySpec, defaultProvider string) string {
	return providers.Canonical(ProviderName(spec, defaultProvider))
}
