package dashboard

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// Step is one analysis step of the schedule the controller's planner follows for the spec.
type Step struct {
	// Label is what the step leads to: the next canary weight, "promote", or "iteration k"
	// when the weight stays.
	Label string `json:"label"`
	// Weight is the canary's share of traffic while the step's checks run; Next after them.
	Weight int32 `json:"weight"`
	Next   int32 `json:"next"`
	// At is when the step runs, from the moment the controller sees the new revision, if
	// nothing waits (readiness, gates).
	At string `json:"at"`
	// Checks and Gates are the metrics and webhooks checked, and the gates asked, at the step.
	Checks []string `json:"checks,omitempty"`
	Gates  []string `json:"gates,omitempty"`
}

// schedules caches each Canary's schedule per generation: the planner simulates a whole
// rollout to compute it.
type schedules struct {
	mu    sync.Mutex
	cache map[types.UID]cachedSchedule
}

type cachedSchedule struct {
	generation int64
	steps      []Step
	err        error
}

// of returns the schedule of Canary c, from canary.PlanSchedule (the controller's own Plan run
// on a simulated clock), for the router provider resolved with defaultProvider.
func (s *schedules) of(c *siskinv1.Canary, defaultProvider string) ([]Step, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.cache[c.UID]; ok && e.generation == c.Generation {
		return e.steps, e.err
	}
	steps, err := planSteps(c, defaultProvider)
	if s.cache == nil || len(s.cache) > 10000 {
		s.cache = map[types.UID]cachedSchedule{}
	}
	s.cache[c.UID] = cachedSchedule{generation: c.Generation, steps: steps, err: err}
	return steps, err
}

func planSteps(c *siskinv1.Canary, defaultProvider string) ([]Step, error) {
	if c.Spec.SkipAnalysis || c.Spec.Analysis == nil {
		return nil, nil
	}
	sched, err := canary.PlanSchedule(c, canary.Provider(&c.Spec, defaultProvider))
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	var out []Step
	var weight int32 // the canary's weight before each round
	iteration := 0
	for _, m := range sched.Moments {
		var gates []string
		for _, g := range m.Gates {
			gates = append(gates, string(g))
		}
		if m.Step > 0 {
			st := Step{Weight: weight, Next: m.CanaryWeight, At: offset(m.At), Checks: m.Checks, Gates: gates}
			switch {
			case m.Phase == siskinv1.PhasePromoting || m.Phase == siskinv1.PhaseWaitingPromotion:
				st.Label = "promote"
			case m.CanaryWeight != weight:
				st.Label = fmt.Sprintf("%d%%", m.CanaryWeight)
			default:
				iteration++
				st.Label = fmt.Sprintf("iteration %d", iteration)
			}
			out = append(out, st)
		} else if len(gates) > 0 && len(out) > 0 {
			last := &out[len(out)-1]
			last.Gates = append(last.Gates, gates...)
		}
		weight = m.CanaryWeight
	}
	return out, nil
}

// offset writes d as 10s, 1m30s, 2h5m: without the zero units time.Duration writes.
func offset(d time.Duration) string {
	out := d.Round(time.Second).String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return "+" + out
}

// currentStep is the step of steps that c is at: 1-based, 0 when no rollout is under way,
// len(steps) once the analysis passed.
func currentStep(c *siskinv1.Canary, steps []Step) int {
	if len(steps) == 0 {
		return 0
	}
	st := &c.Status
	switch st.Phase {
	case siskinv1.PhaseWaitingPromotion, siskinv1.PhasePromoting, siskinv1.PhaseFinalising, siskinv1.PhaseSucceeded:
		return len(steps)
	case siskinv1.PhaseProgressing, siskinv1.PhaseWaiting:
	default:
		return 0
	}
	// The steps whose checks run at the current weight; Iterations counts those passed (blue/green
	// and A/B testing run them all at one weight), so the one under way is the next.
	var at []int
	for i, s := range steps {
		if s.Weight == st.CanaryWeight {
			at = append(at, i+1)
		}
	}
	if len(at) == 0 {
		return 0
	}
	return at[min(int(st.Iterations), len(at)-1)]
}
