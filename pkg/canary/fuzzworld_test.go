package canary

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The world of FuzzEngine (fuzz_test.go): a cluster and a controller driven by the fuzzer's
// bytes. Unlike world_test.go it keeps the controller's real order within a round: the status
// is written first (the commit point), then the actions run in order and stop at the first that
// fails; a lost write applies nothing. Everything in it is deterministic in the input.

// fuzzInput hands out the fuzzer's bytes; an exhausted input reads as zeros.
type fuzzInput struct {
	data []byte
	pos  int
}

func (in *fuzzInput) next() byte {
	if in.pos >= len(in.data) {
		return 0
	}
	b := in.data[in.pos]
	in.pos++
	return b
}

func (in *fuzzInput) done() bool { return in.pos >= len(in.data) }

// Health of the target's pods, set by the world's events.
const (
	podsHealthy  = iota
	podsDegraded // one of two replicas available: not ready, still serving
	podsBroken   // crash-looping: nothing available
)

// What Prometheus answers for a good revision (a bad one always fails, or errors).
const (
	promOK = iota
	promError
	promNoData
	promFlaky // a good revision fails a check
)

// What the analysis webhooks answer.
const (
	hooksOK = iota
	hooksRolloutFail
	hooksPreRolloutMissing
)

// A fault of the next round, chosen by an event.
const (
	faultNone = iota
	faultLostWrite
	faultPrefix
	faultConcurrentRevision
	faultConcurrentDelete
)

type fuzzTarget struct {
	exists   bool
	fp       string
	replicas int32
	readyAt  time.Time
	health   int
}

type fuzzPrimary struct {
	exists  bool
	fp      string
	readyAt time.Time
	stuck   bool // never becomes ready until the next change heals it
}

// fuzzRoute is what the routing objects really do with traffic; the router confirms a change
// routeLag after it was applied.
type fuzzRoute struct {
	exists    bool
	primary   int32
	canary    int32
	baseline  int32
	mirror    bool
	confirmAt time.Time
	notOwned  bool
}

// fuzzWorld is the cluster, the controller's schedule and the evidence the invariants need.
type fuzzWorld struct {
	t      *testing.T
	in     *fuzzInput
	config string
	start  time.Time
	now    time.Time
	c      *siskinv1.Canary // as stored: annotations and the last status written

	interval, deadline                  time.Duration
	routeLag, targetDelay, primaryDelay time.Duration

	target   fuzzTarget
	primary  fuzzPrimary
	baseline fuzzPrimary // <target>-baseline, when the comparison's control is a baseline
	route    fuzzRoute
	queued   bool
	gates    map[siskinv1.WebhookType]bool
	prom     int
	hooks    int
	fault    int
	prefix   int
	clean    bool // draining: no faults, no noise

	bad     map[string]bool
	revs    int
	manualN int

	wakes     []time.Time
	downUntil time.Time
	lastRound time.Time
	faulted   bool // the last round lost its write or some actions

	// allowed are the revisions a primary may run besides lastPromotedSpec, and why.
	allowed map[string]string
	// passing counts durably written steps of each rollout whose checks all passed with metrics.
	passing map[string]int

	// empty is traffic weighted to a canary without an available replica; unanalysed is
	// traffic weighted to a canary that runs neither the revision under analysis nor the
	// promoted one.
	empty, unanalysed window

	rounds int
	trace  []string
}

const fuzzTraceLines = 60

func newFuzzWorld(t *testing.T, data []byte) *fuzzWorld {
	in := &fuzzInput{data: data}
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	w := &fuzzWorld{t: t, in: in, start: start, now: start,
		target:  fuzzTarget{exists: true, fp: "rev-1-good", replicas: 2, readyAt: start},
		gates:   map[siskinv1.WebhookType]bool{siskinv1.ConfirmRolloutHook: true, siskinv1.ConfirmTrafficIncreaseHook: true, siskinv1.ConfirmPromotionHook: true},
		bad:     map[string]bool{},
		allowed: map[string]string{},
		passing: map[string]int{},
		revs:    1,
	}
	w.configure(in.next(), in.next(), in.next(), in.next())
	if err := Validate(&w.c.Spec, ""); err != nil {
		t.Fatalf("the fuzz world built an invalid Canary (%s): %v", w.config, err)
	}
	w.wakeAt(start)
	return w
}

