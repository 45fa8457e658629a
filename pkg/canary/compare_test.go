package canary

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// comparing gives c a comparison of errors with the primary, looks every 10s.
func comparing(c *siskinv1.Canary, mods ...func(*siskinv1.CanaryComparison)) *siskinv1.Canary {
	cmp := &siskinv1.CanaryComparison{LookInterval: "10s", Metrics: []siskinv1.ComparedMetric{{Name: siskinv1.MetricRequestSuccessRate}}}
	for _, m := range mods {
		m(cmp)
	}
	c.Spec.Analysis.Comparison = cmp
	return c
}

// traffic is a deterministic world for comparisons: rps requests a second split by the route,
// errors at base on the control and base*ratio on the canary, counted as expected values.
type traffic struct {
	t      *testing.T
	c      *siskinv1.Canary
	now    time.Time
	rps    float64
	base   float64
	ratio  float64
	events []Event
	// manual is applied to the Canary's annotations before the round at or after its time.
	manual map[time.Time][2]string
	last   Decision
}

// newTraffic starts revNew's analysis at t0, weight 0.
func newTraffic(t *testing.T, c *siskinv1.Canary, rps, base, ratio float64) *traffic {
	progressingStatus(c, 0)
	c.Status.RolloutStartTime = ptr(metav1.NewTime(t0))
	c.Status.Iterations = 0
	return &traffic{t: t, c: c, now: t0, rps: rps, base: base, ratio: ratio}
}

func (w *traffic) round() Decision {
	obs := obsFor(w.c, w.now)
	for at, kv := range w.manual {
		if !w.now.Before(at) {
			if w.c.Annotations == nil {
				w.c.Annotations = map[string]string{}
			}
			w.c.Annotations[kv[0]] = kv[1]
		}
	}
	obs.Manual = w.c.Annotations
	needs := NeedsFor(w.c, obs)
	if needs.Step {
		obs.Checks = []siskinv1.CheckResult{metricCheck(siskinv1.VerdictPass, w.now)}
	}
	if needs.Compare {
		obs.Comparisons = []ComparisonSample{w.sample(needs)}
	}
	d := Plan(w.c, obs)
	w.c.Status = roundTrip(w.t, d.Status)
	w.events = append(w.events, d.Events...)
	w.last = d
	return d
}

func (w *traffic) sample(n Needs) ComparisonSample {
	secs := w.now.Sub(n.CompareSince).Seconds()
	r := obsFor(w.c, w.now).Route
	canary := w.rps * secs * float64(r.CanaryWeight) / 100
	control := w.rps * secs * float64(r.PrimaryWeight) / 100
	if r.BaselineWeight > 0 {
		control = w.rps * secs * float64(r.BaselineWeight) / 100
	}
	return ComparisonSample{Name: siskinv1.MetricRequestSuccessRate,
		Canary:  Counts{Requests: canary, Events: canary * w.base * w.ratio},
		Control: Counts{Requests: control, Events: control * w.base}}
}

// until runs rounds every 5s until the phase is one of phases or the horizon passes.
func (w *traffic) until(horizon time.Duration, phases ...siskinv1.CanaryPhase) {
	for end := w.now.Add(horizon); w.now.Before(end); w.now = w.now.Add(5 * time.Second) {
		w.round()
		for _, p := range phases {
			if w.c.Status.Phase == p {
				return
			}
		}
	}
}

func (w *traffic) event(reason string) *Event {
	for i := range w.events {
		if w.events[i].Reason == reason {
			return &w.events[i]
		}
	}
	return nil
}

func TestComparisonRollsBackARegressionAtALookBetweenSteps(t *testing.T) {
	w := newTraffic(t, comparing(newCanary()), 200, 0.01, 3)
	w.until(10*time.Minute, siskinv1.PhaseFailed, siskinv1.PhaseSucceeded)
	if w.c.Status.Phase != siskinv1.PhaseFailed {
		t.Fatalf("phase %s after a 3x error regression, want Failed; events %s", w.c.Status.Phase, formatEvents(w.events))
	}
	e := w.event(siskinv1.ReasonRegressionDetected)
	if e == nil || !e.Warning {
		t.Fatalf("no RegressionDetected warning: %s", formatEvents(w.events))
	}
	for _, want := range []string{"errors", "× the primary's (95% CS", "canary requests", "evidence of a regression"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("the rollback says %q, want it to say %q", e.Message, want)
		}
	}
	if off := w.now.Sub(t0) % time.Minute; off == 0 {
		t.Errorf("rolled back at +%s, a step: the regression should be acted on at the first look that shows it", w.now.Sub(t0))
	}
	ms := w.c.Status.Comparison.Metrics[0]
	if ms.Verdict != siskinv1.ComparisonRegression || ms.Ratio != "3.00" || ms.State == "" {
		t.Errorf("compared metric status %+v", ms)
	}
}

