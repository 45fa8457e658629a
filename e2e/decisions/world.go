package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// origin is second 0 of every simulated release: the new revision reaches the target.
var origin = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

// How long the fake Deployments take to become ready after a change, and how long a release
// may run before the bench gives up on it (the progress deadline ends every wait before).
const (
	podStart     = 15
	primaryStart = 30
	initAt       = -300
	horizon      = 3600
)

// Revisions of the simulated target.
const (
	revOld = "rev-1"
	revNew = "rev-2"
)

func at(k int) time.Time { return origin.Add(time.Duration(k) * time.Second) }

// workload is a fake Deployment that becomes ready some seconds after a change.
type workload struct {
	exists   bool
	fp       string
	replicas int32
	readyAt  int
}

func (w *workload) observe(k int) canary.Workload {
	o := canary.Workload{Exists: w.exists, Fingerprint: w.fp, Replicas: w.replicas}
	o.Ready = w.exists && w.replicas > 0 && k >= w.readyAt
	if o.Ready {
		o.Available = w.replicas
	} else if w.exists {
		o.Message = "0/2 updated replicas available"
	}
	return o
}

// outcome is how one release ended under one way of judging.
type outcome struct {
	// start is the second the rollout started (the planner's Progressing), first the second of
	// the canary's first request (-1: none), decided the second of the rollback or promotion
	// decision (-1: none within the horizon).
	start, first, decided int
	rolledBack            bool
	// reason is the cause of the rollback, or the promotion's reason (PromotionStarted,
	// EarlyPass); detail the message of that event.
	reason, detail string
	// harm is what the regression cost users before the decision (see traffic.harm).
	harm float64
	// verdict is, for a promotion with a comparison, the weakest verdict of the compared
	// metrics at that moment: NotWorse when all showed the canary not worse, else Pending or
	// NoData (nothing decided).
	verdict siskinv1.ComparisonVerdict
	// waited is true when the promotion waited for the comparison's minimum evidence.
	waited bool
}

// world is a fake cluster and controller loop around the real planner: each round it
// simulates the traffic up to now, asks canary.NeedsFor what to gather, gathers it from the
// simulated counters (a judge's checks at a step, the comparison's counts at a look), calls
// canary.Plan, executes its actions, stores the status through JSON as the API server does,
// and sleeps until the planner's requeue or the next change in the world.
type world struct {
	c        *siskinv1.Canary
	judge    judge
	tr       *traffic
	now      int
	target   workload
	primary  workload
	baseline workload
	route    canary.Route
	wakes    []int
	out      outcome
	// zeros answers a histogram without requests with every bucket at 0 (see config.zeros).
	zeros bool
	// shareBaseline makes the data plane give a baseline the canary's weight out of the
	// primary's although the planner routes none (the fixed mode with a baseline control).
	shareBaseline bool
}

// judge is a way of judging: the checks it gives the planner at an analysis step.
type judge interface {
	checks(w *world, needs canary.Needs) []siskinv1.CheckResult
}

func newWorld(c *siskinv1.Canary, j judge, tr *traffic) *world {
	return &world{c: c, judge: j, tr: tr, now: initAt,
		target: workload{exists: true, fp: revOld, replicas: 2, readyAt: initAt},
		out:    outcome{start: -1, first: -1, decided: -1}}
}

// run initializes the Canary with revision rev-1, updates the target to rev-2 at second 0 and
// plays rounds until the planner rolls the release back or starts its promotion.
func (w *world) run() outcome {
	for w.c.Status.Phase != siskinv1.PhaseInitialized {
		if w.now >= 0 {
			panic("the canary did not initialize: " + string(w.c.Status.Phase))
		}
		w.reconcile()
		w.now = w.next(0)
	}
	w.now, w.wakes = 0, w.wakes[:0]
	w.target.fp = revNew
	for w.out.decided < 0 && w.now <= horizon {
		w.reconcile()
		w.now = w.next(horizon + 1)
	}
	w.out.first = w.tr.first[vCanary]
	w.out.harm = w.tr.harm
	return w.out
}

func (w *world) wakeAt(k int) { w.wakes = append(w.wakes, k) }

// next is the second of the next round, or limit when nothing is scheduled before it.
func (w *world) next(limit int) int {
	slices.Sort(w.wakes)
	for len(w.wakes) > 0 {
		k := w.wakes[0]
		w.wakes = w.wakes[1:]
		if k > w.now {
			return min(k, limit)
		}
	}
	return limit
}

func (w *world) observe() canary.Observation {
	return canary.Observation{
		Now:      at(w.now),
		Provider: w.c.Spec.Provider,
		Target:   w.target.observe(w.now),
		Primary:  w.primary.observe(w.now),
		Baseline: w.baseline.observe(w.now),
		Route:    w.route,
	}
}

// reconcile is one controller round.
func (w *world) reconcile() {
	if w.now >= 0 {
		w.tr.advance(w.now)
	}
	obs := w.observe()
	needs := canary.NeedsFor(w.c, obs)
	if needs.Step {
		obs.Checks = w.judge.checks(w, needs)
	}
	if needs.Compare {
		obs.Comparisons = w.samples(needs)
	}
	d := canary.Plan(w.c, obs)
	prev := w.c.Status.Phase
	w.apply(d.Actions)
	w.c.Status = roundTrip(d.Status)
	w.record(prev, &d)
	if d.RequeueAfter > 0 {
		w.wakeAt(w.now + int(math.Ceil(d.RequeueAfter.Seconds())))
	}
}