// configure builds the Canary and the world's delays from four bytes.
func (w *fuzzWorld) configure(b0, b1, b2, b3 byte) {
	c := newCanary()
	c.Spec.Analysis.Metrics[0].Interval = "1m"
	a := c.Spec.Analysis
	names := []string{"weighted", "stepWeights", "weighted+mirror", "blue/green", "blue/green+mirror", "A/B", "kubernetes", "weighted+promotionSteps"}
	kind := int(b0 % 8)
	switch kind {
	case 1:
		a.StepWeight, a.MaxWeight, a.StepWeights = 0, nil, []int32{5, 25, 50}
	case 2:
		a.Mirror = true
	case 3:
		blueGreenSpec(c, 2)
	case 4:
		blueGreenSpec(c, 2)
		a.Mirror, a.MirrorWeight = true, ptr[int32](50)
	case 5:
		abTestingSpec(c, 2)
	case 6:
		c.Spec.Provider = siskinv1.ProviderKubernetes
		blueGreenSpec(c, 2)
	case 7:
		a.StepWeightPromotion = 10
	}
	c.Spec.SkipAnalysis = (b0>>3)&7 == 7
	a.Threshold = 1 + int32(b1%3)
	a.ErrorLimit = 1 + int32((b1>>2)%4)
	w.deadline = []time.Duration{3 * time.Minute, 5 * time.Minute, 10 * time.Minute}[(b1>>4)%3]
	c.Spec.ProgressDeadlineSeconds = ptr(int32(w.deadline / time.Second))
	w.interval = time.Minute
	if b1>>6&1 == 1 {
		w.interval = 30 * time.Second
	}
	a.Interval = w.interval.String()
	hookBits := []siskinv1.WebhookType{siskinv1.PreRolloutHook, siskinv1.RolloutHook, siskinv1.ConfirmRolloutHook,
		siskinv1.ConfirmTrafficIncreaseHook, siskinv1.ConfirmPromotionHook, siskinv1.RollbackHook, siskinv1.PostRolloutHook}
	var hooks []string
	for i, typ := range hookBits {
		if b2&(1<<i) == 0 {
			continue
		}
		hooks = append(hooks, string(typ))
		hook(c, typ, func(h *siskinv1.CanaryWebhook) {
			if b2&0x80 != 0 && strings.HasPrefix(string(typ), "confirm-") {
				h.GateTimeout = "5m"
			}
		})
	}
	w.routeLag = []time.Duration{0, time.Second, 3 * time.Second, 0}[b3%4]
	w.targetDelay = []time.Duration{0, 5 * time.Second, 20 * time.Second, 70 * time.Second}[(b3>>2)%4]
	w.primaryDelay = []time.Duration{0, 10 * time.Second, 30 * time.Second, 90 * time.Second}[(b3>>4)%4]
	compare := []string{"none", "primary", "primary+earlyPass+advise", "baseline"}[b3>>6]
	if b3>>6 != 0 {
		cmp := &siskinv1.CanaryComparison{LookInterval: "10s", MinRequests: ptr[int64](50),
			Metrics: []siskinv1.ComparedMetric{{Name: siskinv1.MetricRequestSuccessRate}}}
		switch b3 >> 6 {
		case 2:
			cmp.EarlyPass = true
			a.Advise = &siskinv1.CanaryAdvise{On: siskinv1.AdviseOnAll, Timeout: "5m"}
		case 3:
			cmp.Control = siskinv1.ControlBaseline
		}
		a.Comparison = cmp
	}
	w.c = c
	w.config = fmt.Sprintf("compare=%s ", compare) + fmt.Sprintf("%s skipAnalysis=%t threshold=%d errorLimit=%d deadline=%s interval=%s hooks=[%s] gateTimeout=%t routeLag=%s targetDelay=%s primaryDelay=%s",
		names[kind], c.Spec.SkipAnalysis, a.Threshold, a.ErrorLimit, w.deadline, w.interval, strings.Join(hooks, " "), b2&0x80 != 0,
		w.routeLag, w.targetDelay, w.primaryDelay)
}

func (w *fuzzWorld) wakeAt(t time.Time) { w.wakes = append(w.wakes, t) }

// nextWake is the earliest scheduled round, moved past the controller's downtime.
func (w *fuzzWorld) nextWake() (time.Time, bool) {
	if len(w.wakes) == 0 {
		return time.Time{}, false
	}
	next := slices.MinFunc(w.wakes, func(a, b time.Time) int { return a.Compare(b) })
	if next.Before(w.now) {
		next = w.now
	}
	if next.Before(w.downUntil) {
		next = w.downUntil
	}
	return next, true
}