func TestComparisonPromotesAGoodReleaseOnSchedule(t *testing.T) {
	w := newTraffic(t, comparing(newCanary()), 200, 0.01, 1)
	w.until(10*time.Minute, siskinv1.PhasePromoting, siskinv1.PhaseFailed)
	if w.c.Status.Phase != siskinv1.PhasePromoting || w.event(siskinv1.ReasonPromotionStarted) == nil {
		t.Fatalf("phase %s, events %s: a release as good as the primary is promoted at the end of its schedule", w.c.Status.Phase, formatEvents(w.events))
	}
	if got := w.now.Sub(t0); got != 4*time.Minute {
		t.Errorf("promoted at +%s, want +4m (steps to 10, 20, 30, then promotion)", got)
	}
}

func TestEarlyPassSkipsTheRemainingSteps(t *testing.T) {
	c := newCanary()
	c.Spec.Analysis.MaxWeight = ptr[int32](50)
	w := newTraffic(t, comparing(c, func(cmp *siskinv1.CanaryComparison) { cmp.EarlyPass = true }), 5000, 0.02, 1)
	w.until(10*time.Minute, siskinv1.PhasePromoting, siskinv1.PhaseFailed)
	e := w.event(siskinv1.ReasonEarlyPass)
	if w.c.Status.Phase != siskinv1.PhasePromoting || e == nil {
		t.Fatalf("phase %s, events %s: want an early pass", w.c.Status.Phase, formatEvents(w.events))
	}
	if w.c.Status.CanaryWeight >= 50 {
		t.Errorf("promoted from weight %d: early pass should skip the steps to 50", w.c.Status.CanaryWeight)
	}
	if !strings.Contains(e.Message, "not worse by more than the margin") {
		t.Errorf("the early pass says %q", e.Message)
	}
}

func TestNoPromotionBeforeTheMinimumEvidence(t *testing.T) {
	c := comparing(newCanary(), func(cmp *siskinv1.CanaryComparison) { cmp.MinRequests = ptr[int64](100000) })
	w := newTraffic(t, c, 50, 0.01, 1)
	w.until(5*time.Minute, siskinv1.PhasePromoting)
	if w.c.Status.Phase != siskinv1.PhaseProgressing || conditionOf(&w.c.Status, siskinv1.ConditionReconciling) != "True/"+siskinv1.ReasonWaitingForEvidence {
		t.Fatalf("phase %s, reconciling %s: want a wait for evidence instead of a promotion", w.c.Status.Phase, conditionOf(&w.c.Status, siskinv1.ConditionReconciling))
	}
	w.until(15*time.Minute, siskinv1.PhaseFailed, siskinv1.PhasePromoting)
	if w.c.Status.Phase != siskinv1.PhaseFailed {
		t.Fatalf("phase %s: a rollout that never gets its evidence is rolled back at the progress deadline", w.c.Status.Phase)
	}
}

func TestLooksAreAskedForBetweenSteps(t *testing.T) {
	c := comparing(newCanary())
	progressingStatus(c, 10)
	if n := NeedsFor(c, obsFor(c, t0.Add(5*time.Second))); !n.Compare || !n.CompareSince.Equal(c.Status.RolloutStartTime.Time) {
		t.Fatalf("needs %+v: the first look of a rollout reads from its start", n)
	}
	c.Status.Comparison = &siskinv1.ComparisonStatus{Revision: revNew, LastLookTime: ptr(metav1.NewTime(t0))}
	n := NeedsFor(c, obsFor(c, t0.Add(5*time.Second)))
	if n.Compare || n.Step {
		t.Fatalf("needs %+v 5s after the step, before the 10s look", n)
	}
	n = NeedsFor(c, obsFor(c, t0.Add(10*time.Second)))
	if !n.Compare || n.Step || n.Control != "podinfo-primary" || !n.CompareSince.Equal(t0) {
		t.Fatalf("needs %+v at the first look", n)
	}
	c.Status.Paused = true
	if n := NeedsFor(c, obsFor(c, t0.Add(10*time.Second))); n.Compare {
		t.Fatal("a paused rollout looks")
	}
}

