package canary

import (
	"slices"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Whole-rollout simulations: a fake world (world_test.go) executes every Decision, advances a
// fake clock to the next reconcile and feeds observations back. Each writes a step log compared
// with testdata/<name>.golden; go test ./pkg/canary/... -update rewrites them.

// withHooks adds the webhooks of the Flagger tutorial: an acceptance test before the rollout, a
// load test at every step, and a notification after it.
func withHooks(c *siskinv1.Canary) {
	hook(c, siskinv1.PreRolloutHook)
	hook(c, siskinv1.RolloutHook)
	hook(c, siskinv1.PostRolloutHook)
}

func promotionScenario() scenario {
	return scenario{
		name:   "promotion",
		canary: withHooks,
		script: []scripted{newRevision(2*time.Minute, revNew)},
	}
}

func scenarios() []scenario {
	return []scenario{
		promotionScenario(),
		{
			name:     "rollback",
			canary:   withHooks,
			script:   []scripted{newRevision(2*time.Minute, revNew)},
			verdicts: map[int]siskinv1.CheckVerdict{2: siskinv1.VerdictFail, 3: siskinv1.VerdictFail},
		},
		{
			name:   "ab-testing",
			canary: func(c *siskinv1.Canary) { abTestingSpec(c, 3); hook(c, siskinv1.RolloutHook) },
			script: []scripted{newRevision(2*time.Minute, revNew)},
		},
		{
			name:   "blue-green",
			canary: func(c *siskinv1.Canary) { blueGreenSpec(c, 3); hook(c, siskinv1.RolloutHook) },
			script: []scripted{newRevision(2*time.Minute, revNew)},
		},
		{
			name: "blue-green-mirror",
			canary: func(c *siskinv1.Canary) {
				blueGreenSpec(c, 3)
				c.Spec.Analysis.Mirror, c.Spec.Analysis.MirrorWeight = true, ptr[int32](50)
			},
			script: []scripted{newRevision(2*time.Minute, revNew)},
		},
		{
			name: "blue-green-kubernetes",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Provider = siskinv1.ProviderKubernetes
				blueGreenSpec(c, 3)
			},
			script: []scripted{newRevision(2*time.Minute, revNew)},
		},
		{
			name:   "canary-mirror",
			canary: func(c *siskinv1.Canary) { c.Spec.Analysis.Mirror = true },
			script: []scripted{newRevision(2*time.Minute, revNew)},
		},
		{
			name:   "new-revision",
			canary: withHooks,
			script: []scripted{newRevision(2*time.Minute, revNew), newRevision(4*time.Minute+30*time.Second, revNewer)},
		},
		{
			name:   "skip-analysis",
			canary: func(c *siskinv1.Canary) { c.Spec.SkipAnalysis = true; hook(c, siskinv1.PostRolloutHook) },
			script: []scripted{newRevision(2*time.Minute, revNew)},
		},
		{
			name:   "manual",
			canary: withHooks,
			script: []scripted{
				newRevision(2*time.Minute, revNew),
				annotate(3*time.Minute+30*time.Second, siskinv1.AnnotationPause, "1"),
				annotate(6*time.Minute, siskinv1.AnnotationResume, "1"),
				annotate(6*time.Minute+30*time.Second, siskinv1.AnnotationAbort, "1"),
				annotate(8*time.Minute, siskinv1.AnnotationRetry, "1"),
				annotate(8*time.Minute+10*time.Second, siskinv1.AnnotationRetry, "2"),
				annotate(9*time.Minute+30*time.Second, siskinv1.AnnotationPromote, "1"),
			},
		},
		gatesScenario(),
	}
}

// gatesScenario waits for everything a rollout can wait for: approval to start, a metric
// without data, approval of a weight increase and of the promotion; then it moves traffic back
// to the primary in steps.
func gatesScenario() scenario {
	return scenario{
		name: "gates-and-waits",
		canary: func(c *siskinv1.Canary) {
			hook(c, siskinv1.ConfirmRolloutHook)
			hook(c, siskinv1.ConfirmTrafficIncreaseHook)
			hook(c, siskinv1.ConfirmPromotionHook, func(w *siskinv1.CanaryWebhook) { w.GateTimeout = "1h" })
			c.Spec.Analysis.StepWeightPromotion = 10
		},
		script:   []scripted{newRevision(2*time.Minute, revNew)},
		verdicts: map[int]siskinv1.CheckVerdict{2: siskinv1.VerdictNoData},
		gate: func(w *world, t siskinv1.WebhookType) Gate {
			el := w.now.Sub(w.start)
			open := true
			switch t {
			case siskinv1.ConfirmRolloutHook:
				open = el >= 4*time.Minute
			case siskinv1.ConfirmTrafficIncreaseHook:
				open = el < 7*time.Minute || el >= 8*time.Minute
			case siskinv1.ConfirmPromotionHook:
				open = el >= 11*time.Minute
			case siskinv1.RollbackHook:
				open = false
			}
			if open {
				return Gate{Open: true}
			}
			return Gate{Message: string(t) + "-hook answered 403: not yet"}
		},
	}
}