// advance moves the clock to the next scheduled round and runs it; without one it lets time
// pass (the controller would only resync).
func (w *fuzzWorld) advance() {
	next, ok := w.nextWake()
	if !ok {
		w.passTime(10 * time.Minute)
		return
	}
	w.setClock(next)
	w.round()
}

// passTime lets up to d pass, but never beyond a scheduled round, which then runs.
func (w *fuzzWorld) passTime(d time.Duration) {
	if next, ok := w.nextWake(); ok && !next.After(w.now.Add(d)) {
		w.setClock(next)
		w.round()
		return
	}
	w.setClock(w.now.Add(d))
}

func (w *fuzzWorld) setClock(t time.Time) {
	if t.After(w.now) {
		w.now = t
	}
	w.trackWindows()
}

// event logs a change made from outside and wakes the controller, as a watch event would.
func (w *fuzzWorld) event(format string, args ...any) {
	w.logf("%s  -- %s", w.offset(), fmt.Sprintf(format, args...))
	w.wakeAt(w.now)
	w.trackWindows()
}

func (w *fuzzWorld) newRevision(bad bool) string {
	w.revs++
	fp := fmt.Sprintf("rev-%d-good", w.revs)
	if bad {
		fp = fmt.Sprintf("rev-%d-bad", w.revs)
		w.bad[fp] = true
	}
	w.setTarget(fp)
	return fp
}

// setTarget changes the target's pod template (recreating a deleted target); its pods roll out.
func (w *fuzzWorld) setTarget(fp string) {
	if !w.target.exists {
		w.target = fuzzTarget{exists: true, replicas: 2}
	}
	w.target.fp = fp
	w.target.health = podsHealthy
	if w.target.replicas > 0 {
		w.target.readyAt = w.now.Add(w.targetDelay)
		w.wakeAt(w.target.readyAt)
	}
}

func (w *fuzzWorld) annotate(ann string) {
	w.manualN++
	if w.c.Annotations == nil {
		w.c.Annotations = map[string]string{}
	}
	w.c.Annotations[ann] = fmt.Sprint(w.manualN)
	w.event("annotated %s=%d", ann, w.manualN)
}

func (w *fuzzWorld) targetAvailable() int32 {
	t := &w.target
	if !t.exists || t.replicas == 0 || w.now.Before(t.readyAt) {
		return 0
	}
	switch t.health {
	case podsDegraded:
		return 1
	case podsBroken:
		return 0
	}
	return t.replicas
}

func (w *fuzzWorld) observe() Observation {
	obs := Observation{Now: w.now, Provider: w.c.Spec.Provider}
	if t := &w.target; t.exists {
		obs.Target = Workload{Exists: true, Fingerprint: t.fp, Replicas: t.replicas, Available: w.targetAvailable()}
		obs.Target.Ready = t.replicas > 0 && obs.Target.Available == t.replicas
		if !obs.Target.Ready {
			obs.Target.Message = fmt.Sprintf("%d/%d replicas available", obs.Target.Available, t.replicas)
		}
	} else {
		obs.Target.Message = "deployment test/podinfo not found"
	}
	if p := &w.primary; p.exists {
		obs.Primary = Workload{Exists: true, Fingerprint: p.fp, Replicas: 2}
		if !p.stuck && !w.now.Before(p.readyAt) {
			obs.Primary.Ready, obs.Primary.Available = true, 2
		} else {
			obs.Primary.Message = "0/2 updated replicas available"
		}
	} else {
		obs.Primary.Message = "deployment test/podinfo-primary not found"
	}
	switch r := &w.route; {
	case r.notOwned:
		obs.Route = Route{Problem: siskinv1.ReasonNotOwned, Message: "VirtualService test/podinfo is not managed by Siskin"}
	case !r.exists:
		obs.Route = Route{Message: "VirtualService test/podinfo not found"}
	default:
		obs.Route = Route{Converged: !w.now.Before(r.confirmAt), PrimaryWeight: r.primary, CanaryWeight: r.canary, BaselineWeight: r.baseline, Mirror: r.mirror}
		if !obs.Route.Converged {
			obs.Route.Message = "not yet accepted"
		}
	}
	if b := &w.baseline; b.exists {
		obs.Baseline = Workload{Exists: true, Fingerprint: b.fp, Replicas: 2}
		if !w.now.Before(b.readyAt) {
			obs.Baseline.Ready, obs.Baseline.Available = true, 2
		}
	}
	for k, v := range w.c.Annotations {
		if obs.Manual == nil {
			obs.Manual = map[string]string{}
		}
		obs.Manual[k] = v
	}
	st := &w.c.Status
	if w.queued && obs.Target.Exists && isNewRevision(st, obs.Target.Fingerprint) {
		switch st.Phase {
		case siskinv1.PhaseInitialized, siskinv1.PhaseSucceeded, siskinv1.PhaseFailed:
			obs.RolloutQueued = true
		}
	}
	return obs
}

