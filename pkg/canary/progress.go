package canary

import (
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// maxScheduleSteps bounds the schedule a spec can describe, so a strange spec cannot loop.
const maxScheduleSteps = 1000

// Progress is where a rollout stands in the schedule of its Canary, for people (the kubectl
// plugin): how many analysis steps passed, how many a rollout takes, when the next is due.
type Progress struct {
	// Step is the number of analysis steps the current rollout has passed.
	Step int
	// Steps is the number of analysis steps a rollout takes when every step passes; the last
	// one starts the promotion. 0 when the analysis is skipped.
	Steps int
	// Interval is the analysis interval, defaults applied.
	Interval time.Duration
	// NextStep is when the next analysis step is due; zero when none is (no analysis in
	// progress, or paused).
	NextStep time.Time
}

// ProgressOf reports the progress of Canary c's rollout from its spec and status alone.
// provider is the resolved router provider (see Provider).
func ProgressOf(c *siskinv1.Canary, provider string) Progress {
	s := settingsFor(c, &Observation{Provider: provider})
	p := Progress{Interval: s.interval}
	if s.skipAnalysis {
		return p
	}
	st := &c.Status
	positions := s.strategy.positions()
	p.Steps = len(positions)
	for i, pos := range positions {
		if pos.weight == st.CanaryWeight && pos.iterations == st.Iterations {
			p.Step = i
		}
	}
	switch {
	case st.Phase == siskinv1.PhaseWaitingPromotion, st.Phase == siskinv1.PhasePromoting,
		st.Phase == siskinv1.PhaseFinalising, st.Phase == siskinv1.PhaseSucceeded:
		// Every step passed (WaitingPromotion: the confirm-promotion gate holds the promotion).
		p.Step = p.Steps
	case !analysing(st.Phase):
		p.Step = 0
	}
	if analysing(st.Phase) && !st.Paused && st.LastStepTime != nil {
		p.NextStep = st.LastStepTime.Add(s.interval)
	}
	return p
}

// positions lists where the analysis stands before each step of a rollout whose every step
// passes: positions[i] is the position after i passing steps, and the step made at the last
// position promotes.
func (s *strategy) positions() []move {
	st := siskinv1.CanaryStatus{Phase: siskinv1.PhaseProgressing}
	out := []move{{}}
	for range maxScheduleSteps {
		mv := s.next(&st)
		if mv.kind == movePromote {
			break
		}
		st.CanaryWeight, st.Iterations = mv.weight, mv.iterations
		out = append(out, mv)
	}
	return out
}