func TestAdviseModeAsksAPersonInsteadOfRollingBack(t *testing.T) {
	advised := func(onTimeout string) *siskinv1.Canary {
		c := comparing(newCanary())
		c.Spec.Analysis.Advise = &siskinv1.CanaryAdvise{Timeout: "30m", OnTimeout: onTimeout}
		return c
	}
	t.Run("it pauses with the evidence", func(t *testing.T) {
		w := newTraffic(t, advised(""), 200, 0.01, 3)
		w.until(10*time.Minute, siskinv1.PhaseFailed)
		st := &w.c.Status
		if st.Phase != siskinv1.PhaseProgressing || !st.Paused || st.Advice == nil {
			t.Fatalf("phase %s paused %v advice %v: want a pause that asks", st.Phase, st.Paused, st.Advice)
		}
		e := w.event(siskinv1.ReasonAdviceRequested)
		if e == nil || !strings.Contains(e.Message, "kubectl siskin") || !strings.Contains(e.Message, "× the primary's") {
			t.Fatalf("advice event %+v", e)
		}
		if rq := w.last.RequeueAfter; rq <= 0 || rq > 30*time.Minute {
			t.Errorf("requeue after %s while asking: the timeout must bring the rollout back", rq)
		}
		w.until(35*time.Minute, siskinv1.PhaseFailed)
		if st := &w.c.Status; st.Phase != siskinv1.PhaseFailed || w.event(siskinv1.ReasonAdviceTimeout) == nil {
			t.Fatalf("phase %s after the advice timed out, want a rollback (onTimeout rollback)", st.Phase)
		}
	})
	t.Run("a person lets it go on", func(t *testing.T) {
		w := newTraffic(t, advised(""), 200, 0.01, 3)
		w.until(10*time.Minute, siskinv1.PhaseFailed)
		asked := w.c.Status.Advice.Since.Time
		w.manual = map[time.Time][2]string{asked.Add(time.Minute): {siskinv1.AnnotationResume, "yes-1"}}
		w.until(20*time.Minute, siskinv1.PhasePromoting, siskinv1.PhaseFailed)
		st := &w.c.Status
		if st.Phase != siskinv1.PhasePromoting {
			t.Fatalf("phase %s, events %s: resumed by a person, the rollout goes on to promotion", st.Phase, formatEvents(w.events))
		}
		if v := st.Comparison.Metrics[0].Verdict; v != siskinv1.ComparisonAcknowledged {
			t.Errorf("verdict %s after a person let the regression go, want Acknowledged", v)
		}
	})
	t.Run("onTimeout continue goes on", func(t *testing.T) {
		w := newTraffic(t, advised(siskinv1.AdviseContinue), 200, 0.01, 3)
		w.until(60*time.Minute, siskinv1.PhasePromoting, siskinv1.PhaseFailed)
		if st := &w.c.Status; st.Phase != siskinv1.PhasePromoting || w.event(siskinv1.ReasonAdviceTimeout) == nil {
			t.Fatalf("phase %s, events %s", st.Phase, formatEvents(w.events))
		}
	})
	t.Run("on all asks about failed checks too", func(t *testing.T) {
		c := newCanary()
		c.Spec.Analysis.Threshold = 1
		c.Spec.Analysis.Advise = &siskinv1.CanaryAdvise{On: siskinv1.AdviseOnAll}
		progressingStatus(c, 10)
		obs := obsFor(c, t0.Add(time.Minute))
		obs.Checks = []siskinv1.CheckResult{metricCheck(siskinv1.VerdictFail, obs.Now)}
		d := Plan(c, obs)
		if d.Status.Phase != siskinv1.PhaseProgressing || d.Status.Advice == nil || d.Status.Advice.Reason != siskinv1.ReasonAnalysisCheckFailed {
			t.Fatalf("phase %s advice %+v", d.Status.Phase, d.Status.Advice)
		}
	})
}