// gather answers what NeedsFor asked for: the gates from the world's gate state, the step's
// webhooks and metrics from the revision (good or bad) and the Prometheus and webhook modes.
// It reports whether every check of the step passed.
func (w *fuzzWorld) gather(needs Needs, obs *Observation) (passed bool) {
	for _, g := range needs.Gates {
		if obs.Gates == nil {
			obs.Gates = map[siskinv1.WebhookType]Gate{}
		}
		open := w.gates[g] || (w.clean && g != siskinv1.RollbackHook)
		if w.clean && g == siskinv1.RollbackHook {
			open = false
		}
		obs.Gates[g] = Gate{Open: open, Message: map[bool]string{false: string(g) + "-hook answered 403"}[open]}
	}
	if needs.Compare {
		obs.Comparisons = []ComparisonSample{w.sample(needs, obs)}
	}
	if !needs.Step {
		return false
	}
	hooks := w.hooks
	if w.clean {
		hooks = hooksOK
	}
	passed = true
	for _, h := range w.c.Spec.Analysis.Webhooks {
		switch {
		case h.Type == siskinv1.PreRolloutHook && needs.PreRollout && hooks == hooksPreRolloutMissing:
			passed = false // no answer: counts as a failed check
		case h.Type == siskinv1.PreRolloutHook && needs.PreRollout:
			obs.Checks = append(obs.Checks, hookCheck(h.Name, siskinv1.VerdictPass, w.now))
		case h.Type == siskinv1.RolloutHook:
			v := siskinv1.VerdictPass
			if hooks == hooksRolloutFail {
				v = siskinv1.VerdictFail
			}
			obs.Checks = append(obs.Checks, hookCheck(h.Name, v, w.now))
		}
	}
	obs.Checks = append(obs.Checks, metricCheck(w.verdict(obs.Target.Fingerprint), w.now))
	for _, c := range obs.Checks {
		passed = passed && c.Verdict == siskinv1.VerdictPass
	}
	return passed
}

// sample is a look's counts: 100 requests a second split as the route really splits them,
// 2% errors on the control and on a good canary, 6% on a bad one; Prometheus' mode applies.
func (w *fuzzWorld) sample(needs Needs, obs *Observation) ComparisonSample {
	s := ComparisonSample{Name: siskinv1.MetricRequestSuccessRate}
	prom := w.prom
	if w.clean {
		prom = promOK
	}
	switch prom {
	case promError:
		s.Error = "prometheus: connection refused"
		return s
	case promNoData:
		return s
	}
	secs := w.now.Sub(needs.CompareSince).Seconds()
	if secs <= 0 {
		return s
	}
	canary := 100 * secs * float64(w.route.canary) / fullWeight
	control := 100 * secs * float64(w.route.primary) / fullWeight
	if w.route.baseline > 0 {
		control = 100 * secs * float64(w.route.baseline) / fullWeight
	}
	rate := 0.02
	if w.bad[obs.Target.Fingerprint] || prom == promFlaky {
		rate = 0.06
	}
	s.Canary = Counts{Requests: canary, Events: canary * rate}
	s.Control = Counts{Requests: control, Events: control * 0.02}
	return s
}

// verdict is the metric check of revision fp: a bad revision fails (or cannot be checked),
// a good one passes unless Prometheus misbehaves.
func (w *fuzzWorld) verdict(fp string) siskinv1.CheckVerdict {
	prom := w.prom
	if w.clean {
		prom = promOK
	}
	switch {
	case prom == promError:
		return siskinv1.VerdictError
	case w.bad[fp]:
		return siskinv1.VerdictFail
	case prom == promNoData:
		return siskinv1.VerdictNoData
	case prom == promFlaky:
		return siskinv1.VerdictFail
	}
	return siskinv1.VerdictPass
}

