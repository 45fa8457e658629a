package canary

import (
	"fmt"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// strategyKind is how traffic moves to a new revision. It follows from the analysis fields as in
// the Flagger model: match and iterations make A/B testing, iterations alone blue/green, and
// stepWeight or stepWeights a weighted canary. Provider kubernetes cannot route, so it is always
// blue/green.
type strategyKind uint8

const (
	weightedCanary strategyKind = iota
	abTesting
	blueGreen
)

// strategy is the traffic schedule of a Canary, with defaults applied.
type strategy struct {
	kind          strategyKind
	canRoute      bool
	maxWeight     int32
	stepWeight    int32
	stepWeights   []int32
	iterations    int32
	mirror        bool
	mirrorWeight  int32
	promotionStep int32
	// baseline is true when <target>-baseline takes the canary's weight during the analysis
	// (analysis.comparison.control baseline, weighted canaries only).
	baseline bool
}

func strategyFor(a *siskinv1.CanaryAnalysis, provider string) strategy {
	s := strategy{
		canRoute:      providers.Weighs(provider),
		maxWeight:     fullWeight,
		stepWeight:    a.StepWeight,
		stepWeights:   a.StepWeights,
		iterations:    a.Iterations,
		promotionStep: a.StepWeightPromotion,
	}
	switch {
	case !s.canRoute:
		// Flagger compatibility: without a router only blue/green works, ten iterations unless
		// told otherwise; match and mirroring are dropped.
		s.kind = blueGreen
		if s.iterations <= 0 {
			s.iterations = defaultKubernetesIterations
		}
		s.promotionStep = 0
		return s
	case a.Iterations > 0 && len(a.Match) > 0:
		s.kind = abTesting
	case a.Iterations > 0:
		s.kind = blueGreen
		s.mirror = a.Mirror
	default:
		s.kind = weightedCanary
		s.mirror = a.Mirror
		if n := len(a.StepWeights); n > 0 {
			s.maxWeight = a.StepWeights[n-1]
		}
		if a.MaxWeight != nil && *a.MaxWeight > 0 {
			s.maxWeight = min(*a.MaxWeight, fullWeight)
		}
	}
	if s.mirror {
		s.mirrorWeight = fullWeight
		if a.MirrorWeight != nil && *a.MirrorWeight > 0 {
			s.mirrorWeight = *a.MirrorWeight
		}
	}
	return s
}

// moveKind is what a passing analysis step does next.
type moveKind uint8

const (
	// moveWeight gives a weighted canary more traffic (behind confirm-traffic-increase).
	moveWeight moveKind = iota
	// moveMirror starts the one mirror-only step of a weighted canary with mirror: true.
	moveMirror
	// moveIteration counts a blue/green or A/B iteration.
	moveIteration
	// moveSwitch routes all traffic to a blue/green canary for one last step.
	moveSwitch
	// movePromote promotes (behind confirm-promotion).
	movePromote
)

// move is the next position of the analysis after a passing step.
type move struct {
	kind       moveKind
	weight     int32
	iterations int32
}

// next is where a passing step at st leads.
func (s *strategy) next(st *siskinv1.CanaryStatus) move {
	w, it := st.CanaryWeight, st.Iterations
	promote := move{kind: movePromote, weight: w, iterations: it}
	switch s.kind {
	case abTesting:
		if it >= s.iterations {
			return promote
		}
		return move{kind: moveIteration, weight: fullWeight, iterations: it + 1}
	case blueGreen:
		switch {
		case it < s.iterations:
			return move{kind: moveIteration, weight: w, iterations: it + 1}
		case s.canRoute && w < fullWeight:
			return move{kind: moveSwitch, weight: fullWeight, iterations: it}
		}
		return promote
	}
	switch {
	case w >= s.maxWeight:
		return promote
	case s.mirror && w == 0 && it == 0:
		return move{kind: moveMirror, weight: 0, iterations: 1}
	}
	return move{kind: moveWeight, weight: s.nextWeight(w), iterations: it + 1}
}

// nextWeight is the canary weight after w: w+stepWeight, or the next entry of stepWeights,
// capped at maxWeight.
func (s *strategy) nextWeight(w int32) int32 {
	n := s.maxWeight
	switch {
	case s.stepWeight > 0:
		n = w + s.stepWeight
	case len(s.stepWeights) > 0:
		for _, sw := range s.stepWeights {
			if sw > w {
				n = sw
				break
			}
		}
	}
	return min(n, s.maxWeight)
}

// mirroring reports whether primary traffic is mirrored to the canary in status st: during the
// analysis of blue/green with mirror (after its first step), and during the mirror-only step of
// a weighted canary.
func (s *strategy) mirroring(st *siskinv1.CanaryStatus) bool {
	if !s.mirror || !analysing(st.Phase) || st.CanaryWeight != 0 {
		return false
	}
	switch s.kind {
	case blueGreen:
		// The mirror is the canary's only traffic: it runs from the start of the analysis, or
		// the first step would have nothing to measure.
		return true
	case weightedCanary:
		// The mirror-only step follows the first passing step at weight 0.
		return st.Iterations >= 1
	}
	return false
}

// judgedOnTraffic reports whether the metrics of a step at st can judge the canary: whether the
// route sends it traffic. A weighted canary at weight 0 without mirroring, and A/B testing
// before matching requests go to the canary, send it none: real users reach a canary through
// the route (the apex Service, a gateway), so its metrics would show no data, or only a load
// test's, and must not decide. Blue/green is judged on the traffic its load tests send to the
// canary Service, as in the Flagger model; provider kubernetes (always blue/green) likewise.
func (s *strategy) judgedOnTraffic(st *siskinv1.CanaryStatus) bool {
	switch s.kind {
	case weightedCanary:
		return st.CanaryWeight > 0 || s.mirroring(st)
	case abTesting:
		return st.CanaryWeight > 0
	}
	return true
}

// route is the routing that status st asks for. Routes are a function of the status alone, so
// a restart re-derives them instead of remembering them.
func (s *strategy) route(st *siskinv1.CanaryStatus) DesiredRoute {
	if !s.canRoute {
		// Plain Services cannot split traffic, whatever a status written under another provider
		// says.
		return DesiredRoute{PrimaryWeight: fullWeight}
	}
	w := min(max(st.CanaryWeight, 0), fullWeight)
	r := DesiredRoute{PrimaryWeight: fullWeight - w, CanaryWeight: w}
	if s.baseline && analysing(st.Phase) {
		r.BaselineWeight = min(w, fullWeight-w)
		r.PrimaryWeight -= r.BaselineWeight
	}
	if s.mirroring(st) {
		r.Mirror, r.MirrorWeight = true, s.mirrorWeight
	}
	return r
}

// describe says where the analysis stands, for condition messages.
func (s *strategy) describe(st *siskinv1.CanaryStatus) string {
	switch s.kind {
	case abTesting:
		if st.CanaryWeight > 0 {
			return fmt.Sprintf("A/B testing iteration %d/%d, matching requests on the canary", st.Iterations, s.iterations)
		}
		return fmt.Sprintf("A/B testing iteration %d/%d", st.Iterations, s.iterations)
	case blueGreen:
		switch {
		case st.CanaryWeight >= fullWeight:
			return fmt.Sprintf("blue/green iteration %d/%d, all traffic on the canary", st.Iterations, s.iterations)
		case s.mirroring(st):
			return fmt.Sprintf("blue/green iteration %d/%d, mirroring %d%% of traffic to the canary", st.Iterations, s.iterations, s.mirrorWeight)
		}
		return fmt.Sprintf("blue/green iteration %d/%d", st.Iterations, s.iterations)
	}
	if s.mirroring(st) {
		return fmt.Sprintf("canary weight 0/%d, mirroring %d%% of traffic to the canary", s.maxWeight, s.mirrorWeight)
	}
	return fmt.Sprintf("canary weight %d/%d", st.CanaryWeight, s.maxWeight)
}

// announce is the event of a move that was made.
func (s *strategy) announce(mv move) (reason, message string) {
	switch mv.kind {
	case moveWeight:
		return siskinv1.ReasonStepWeightIncreased, fmt.Sprintf("canary weight increased to %d%% (promotion at %d%%)", mv.weight, s.maxWeight)
	case moveMirror:
		return siskinv1.ReasonMirrorStarted, fmt.Sprintf("mirroring %d%% of primary traffic to the canary for one step before shifting weight", s.mirrorWeight)
	case moveSwitch:
		return siskinv1.ReasonTrafficSwitched, fmt.Sprintf("all %d iterations passed; routing all traffic to the canary for one step before promotion", s.iterations)
	}
	msg := fmt.Sprintf("iteration %d/%d passed", mv.iterations, s.iterations)
	switch {
	case mv.iterations == 1 && s.kind == abTesting:
		msg += "; requests matching analysis.match now go to the canary"
	case mv.iterations == 1 && s.mirror && s.kind == blueGreen:
		msg += fmt.Sprintf("; mirroring %d%% of primary traffic to the canary", s.mirrorWeight)
	}
	return siskinv1.ReasonIterationCompleted, msg
}

// analysing reports whether phase runs analysis steps.
func analysing(phase siskinv1.CanaryPhase) bool {
	return phase == siskinv1.PhaseProgressing || phase == siskinv1.PhaseWaitingPromotion
}