// samples are the comparison's counts of the look from needs.CompareSince to now, read as the
// metrics server would answer the built-in queries (exact increases: no scrape interval and
// no extrapolation).
func (w *world) samples(needs canary.Needs) []canary.ComparisonSample {
	from := int(needs.CompareSince.Sub(origin) / time.Second)
	control := vPrimary
	if needs.Control == w.c.Spec.TargetRef.Name+"-baseline" {
		control = vBaseline
	}
	cn, ct := w.tr.window(vCanary, from, w.now), w.tr.window(control, from, w.now)
	out := make([]canary.ComparisonSample, 0, len(w.c.Spec.Analysis.Comparison.Metrics))
	for _, m := range w.c.Spec.Analysis.Comparison.Metrics {
		s := canary.ComparisonSample{Name: m.Name}
		if m.Name == siskinv1.MetricRequestDuration {
			s.Canary = canary.Counts{Requests: cn.req, Buckets: cn.cumulative(w.zeros)}
			s.Control = canary.Counts{Requests: ct.req, Buckets: ct.cumulative(w.zeros)}
		} else {
			s.Canary = canary.Counts{Requests: cn.req, Events: cn.err}
			s.Control = canary.Counts{Requests: ct.req, Events: ct.err}
		}
		out = append(out, s)
	}
	return out
}

// apply executes the actions as the controller's executors would.
func (w *world) apply(actions []canary.Action) {
	for _, a := range actions {
		switch a.Type {
		case canary.EnsurePrimary:
			if !w.primary.exists {
				w.primary = workload{exists: true, fp: w.target.fp, replicas: 2, readyAt: w.now + primaryStart}
				w.wakeAt(w.primary.readyAt)
			}
		case canary.EnsureServices, canary.EnsureRoute:
			if canary.EnsuresRoute(a, w.c.Spec.Provider) && !w.route.Converged {
				w.route = canary.Route{Converged: true, PrimaryWeight: 100}
				w.wakeAt(w.now + 1)
			}
		case canary.SetRoute:
			r := a.Route
			w.route = canary.Route{Converged: true, PrimaryWeight: r.PrimaryWeight, CanaryWeight: r.CanaryWeight, BaselineWeight: r.BaselineWeight, Mirror: r.Mirror}
			if w.now >= 0 {
				primary, baseline := r.PrimaryWeight, r.BaselineWeight
				if w.shareBaseline {
					baseline = min(r.CanaryWeight, 100-r.CanaryWeight)
					primary -= baseline
				}
				w.tr.route(w.now, primary, r.CanaryWeight, baseline)
			}
			w.wakeAt(w.now + 1)
		case canary.ScaleTargetUp:
			if w.target.replicas == 0 {
				w.target.replicas, w.target.readyAt = 2, w.now+podStart
				w.wakeAt(w.target.readyAt)
			}
		case canary.ScaleTargetDown:
			w.target.replicas = 0
		case canary.EnsureBaseline:
			if !w.baseline.exists || w.baseline.replicas == 0 || w.baseline.fp != w.primary.fp {
				w.baseline = workload{exists: true, fp: w.primary.fp, replicas: 2, readyAt: w.now + podStart}
				w.wakeAt(w.baseline.readyAt)
			}
		case canary.RemoveBaseline:
			w.baseline = workload{}
		case canary.Promote:
			if w.primary.fp != w.target.fp {
				w.primary.fp, w.primary.readyAt = w.target.fp, w.now+primaryStart
				w.wakeAt(w.primary.readyAt)
			}
		}
	}
}

// record notes the rollout's start and its decision.
func (w *world) record(prev siskinv1.CanaryPhase, d *canary.Decision) {
	if w.now < 0 {
		return
	}
	st := &d.Status
	for _, e := range d.Events {
		if e.Reason == siskinv1.ReasonWaitingForEvidence {
			w.out.waited = true
		}
	}
	switch {
	case st.Phase == siskinv1.PhaseProgressing && prev != siskinv1.PhaseProgressing && w.out.start < 0:
		w.out.start = w.now
	case st.Phase == siskinv1.PhaseFailed && prev != siskinv1.PhaseFailed:
		w.out.decided, w.out.rolledBack = w.now, true
		w.out.reason, w.out.detail = firstWarning(d.Events)
	case st.Phase == siskinv1.PhasePromoting && prev != siskinv1.PhasePromoting:
		w.out.decided = w.now
		for _, e := range d.Events {
			if e.Reason == siskinv1.ReasonPromotionStarted || e.Reason == siskinv1.ReasonEarlyPass {
				w.out.reason = e.Reason
			}
		}
		w.out.verdict = weakestVerdict(st.Comparison)
	}
}

// firstWarning is the reason and message of the first warning of a round: the cause of its
// rollback.
func firstWarning(events []canary.Event) (reason, message string) {
	for _, e := range events {
		if e.Warning {
			return e.Reason, e.Message
		}
	}
	return "", ""
}

// weakestVerdict is NotWorse when every compared metric showed the canary not worse, else
// the first other verdict; "" without a comparison.
func weakestVerdict(c *siskinv1.ComparisonStatus) siskinv1.ComparisonVerdict {
	if c == nil {
		return ""
	}
	for _, m := range c.Metrics {
		if m.Verdict != siskinv1.ComparisonNotWorse {
			return m.Verdict
		}
	}
	return siskinv1.ComparisonNotWorse
}

// roundTrip stores a status the way the API server does: as JSON.
func roundTrip(st siskinv1.CanaryStatus) siskinv1.CanaryStatus {
	data, err := json.Marshal(st)
	if err != nil {
		panic(fmt.Sprintf("marshal status: %v", err))
	}
	var out siskinv1.CanaryStatus
	if err := json.Unmarshal(data, &out); err != nil {
		panic(fmt.Sprintf("unmarshal status: %v", err))
	}
	return out
}