// round is one controller round: observe, NeedsFor, gather, Plan, write the status (the commit
// point), then the actions in order, with the fault the fuzzer chose.
func (w *fuzzWorld) round() {
	w.rounds++
	w.wakes = slices.DeleteFunc(w.wakes, func(t time.Time) bool { return !t.After(w.now) })
	lost := w.faulted || w.lastRound.Before(w.downUntil)
	w.empty.roundAt(w.now, w.lastRound, lost)
	w.unanalysed.roundAt(w.now, w.lastRound, lost)
	w.lastRound = w.now

	prev := w.c.Status.DeepCopy()
	obs := w.observe()
	needs := NeedsFor(w.c, obs)
	passed := w.gather(needs, &obs)
	d := Plan(w.c, obs)
	if !reflect.DeepEqual(*prev, w.c.Status) {
		w.fail("Plan modified the Canary's status")
	}
	if again := Plan(w.c, obs); !reflect.DeepEqual(d, again) {
		w.fail("Plan is not deterministic")
	}
	if d.RequeueAfter < 0 {
		w.fail("negative requeueAfter %s", d.RequeueAfter)
	}
	if slices.ContainsFunc(d.Actions, func(a Action) bool { return a.Type == EnsureRoute }) &&
		slices.ContainsFunc(d.Actions, func(a Action) bool { return a.Type == SetRoute }) {
		// The router's Ensure would write from a cache that has not seen SetRoute's write.
		w.fail("EnsureRoute in a round that sets the route")
	}

	fault, k := w.fault, len(d.Actions)
	w.fault = faultNone
	if w.clean {
		fault = faultNone
	}
	line := fmt.Sprintf("%s  round %d  %s | needs %s | %s w=%d | %s", w.offset(), w.rounds, describeObs(&obs),
		describeNeeds(needs, obs.Checks), d.Status.Phase, d.Status.CanaryWeight, formatActions(d.Actions))
	if fault == faultLostWrite {
		w.logf("%s | STATUS WRITE LOST", line)
		w.faulted = true
		w.wakeAt(w.now.Add(time.Second))
		w.check(prev, nil, nil)
		return
	}
	w.c.Status = fuzzRoundTrip(w.t, d.Status)
	note := ""
	switch fault {
	case faultPrefix:
		k = min(w.prefix, len(d.Actions))
		note = fmt.Sprintf(" | CRASH after %d/%d actions", k, len(d.Actions))
	case faultConcurrentRevision:
		note = " | target changed before the actions: " + w.newRevision(w.revs%2 == 1)
		w.wakeAt(w.now)
	case faultConcurrentDelete:
		note = " | target deleted before the actions"
		w.target = fuzzTarget{}
		w.wakeAt(w.now)
	}
	applied, err := w.apply(d.Actions[:k])
	if err != nil {
		note += fmt.Sprintf(" | action %s failed: %v", d.Actions[applied].Type, err)
	}
	w.faulted = k < len(d.Actions) || err != nil
	if w.faulted {
		w.wakeAt(w.now.Add(time.Second))
	} else if d.RequeueAfter > 0 {
		w.wakeAt(w.now.Add(d.RequeueAfter))
	}
	w.logf("%s%s", line, note)
	w.logf("%s    status %s", strings.Repeat(" ", 9), describeStatus(&w.c.Status))
	for _, e := range d.Events {
		w.logf("%s    event %s: %s", strings.Repeat(" ", 9), e.Reason, e.Message)
	}
	w.evidence(prev, &d, needs, passed)
	w.trackWindows()
	w.check(prev, &d, &needs)
}

// apply executes actions as the controller's executors do, and stops at the first that fails.
func (w *fuzzWorld) apply(actions []Action) (int, error) {
	for i, a := range actions {
		if err := w.do(a); err != nil {
			return i, err
		}
		if (a.Type == Promote || a.Type == EnsurePrimary) && w.c.Status.Phase == siskinv1.PhaseInitializing && w.primary.exists {
			w.allow(w.primary.fp, "initialization")
		}
	}
	return len(actions), nil
}

