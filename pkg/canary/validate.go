package canary

import (
	"errors"
	"fmt"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// ErrInvalidSpec marks a spec that no retry can fix: the Canary is Stalled until it changes.
var ErrInvalidSpec = errors.New("invalid canary spec")

// MinInterval is the shortest analysis interval Siskin accepts.
const MinInterval = 10 * time.Second

// Validate checks what the API server's schema cannot: rules that depend on the controller's
// defaults (the provider when spec.provider is empty). It returns an error wrapping
// ErrInvalidSpec that says what to change.
func Validate(spec *siskinv1.CanarySpec, defaultProvider string) error {
	provider := Provider(spec, defaultProvider)
	a := spec.Analysis
	if a == nil {
		return fmt.Errorf("%w: spec.analysis is required", ErrInvalidSpec)
	}
	if a.Interval != "" {
		d, err := time.ParseDuration(a.Interval)
		if err != nil {
			return fmt.Errorf("%w: analysis.interval %q: %w", ErrInvalidSpec, a.Interval, err)
		}
		if d < MinInterval {
			return fmt.Errorf("%w: analysis.interval %s is below the minimum of %s", ErrInvalidSpec, a.Interval, MinInterval)
		}
	}
	weighted := a.StepWeight > 0 || len(a.StepWeights) > 0
	switch {
	case provider == siskinv1.ProviderKubernetes && weighted:
		return fmt.Errorf("%w: provider kubernetes (the controller default) cannot shift traffic in steps: use analysis.iterations instead of stepWeight or stepWeights", ErrInvalidSpec)
	case provider == siskinv1.ProviderKubernetes && len(a.Match) > 0:
		return fmt.Errorf("%w: provider kubernetes (the controller default) cannot route by request: analysis.match needs istio or gatewayapi", ErrInvalidSpec)
	case isGatewayAPI(provider) && len(spec.Service.GatewayRefs) == 0:
		return fmt.Errorf("%w: provider %s needs service.gatewayRefs", ErrInvalidSpec, provider)
	case !spec.SkipAnalysis && !weighted && a.Iterations == 0 && provider != siskinv1.ProviderKubernetes:
		return fmt.Errorf("%w: analysis needs stepWeight or stepWeights (weighted canary) or iterations (blue/green, A/B testing)", ErrInvalidSpec)
	}
	return nil
}

// Provider is the router provider of a Canary: its own, or the controller's default.
// The Gateway API aliases all name the same router.
func Provider(spec *siskinv1.CanarySpec, defaultProvider string) string {
	p := spec.Provider
	if p == "" {
		p = defaultProvider
	}
	if isGatewayAPI(p) {
		return siskinv1.ProviderGatewayAPI
	}
	return p
}

func isGatewayAPI(p string) bool {
	return p == siskinv1.ProviderGatewayAPI || p == siskinv1.ProviderGatewayAPIV1 || p == siskinv1.ProviderGatewayAPIV1beta
}
