package canary

import (
	"errors"
	"fmt"
	"math"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Planned schedules assume a world that answers at once: workloads ready, routes confirmed
// and gates open the moment they are asked. Real rollouts add those waits to the times.
const (
	// scheduleRevisionOld and scheduleRevisionNew stand for the promoted and the new revision.
	scheduleRevisionOld = "planned-old"
	scheduleRevisionNew = "planned-new"
	// scheduleLimit bounds a simulated rollout, so a spec that never ends cannot loop.
	scheduleLimit = 30 * 24 * time.Hour
	// scheduleRounds bounds the reconciles of a simulated rollout.
	scheduleRounds = 20000
	// sameInstantRounds bounds the reconciles at one instant, as actions take effect at once.
	sameInstantRounds = 50
)

// ErrScheduleNeverEnds means a simulated rollout neither promoted nor rolled back.
var ErrScheduleNeverEnds = errors.New("the simulated rollout did not end")

// Schedule is the course a Canary's rollout of a new revision takes, computed by Plan itself
// on a simulated clock.
type Schedule struct {
	// Interval is the analysis interval, defaults applied.
	Interval time.Duration
	// Threshold is the number of failed checks that rolls a revision back.
	Threshold int32
	// Moments are the rounds that changed something, in order, from the moment the controller
	// sees the new revision (offset 0) to Succeeded.
	Moments []Moment
	// Total is the offset at which the revision is promoted and the rollout Succeeded.
	Total time.Duration
	// EarliestRollback is the offset at which the rollout is rolled back, at the soonest, if
	// every check fails; nil when nothing can fail it (no metrics or webhooks to check).
	EarliestRollback *Moment
}

// Moment is one round of a simulated rollout that changed something.
type Moment struct {
	// At is the offset from the moment the controller sees the new revision.
	At time.Duration
	// Step is the number of the analysis step run in this round (1-based), 0 if none ran.
	Step int
	// Phase is the phase after the round.
	Phase siskinv1.CanaryPhase
	// PrimaryWeight, CanaryWeight and Mirror are the route after the round.
	PrimaryWeight int32
	CanaryWeight  int32
	Mirror        bool
	// Checks are the names of the webhooks and metrics the step ran, in order.
	Checks []string
	// Gates are the gate webhook types asked in this round.
	Gates []siskinv1.WebhookType
	// Hooks are the webhook types called without a verdict (post-rollout).
	Hooks []siskinv1.WebhookType
	// Events are the reasons and messages the round announced.
	Events []string
}

// PlanSchedule simulates, with Plan and NeedsFor, the rollout of a new revision of Canary c
// (spec only; status is ignored) whose every check passes and whose gates open at once, and
// another whose every check fails, for the earliest rollback. provider is the resolved router
// provider (see Provider).
//
// A spec the controller would refuse returns Validate's error, which wraps ErrInvalidSpec.
func PlanSchedule(c *siskinv1.Canary, provider string) (Schedule, error) {
	c = c.DeepCopy()
	Normalize(&c.Spec)
	if err := Validate(&c.Spec, provider); err != nil {
		return Schedule{}, err
	}
	set := settingsFor(c, &Observation{Provider: provider})
	out := Schedule{Interval: set.interval, Threshold: set.threshold}
	pass, err := simulateRollout(c, provider, siskinv1.VerdictPass)
	if err != nil {
		return out, err
	}
	out.Moments = pass
	last := pass[len(pass)-1]
	if last.Phase != siskinv1.PhaseSucceeded {
		return out, fmt.Errorf("%w: it ended %s", ErrScheduleNeverEnds, last.Phase)
	}
	out.Total = last.At
	fail, err := simulateRollout(c, provider, siskinv1.VerdictFail)
	if err != nil {
		return out, err
	}
	for i := range fail {
		if fail[i].Phase == siskinv1.PhaseFailed {
			m := fail[i]
			out.EarliestRollback = &m
			break
		}
	}
	return out, nil
}

// simWorld is a cluster that carries out every action at once.
type simWorld struct {
	c        *siskinv1.Canary
	now      time.Time
	target   Workload
	primary  Workload
	baseline Workload
	route    Route
	verdict  siskinv1.CheckVerdict
	steps    int
}

// simulateRollout initialises c with a first revision, then releases a second one and
// returns the rounds of its rollout that changed something.
func simulateRollout(spec *siskinv1.Canary, provider string, verdict siskinv1.CheckVerdict) ([]Moment, error) {
	c := spec.DeepCopy()
	c.Status = siskinv1.CanaryStatus{}
	c.Annotations = nil
	if c.Generation == 0 {
		c.Generation = 1
	}
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	w := &simWorld{
		c: c, now: start, verdict: verdict,
		target: Workload{Exists: true, Fingerprint: scheduleRevisionOld, Ready: true, Replicas: 1, Available: 1},
	}
	if _, err := w.runUntil(provider, func(st *siskinv1.CanaryStatus) bool { return st.Phase == siskinv1.PhaseInitialized }, nil); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	w.target.Fingerprint = scheduleRevisionNew
	released := w.now
	var moments []Moment
	ended := func(st *siskinv1.CanaryStatus) bool {
		return (st.Phase == siskinv1.PhaseSucceeded || st.Phase == siskinv1.PhaseFailed) && w.target.Replicas == 0
	}
	_, err := w.runUntil(provider, ended, func(m Moment) {
		m.At = m.At - released.Sub(start)
		moments = append(moments, m)
	})
	if err != nil {
		return moments, err
	}
	if len(moments) == 0 {
		return nil, ErrScheduleNeverEnds
	}
	return moments, nil
}

// runUntil reconciles until done holds after a round, calling record with each round that
// changed something (At is the offset from the year 2000, the simulation's start).
func (w *simWorld) runUntil(provider string, done func(*siskinv1.CanaryStatus) bool, record func(Moment)) (bool, error) {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	same := 0
	for range scheduleRounds {
		obs := Observation{Now: w.now, Provider: provider, Target: w.target, Primary: w.primary, Baseline: w.baseline, Route: w.route}
		needs := NeedsFor(w.c, obs)
		if needs.Compare {
			obs.Comparisons = w.comparisons()
		}
		m := Moment{}
		if needs.Step {
			w.steps++
			m.Step = w.steps
			obs.Checks, m.Checks = w.checks(needs)
		}
		if len(needs.Gates) > 0 {
			obs.Gates = map[siskinv1.WebhookType]Gate{}
			for _, g := range needs.Gates {
				obs.Gates[g] = Gate{Open: g != siskinv1.RollbackHook}
			}
			m.Gates = needs.Gates
		}
		before := w.c.Status
		d := Plan(w.c, obs)
		changed := w.apply(d.Actions, provider, &m)
		w.c.Status = d.Status
		st := &w.c.Status
		m.Phase, m.PrimaryWeight, m.CanaryWeight, m.Mirror = st.Phase, w.route.PrimaryWeight, w.route.CanaryWeight, w.route.Mirror
		for _, e := range d.Events {
			m.Events = append(m.Events, e.Reason+": "+e.Message)
		}
		if record != nil && (m.Step > 0 || len(d.Actions) > 0 || len(d.Events) > 0 || st.Phase != before.Phase) {
			m.At = w.now.Sub(start)
			record(m)
		}
		if done(st) {
			return true, nil
		}
		switch {
		case changed && same < sameInstantRounds:
			same++
		case d.RequeueAfter > 0 && w.now.Add(d.RequeueAfter).Sub(start) < scheduleLimit:
			w.now, same = w.now.Add(d.RequeueAfter), 0
		default:
			return false, fmt.Errorf("%w: it stopped in phase %s", ErrScheduleNeverEnds, st.Phase)
		}
	}
	return false, fmt.Errorf("%w within %d rounds", ErrScheduleNeverEnds, scheduleRounds)
}

// checks are the results of a step: pre-rollout and rollout webhooks, then every metric, each
// with the world's verdict.
func (w *simWorld) checks(needs Needs) ([]siskinv1.CheckResult, []string) {
	var (
		out   []siskinv1.CheckResult
		names []string
	)
	a := w.c.Spec.Analysis
	add := func(name, kind string) {
		out = append(out, siskinv1.CheckResult{Name: name, Kind: kind, Verdict: w.verdict, Value: "0"})
		names = append(names, name)
	}
	for i := range a.Webhooks {
		h := &a.Webhooks[i]
		if t := hookType(h); (t == siskinv1.PreRolloutHook && needs.PreRollout) || t == siskinv1.RolloutHook {
			add(h.Name, "webhook")
		}
	}
	for _, m := range a.Metrics {
		add(m.Name, "metric")
	}
	return out, names
}

// comparisons are a look's samples: plenty of requests and no events, so the comparison holds
// no promotion for want of evidence and decides nothing early. The schedule is the one the
// spec gives; a comparison can only end it sooner.
func (w *simWorld) comparisons() []ComparisonSample {
	cmp := w.c.Spec.Analysis.Comparison
	out := make([]ComparisonSample, 0, len(cmp.Metrics))
	for _, m := range cmp.Metrics {
		n := Counts{Requests: 1e6, Buckets: []Bucket{{UpperBound: math.Inf(1), Count: 1e6}}}
		out = append(out, ComparisonSample{Name: m.Name, Canary: n, Control: n})
	}
	return out
}

// apply carries out the actions at once, and reports whether the world changed.
func (w *simWorld) apply(actions []Action, provider string, m *Moment) bool {
	changed := false
	for _, a := range actions {
		switch a.Type {
		case EnsurePrimary:
			if !w.primary.Exists {
				w.primary = Workload{Exists: true, Fingerprint: w.target.Fingerprint, Ready: true, Replicas: 1, Available: 1}
				changed = true
			}
		case EnsureServices, EnsureRoute:
			if EnsuresRoute(a, provider) && !w.route.Converged {
				w.route = Route{Converged: true, PrimaryWeight: fullWeight}
				changed = true
			}
		case SetRoute:
			r := Route{Converged: true, PrimaryWeight: a.Route.PrimaryWeight, CanaryWeight: a.Route.CanaryWeight, BaselineWeight: a.Route.BaselineWeight, Mirror: a.Route.Mirror}
			changed = changed || r != w.route
			w.route = r
		case ScaleTargetUp:
			if w.target.Replicas == 0 {
				w.target.Replicas, w.target.Available = 1, 1
				changed = true
			}
		case ScaleTargetDown:
			if w.target.Replicas != 0 {
				w.target.Replicas, w.target.Available = 0, 0
				changed = true
			}
		case Promote:
			if w.primary.Fingerprint != a.Revision {
				w.primary.Fingerprint = a.Revision
				changed = true
			}
		case EnsureBaseline:
			if !w.baseline.Exists {
				w.baseline = Workload{Exists: true, Fingerprint: w.primary.Fingerprint, Ready: true, Replicas: 1, Available: 1}
				changed = true
			}
		case RemoveBaseline:
			if w.baseline.Exists {
				w.baseline = Workload{}
				changed = true
			}
		case CallWebhooks:
			m.Hooks = append(m.Hooks, a.Hook)
		}
	}
	return changed
}