func (w *fuzzWorld) do(a Action) error {
	t := &w.target
	switch a.Type {
	case EnsureServices, EnsureRoute:
		if !EnsuresRoute(a, w.c.Spec.Provider) {
			break
		}
		if w.route.notOwned {
			return fmt.Errorf("virtualservice is not Siskin's")
		}
		if !w.route.exists {
			w.route = fuzzRoute{exists: true, primary: fullWeight, confirmAt: w.now.Add(w.routeLag)}
			w.wakeAt(w.route.confirmAt)
		}
	case EnsurePrimary:
		if !t.exists {
			return fmt.Errorf("target not found")
		}
		if !w.primary.exists {
			w.primary = fuzzPrimary{exists: true, fp: t.fp, readyAt: w.now.Add(w.primaryDelay), stuck: w.primary.stuck}
			w.wakeAt(w.primary.readyAt)
		}
	case ScaleTargetUp:
		if !t.exists {
			return fmt.Errorf("target not found")
		}
		if t.replicas == 0 {
			t.replicas, t.readyAt = 2, w.now.Add(w.targetDelay)
			w.wakeAt(t.readyAt)
		}
	case ScaleTargetDown:
		if t.exists {
			t.replicas = 0
		}
	case Promote:
		switch {
		case a.Revision == "":
			return fmt.Errorf("promote without a revision")
		case !t.exists:
			return fmt.Errorf("target not found")
		case t.fp != a.Revision:
			return fmt.Errorf("analysed revision %s, target now has %s: target revision changed", a.Revision, t.fp)
		}
		if !w.primary.exists || w.primary.fp != a.Revision {
			w.primary = fuzzPrimary{exists: true, fp: a.Revision, readyAt: w.now.Add(w.primaryDelay), stuck: w.primary.stuck}
			w.wakeAt(w.primary.readyAt)
		}
	case SetRoute:
		if w.route.notOwned {
			return fmt.Errorf("virtualservice is not Siskin's")
		}
		r := w.route
		if r.exists && r.primary == a.Route.PrimaryWeight && r.canary == a.Route.CanaryWeight && r.baseline == a.Route.BaselineWeight && r.mirror == a.Route.Mirror {
			// Writing the same weights again changes nothing (no new generation for a Gateway
			// to accept): the confirmation already under way is not restarted.
			break
		}
		w.route = fuzzRoute{exists: true, primary: a.Route.PrimaryWeight, canary: a.Route.CanaryWeight, baseline: a.Route.BaselineWeight, mirror: a.Route.Mirror, confirmAt: w.now.Add(w.routeLag)}
		if got := w.route.primary + w.route.canary + w.route.baseline; got != fullWeight {
			w.fail("SetRoute asks for weights that add up to %d: %+v", got, a.Route)
		}
		w.wakeAt(w.route.confirmAt)
	case EnsureBaseline:
		if !w.primary.exists {
			return fmt.Errorf("primary not found")
		}
		if !w.baseline.exists || w.baseline.fp != w.primary.fp {
			w.baseline = fuzzPrimary{exists: true, fp: w.primary.fp, readyAt: w.now.Add(w.targetDelay)}
			w.wakeAt(w.baseline.readyAt)
		}
	case RemoveBaseline:
		if w.route.baseline > 0 {
			w.fail("the baseline was removed while the route sends it %d%%", w.route.baseline)
		}
		w.baseline = fuzzPrimary{}
	case CallWebhooks:
	default:
		return fmt.Errorf("unknown action %q", a.Type)
	}
	return nil
}

// evidence records what a durably written status says about revisions reaching the primary.
func (w *fuzzWorld) evidence(prev *siskinv1.CanaryStatus, d *Decision, needs Needs, passed bool) {
	st := &w.c.Status
	if st.LastAppliedSpec != prev.LastAppliedSpec || !sameTime(st.RolloutStartTime, prev.RolloutStartTime) {
		delete(w.passing, st.LastAppliedSpec)
	}
	if needs.Step && passed && st.LastAppliedSpec == prev.LastAppliedSpec {
		w.passing[st.LastAppliedSpec]++
	}
	if st.Phase != siskinv1.PhasePromoting || prev.Phase == siskinv1.PhasePromoting {
		return
	}
	rev := st.LastAppliedSpec
	switch {
	case slices.ContainsFunc(d.Events, func(e Event) bool { return e.Reason == siskinv1.ReasonManualPromote }):
		w.allow(rev, "manual promote")
	case w.c.Spec.SkipAnalysis:
		w.allow(rev, "skipAnalysis")
	case !analysing(prev.Phase):
		w.fail("revision %s moved to Promoting from phase %s without analysis or a person's decision", rev, prev.Phase)
	case !needs.Step || !passed:
		w.fail("revision %s moved to Promoting in a round whose step did not pass (step=%t passed=%t)", rev, needs.Step, passed)
	case w.passing[rev] == 0:
		w.fail("revision %s moved to Promoting without a passing step with metrics", rev)
	default:
		w.allow(rev, "analysis")
	}
}

func (w *fuzzWorld) allow(rev, why string) {
	if _, ok := w.allowed[rev]; !ok {
		w.allowed[rev] = why
	}
}