func TestSimulation(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			w := simulate(t, sc)
			golden(t, sc.name, w.log.String())
		})
	}
}

// TestSimulationOutcomes states what each golden log must show, so a careless -update cannot
// bless a broken rollout.
func TestSimulationOutcomes(t *testing.T) {
	want := map[string]struct {
		phase    siskinv1.CanaryPhase
		promoted string
		steps    int
	}{
		"promotion":             {siskinv1.PhaseSucceeded, revNew, 4},
		"rollback":              {siskinv1.PhaseFailed, revOld, 3},
		"ab-testing":            {siskinv1.PhaseSucceeded, revNew, 4},
		"blue-green":            {siskinv1.PhaseSucceeded, revNew, 5},
		"blue-green-mirror":     {siskinv1.PhaseSucceeded, revNew, 5},
		"blue-green-kubernetes": {siskinv1.PhaseSucceeded, revNew, 4},
		"canary-mirror":         {siskinv1.PhaseSucceeded, revNew, 5},
		"new-revision":          {siskinv1.PhaseSucceeded, revNewer, 6},
		"skip-analysis":         {siskinv1.PhaseSucceeded, revNew, 0},
		"manual":                {siskinv1.PhaseSucceeded, revNew, 3},
		"gates-and-waits":       {siskinv1.PhaseSucceeded, revNew, 7},
	}
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			w := simulate(t, sc)
			exp, ok := want[sc.name]
			if !ok {
				t.Fatal("no expected outcome for this scenario")
			}
			st := &w.c.Status
			if st.Phase != exp.phase || st.LastPromotedSpec != exp.promoted || len(w.steps) != exp.steps || w.target.replicas != 0 {
				t.Errorf("ended %s promoting %s after %d steps with the target at %d replicas; want %s, %s, %d steps, scaled to zero",
					st.Phase, st.LastPromotedSpec, len(w.steps), w.target.replicas, exp.phase, exp.promoted, exp.steps)
			}
			if w.route.PrimaryWeight != 100 || w.route.Mirror {
				t.Errorf("ended with route %+v, want all traffic on the primary", w.route)
			}
			if w.primary.fp != exp.promoted {
				t.Errorf("the primary runs %s, want %s", w.primary.fp, exp.promoted)
			}
		})
	}
}

// TestRestartKeepsTheSchedule re-plans from the status alone (always through JSON) at odd
// moments, and with the controller down for a while: no step is repeated, skipped or run
// closer than one interval to the previous one.
func TestRestartKeepsTheSchedule(t *testing.T) {
	base := simulate(t, promotionScenario())

	noisy := promotionScenario()
	noisy.every = 7 * time.Second
	n := simulate(t, noisy)
	if !slices.Equal(base.steps, n.steps) {
		t.Errorf("spurious reconciles changed the step times:\n got %v\nwant %v", n.steps, base.steps)
	}
	if got, want := slices.Compact(n.changes), slices.Compact(base.changes); !slices.Equal(got, want) {
		t.Errorf("spurious reconciles changed the transitions:\n got %v\nwant %v", got, want)
	}

	down := promotionScenario()
	down.down = [2]time.Duration{3*time.Minute + 20*time.Second, 6*time.Minute + 40*time.Second}
	d := simulate(t, down)
	golden(t, "restart", d.log.String())
	if len(d.steps) != len(base.steps) {
		t.Errorf("%d steps after a restart, want %d: none skipped", len(d.steps), len(base.steps))
	}
	restart := d.start.Add(down.down[1])
	for i, s := range d.steps {
		if s.After(d.start.Add(down.down[0])) && s.Before(restart) {
			t.Errorf("step %d ran at %s while the controller was down", i+1, s)
		}
	}
	if i := slices.Index(d.steps, restart); i < 0 || i+1 >= len(d.steps) || d.steps[i+1].Sub(restart) != time.Minute {
		t.Errorf("want one step at the restart and the next a full interval later; steps %v", d.steps)
	}
	if d.c.Status.Phase != siskinv1.PhaseSucceeded {
		t.Errorf("ended %s, want Succeeded", d.c.Status.Phase)
	}
}