func TestABaselineTakesTheCanarysWeight(t *testing.T) {
	c := comparing(newCanary(), func(cmp *siskinv1.CanaryComparison) { cmp.Control = siskinv1.ControlBaseline })
	progressingStatus(c, 20)
	s := settingsFor(c, &Observation{})
	if r := s.strategy.route(&c.Status); r.PrimaryWeight != 60 || r.CanaryWeight != 20 || r.BaselineWeight != 20 {
		t.Fatalf("route %+v, want 60/20 with 20 on the baseline", r)
	}
	obs := obsFor(c, t0.Add(10*time.Second))
	if n := NeedsFor(c, obs); n.Control != "podinfo-baseline" {
		t.Fatalf("control %q", n.Control)
	}
	obs.Baseline.Ready = false
	d := Plan(c, obs)
	if got := conditionOf(&d.Status, siskinv1.ConditionReconciling); got != "True/"+siskinv1.ReasonBaselineNotReady {
		t.Fatalf("reconciling %s with the baseline not ready", got)
	}
	obs.Baseline = Workload{}
	if d := Plan(c, obs); !strings.Contains(formatActions(d.Actions), string(EnsureBaseline)) {
		t.Fatalf("actions %s with the baseline missing", formatActions(d.Actions))
	}

	w := newTraffic(t, c, 200, 0.01, 3)
	w.until(10*time.Minute, siskinv1.PhaseFailed)
	if w.c.Status.Phase != siskinv1.PhaseFailed || w.event(siskinv1.ReasonRegressionDetected) == nil ||
		!strings.Contains(w.event(siskinv1.ReasonRegressionDetected).Message, "the baseline's") {
		t.Fatalf("phase %s events %s", w.c.Status.Phase, formatEvents(w.events))
	}
	obs = obsFor(w.c, w.now)
	obs.Baseline = Workload{Exists: true, Fingerprint: revOld, Ready: true, Replicas: 2}
	if d := Plan(w.c, obs); !strings.Contains(formatActions(d.Actions), string(RemoveBaseline)) {
		t.Fatalf("actions %s after the rollback's route is confirmed: the baseline must go", formatActions(d.Actions))
	}
}

func TestPlanScheduleOfACanaryWithAComparison(t *testing.T) {
	for _, control := range []string{siskinv1.ControlPrimary, siskinv1.ControlBaseline} {
		c := comparing(newCanary(), func(cmp *siskinv1.CanaryComparison) {
			cmp.Control, cmp.EarlyPass = control, true
			cmp.Metrics = append(cmp.Metrics, siskinv1.ComparedMetric{Name: siskinv1.MetricRequestDuration})
		})
		c.Spec.Analysis.Advise = &siskinv1.CanaryAdvise{}
		s, err := PlanSchedule(c, siskinv1.ProviderIstio)
		if err != nil {
			t.Fatalf("control %s: %v", control, err)
		}
		if s.Total != 4*time.Minute || s.EarliestRollback == nil {
			t.Errorf("control %s: total %s, earliest rollback %v; want the schedule of the spec (4m) and a rollback", control, s.Total, s.EarliestRollback)
		}
	}
}

func TestWarmupLeavesTheCanarysFirstTrafficOut(t *testing.T) {
	c := comparing(newCanary(), func(cmp *siskinv1.CanaryComparison) { cmp.Warmup = "90s" })
	w := newTraffic(t, c, 200, 0.01, 3)
	// Weight 0 for the first minute: no canary traffic, so the warm-up has not started.
	w.until(80*time.Second, siskinv1.PhaseFailed)
	ev := w.c.Status.Comparison
	if ev == nil || ev.CanaryTrafficSince == nil {
		t.Fatalf("comparison %+v: the look after the first step saw canary requests", ev)
	}
	started := ev.CanaryTrafficSince.Time
	w.until(10*time.Minute, siskinv1.PhaseFailed)
	if w.c.Status.Phase != siskinv1.PhaseFailed {
		t.Fatalf("phase %s: the regression is still caught after the warm-up", w.c.Status.Phase)
	}
	if at := w.now.Sub(started); at < 90*time.Second {
		t.Fatalf("rolled back %s after the canary's first requests, inside its 90s warm-up", at)
	}
	fresh := newTraffic(t, comparing(newCanary(), func(cmp *siskinv1.CanaryComparison) { cmp.Warmup = "90s" }), 200, 0.01, 3)
	fresh.until(100*time.Second, siskinv1.PhaseFailed)
	if m := fresh.c.Status.Comparison.Metrics[0]; m.Verdict != siskinv1.ComparisonNoData || !strings.Contains(m.Message, "warming up") || m.CanaryRequests != 0 {
		t.Fatalf("during the warm-up: %+v", m)
	}
}