// window is a span of time during which the world is in a state the controller must end: since
// when, when a round first saw it, and the time lost to faulted rounds and downtime since.
type window struct {
	since, seen time.Time
	grace       time.Duration
}

func (v *window) track(now time.Time, on bool) {
	switch {
	case !on:
		*v = window{}
	case v.since.IsZero():
		v.since = now
	}
}

// roundAt records a round at now; lost says the controller could not act since the last one.
func (v *window) roundAt(now, last time.Time, lost bool) {
	if v.since.IsZero() {
		return
	}
	if lost && !last.IsZero() {
		v.grace += now.Sub(maxTime(last, v.since))
	}
	if v.seen.IsZero() {
		v.seen = now
	}
}

// exceeded reports how long the window lasted and whether that is longer than limit plus the
// time until a round saw it and the time lost since.
func (v *window) exceeded(now time.Time, limit time.Duration) (time.Duration, time.Duration, bool) {
	if v.since.IsZero() || v.seen.IsZero() {
		return 0, 0, false
	}
	allowed := limit + v.seen.Sub(v.since) + v.grace
	return now.Sub(v.since), allowed, now.Sub(v.since) > allowed
}

// trackWindows follows traffic weighted to a canary that has no available replica, and to a
// canary that runs a revision that is neither analysed nor promoted.
func (w *fuzzWorld) trackWindows() {
	weighted := w.route.exists && !w.route.notOwned && w.route.canary > 0
	w.empty.track(w.now, weighted && w.targetAvailable() == 0)
	st := &w.c.Status
	w.unanalysed.track(w.now, weighted && w.target.exists && w.target.fp != st.LastAppliedSpec && w.target.fp != st.LastPromotedSpec)
}

// check verifies the invariants after a round (d is nil when the status write was lost).
func (w *fuzzWorld) check(prev *siskinv1.CanaryStatus, d *Decision, needs *Needs) {
	st := &w.c.Status

	// 1 and 5: what the primary runs.
	if p := w.primary; p.exists && p.fp != st.LastPromotedSpec && st.Phase != siskinv1.PhaseInitializing {
		if _, ok := w.allowed[p.fp]; !ok {
			w.fail("invariant 1: the primary runs %s, which is neither lastPromotedSpec (%s) nor a revision that passed its analysis or was promoted by a person", p.fp, st.LastPromotedSpec)
		}
	}
	if p := w.primary; p.exists && w.bad[p.fp] {
		if why := w.allowed[p.fp]; why != "manual promote" && why != "skipAnalysis" && why != "initialization" {
			w.fail("invariant 5: the primary runs the bad revision %s (allowed by %q)", p.fp, why)
		}
	}

	// 2: a Failed Canary whose rollback is confirmed.
	if st.Phase == siskinv1.PhaseFailed && !rollbackPending(st) && !w.route.notOwned {
		stalled, promoted := stalledReason(st), promotedReason(st)
		excused := stalled == siskinv1.ReasonPrimaryDrift || reconcilingReason(st) == siskinv1.ReasonPrimaryDrift || promoted == siskinv1.ReasonPromotionFailed
		if r := w.route; promoted != siskinv1.ReasonPromotionFailed && (!r.exists || r.primary != fullWeight || r.canary != 0 || r.mirror) {
			w.fail("invariant 2: Failed with the rollback confirmed, but the route sends %d/%d (mirror %t)", r.primary, r.canary, r.mirror)
		}
		if !excused && (!w.primary.exists || w.primary.fp != st.LastPromotedSpec) {
			w.fail("invariant 2: Failed with the rollback confirmed, but the primary runs %s, not lastPromotedSpec %s", w.primary.fp, st.LastPromotedSpec)
		}
	}

	// 3: no step counted twice.
	if d != nil {
		sameRollout := st.LastAppliedSpec == prev.LastAppliedSpec && sameTime(st.RolloutStartTime, prev.RolloutStartTime)
		if sameRollout && st.FailedChecks > prev.FailedChecks {
			if st.FailedChecks > prev.FailedChecks+1 {
				w.fail("invariant 3: failedChecks went from %d to %d in one round", prev.FailedChecks, st.FailedChecks)
			}
			if !needs.Step {
				w.fail("invariant 3: failedChecks increased in a round without a step")
			}
		}
		if sameRollout && st.AnalysisErrors > prev.AnalysisErrors+1 {
			w.fail("invariant 3: analysisErrors went from %d to %d in one round", prev.AnalysisErrors, st.AnalysisErrors)
		}
		if sameRollout && prev.LastStepTime != nil && st.LastStepTime != nil {
			if st.LastStepTime.Before(prev.LastStepTime) {
				w.fail("invariant 3: lastStepTime went back from %s to %s", prev.LastStepTime.UTC(), st.LastStepTime.UTC())
			}
			if analysing(prev.Phase) && analysing(st.Phase) && !st.LastStepTime.Equal(prev.LastStepTime) &&
				st.LastStepTime.Sub(prev.LastStepTime.Time) < w.interval {
				w.fail("invariant 3: two analysis steps %s apart, less than the interval", st.LastStepTime.Sub(prev.LastStepTime.Time))
			}
		}
	}

	// 4: traffic weighted to a canary without an available replica.
	if lasted, allowed, bad := w.empty.exceeded(w.now, w.interval+time.Second+w.routeLag); bad {
		w.fail("invariant 4: %d%% of traffic has gone to a canary without an available replica for %s (allowed %s)", w.route.canary, lasted, allowed)
	}
	// 6: traffic weighted to a revision nobody analysed or promoted ends in the first round
	// that sees it.
	if lasted, allowed, bad := w.unanalysed.exceeded(w.now, 0); bad {
		w.fail("invariant 6: %d%% of traffic has gone to the canary running %s, neither analysed (%s) nor promoted (%s), for %s (allowed %s)",
			w.route.canary, w.target.fp, st.LastAppliedSpec, st.LastPromotedSpec, lasted, allowed)
	}
}

