package canary

import (
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// Defaults of the Flagger model, applied when the API server's defaulting did not run (objects
// built in memory, or stored before a default existed).
const (
	defaultInterval             = 60 * time.Second
	defaultProgressDeadline     = 600 * time.Second
	defaultKubernetesIterations = 10
	fullWeight                  = 100
	// defaultErrorLimit is analysis.errorLimit's default: consecutive steps without a verdict.
	defaultErrorLimit = 5
	// maxSettle bounds settle: the moment after a change in which the waits it causes are
	// not written to the status (see settings.settle).
	maxSettle = 5 * time.Second
)

// settings are the spec values the planner uses, with defaults applied. They are computed
// afresh every round, so a spec edit takes effect at the next round.
type settings struct {
	provider     string
	interval     time.Duration
	threshold    int32
	errorLimit   int32
	deadline     time.Duration
	skipAnalysis bool
	strategy     strategy
	webhooks     []siskinv1.CanaryWebhook
	// compare is analysis.comparison, nil without one.
	compare *comparison
	// advise is analysis.advise, nil without one.
	advise *advise
	// settle is how long after a change (a step, a new revision, a promotion) the waits it
	// causes stay out of the status: the informers see the router's and the workloads' new
	// state, and the canary's pods start, usually within it, and recording a wait only to
	// record its end a moment later would cost two status writes per step for nothing. Half
	// the interval, at most maxSettle.
	settle time.Duration
}

func settingsFor(c *siskinv1.Canary, obs *Observation) settings {
	provider := obs.Provider
	if provider == "" {
		provider = c.Spec.Provider
	}
	provider = providers.Canonical(provider)
	s := settings{
		provider:     provider,
		interval:     defaultInterval,
		threshold:    1,
		errorLimit:   defaultErrorLimit,
		deadline:     defaultProgressDeadline,
		skipAnalysis: c.Spec.SkipAnalysis || c.Spec.Analysis == nil,
	}
	if d := c.Spec.ProgressDeadlineSeconds; d != nil && *d > 0 {
		s.deadline = time.Duration(*d) * time.Second
	}
	a := c.Spec.Analysis
	if a == nil {
		a = &siskinv1.CanaryAnalysis{}
	}
	if d, err := time.ParseDuration(a.Interval); err == nil && d > 0 {
		s.interval = max(d, MinInterval)
	}
	if a.Threshold > 0 {
		s.threshold = a.Threshold
	}
	if a.ErrorLimit > 0 {
		s.errorLimit = a.ErrorLimit
	}
	s.webhooks = a.Webhooks
	s.strategy = strategyFor(a, provider)
	s.compare = comparisonFor(a, s.interval, &s.strategy)
	s.strategy.baseline = s.compare != nil && s.compare.baseline
	s.advise = adviseFor(a)
	s.settle = min(maxSettle, s.interval/2)
	return s
}

// hookType is the type of a webhook, with the API default (rollout) applied.
func hookType(w *siskinv1.CanaryWebhook) siskinv1.WebhookType {
	if w.Type == "" {
		return siskinv1.RolloutHook
	}
	return w.Type
}

// hasHooks reports whether the spec has webhooks of type t.
func (s *settings) hasHooks(t siskinv1.WebhookType) bool {
	for i := range s.webhooks {
		if hookType(&s.webhooks[i]) == t {
			return true
		}
	}
	return false
}

// gateTimeout is the shortest gateTimeout among the webhooks of type t; 0 waits without limit.
func (s *settings) gateTimeout(t siskinv1.WebhookType) time.Duration {
	var shortest time.Duration
	for i := range s.webhooks {
		w := &s.webhooks[i]
		if hookType(w) != t || w.GateTimeout == "" {
			continue
		}
		if d, err := time.ParseDuration(w.GateTimeout); err == nil && d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	return shortest
}

// muted reports whether every webhook of type t asked not to announce its gate's waiting.
func (s *settings) muted(t siskinv1.WebhookType) bool {
	found := false
	for i := range s.webhooks {
		w := &s.webhooks[i]
		if hookType(w) != t {
			continue
		}
		if !w.MuteAlert {
			return false
		}
		found = true
	}
	return found
}