// drain heals the world and lets the controller run without faults: the rollout must come to
// rest, in a state that matches what it reports.
func (w *fuzzWorld) drain() {
	w.logf("%s  -- the world heals: target present and healthy, primary unstuck, route owned, gates open, Prometheus answers", w.offset())
	w.clean, w.fault, w.queued = true, faultNone, false
	w.route.notOwned = false
	w.downUntil = time.Time{}
	if !w.target.exists {
		w.setTarget(fmt.Sprintf("rev-%d-good", w.revs+1))
		w.revs++
	}
	if w.target.health != podsHealthy {
		w.target.health = podsHealthy
	}
	if w.primary.stuck {
		w.primary.stuck = false
	}
	if w.c.Status.Paused || (w.c.Annotations[siskinv1.AnnotationPause] != "" && w.c.Annotations[siskinv1.AnnotationResume] != w.c.Annotations[siskinv1.AnnotationPause]) {
		w.annotate(siskinv1.AnnotationResume)
	}
	w.wakeAt(w.now)
	limit := w.now.Add(2 * time.Hour)
	for w.now.Before(limit) && w.rounds < 3000 {
		next, ok := w.nextWake()
		if !ok {
			break
		}
		w.setClock(next)
		w.round()
	}
	st := &w.c.Status
	if w.baseline.exists && atRest(st) && w.route.baseline == 0 && w.c.Spec.Analysis.Comparison != nil && w.c.Spec.Analysis.Comparison.Control == siskinv1.ControlBaseline {
		w.fail("liveness: at rest in %s, but <target>-baseline was left running", st.Phase)
	}
	if !atRest(st) {
		w.fail("liveness: a healed world did not bring the rollout to rest (phase %s, reconciling %s)", st.Phase, reconcilingReason(st))
	}
	if st.Phase != siskinv1.PhaseFailed && (w.primary.fp != st.LastPromotedSpec || w.route.canary != 0 || w.route.mirror) {
		w.fail("liveness: at rest in %s, but the primary runs %s (promoted %s) and the route sends %d/%d", st.Phase, w.primary.fp, st.LastPromotedSpec, w.route.primary, w.route.canary)
	}
}

func (w *fuzzWorld) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("%s: %s\nconfig: %s\nworld: target %s, primary %s, route %s\nlast rounds:\n%s", w.offset(), fmt.Sprintf(format, args...),
		w.config, describeTarget(&w.target, w.targetAvailable()), describePrimary(&w.primary), describeRoute(&w.route), strings.Join(w.trace, "\n"))
}

func (w *fuzzWorld) logf(format string, args ...any) {
	w.trace = append(w.trace, fmt.Sprintf(format, args...))
	if n := len(w.trace); n > fuzzTraceLines {
		w.trace = w.trace[n-fuzzTraceLines:]
	}
}

func (w *fuzzWorld) offset() string {
	d := w.now.Sub(w.start)
	return fmt.Sprintf("+%02d:%02d:%06.3f", int(d.Hours()), int(d.Minutes())%60, (d % time.Minute).Seconds())
}
