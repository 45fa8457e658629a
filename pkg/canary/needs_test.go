package canary

import (
	"reflect"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// needsCase is one answer of NeedsFor.
type needsCase struct {
	name   string
	canary func(*siskinv1.Canary)
	obs    func(*siskinv1.Canary, *Observation)
	at     time.Duration
	want   Needs
}

func progressing(w int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) { progressingStatus(c, w) }
}

// plusHooks adds webhooks of the types given after f.
func plusHooks(f func(*siskinv1.Canary), types ...siskinv1.WebhookType) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		f(c)
		for _, t := range types {
			hook(c, t)
		}
	}
}

var needsCases = []needsCase{{
	name:   "a canary at rest needs nothing",
	canary: plusHooks(succeededStatus, siskinv1.ConfirmRolloutHook, siskinv1.RollbackHook),
}, {
	name:   "a new revision needs the confirm-rollout gate",
	canary: plusHooks(succeededStatus, siskinv1.ConfirmRolloutHook, siskinv1.RollbackHook),
	obs:    target(revNew),
	want:   Needs{Gates: []siskinv1.WebhookType{siskinv1.ConfirmRolloutHook}},
}, {
	name:   "a new revision without confirm-rollout webhooks needs nothing",
	canary: succeededStatus,
	obs:    target(revNew),
}, {
	name:   "a due step needs the checks",
	canary: progressing(10),
	want:   Needs{Step: true},
}, {
	name:   "a due step needs the rollback gate and the gate of the next weight increase",
	canary: plusHooks(progressing(10), siskinv1.ConfirmTrafficIncreaseHook, siskinv1.ConfirmPromotionHook, siskinv1.RollbackHook),
	want:   Needs{Step: true, Gates: []siskinv1.WebhookType{siskinv1.RollbackHook, siskinv1.ConfirmTrafficIncreaseHook}},
}, {
	name:   "a due step at max weight needs the confirm-promotion gate",
	canary: plusHooks(progressing(30), siskinv1.ConfirmTrafficIncreaseHook, siskinv1.ConfirmPromotionHook),
	want:   Needs{Step: true, Gates: []siskinv1.WebhookType{siskinv1.ConfirmPromotionHook}},
}, {
	name: "the mirror step needs no confirm-traffic-increase gate",
	canary: func(c *siskinv1.Canary) {
		plusHooks(progressing(0), siskinv1.ConfirmTrafficIncreaseHook)(c)
		c.Spec.Analysis.Mirror, c.Status.Iterations = true, 0
	},
	want: Needs{Step: true, NoTraffic: true},
}, {
	name: "the first step of a revision needs its pre-rollout webhooks",
	canary: func(c *siskinv1.Canary) {
		plusHooks(progressing(0), siskinv1.PreRolloutHook)(c)
		c.Status.PreRolloutSpec = revOld
	},
	want: Needs{Step: true, PreRollout: true, NoTraffic: true},
}, {
	name:   "pre-rollout webhooks that passed for this revision are not needed again",
	canary: plusHooks(progressing(10), siskinv1.PreRolloutHook),
	want:   Needs{Step: true},
}, {
	name:   "a step not yet due needs nothing",
	canary: progressing(10),
	at:     59 * time.Second,
}, {
	name:   "a step needs nothing while the canary is not ready",
	canary: progressing(10),
	obs:    func(_ *siskinv1.Canary, o *Observation) { o.Target.Ready = false },
}, {
	name:   "a step needs nothing while the router has not confirmed the weight",
	canary: progressing(10),
	obs:    func(_ *siskinv1.Canary, o *Observation) { o.Route.CanaryWeight = 0 },
}, {
	name:   "a paused analysis needs nothing",
	canary: func(c *siskinv1.Canary) { progressingStatus(c, 10); c.Status.Paused = true },
	at:     time.Hour,
}, {
	name:   "a pending pause needs nothing",
	canary: progressing(10),
	obs:    manual(siskinv1.AnnotationPause, "t1"),
}, {
	name:   "a pending resume of a due step needs the step",
	canary: func(c *siskinv1.Canary) { progressingStatus(c, 10); c.Status.Paused = true },
	obs:    manual(siskinv1.AnnotationResume, "t1"),
	want:   Needs{Step: true},
}, {
	name:   "a pending abort needs nothing",
	canary: progressing(10),
	obs:    manual(siskinv1.AnnotationAbort, "t1"),
}, {
	name: "a pending retry needs the confirm-rollout gate",
	canary: func(c *siskinv1.Canary) {
		restingStatus(c, siskinv1.PhaseFailed)
		c.Status.LastAppliedSpec = revNew
		hook(c, siskinv1.ConfirmRolloutHook)
	},
	obs:  manual(siskinv1.AnnotationRetry, "t1"),
	want: Needs{Gates: []siskinv1.WebhookType{siskinv1.ConfirmRolloutHook}},
}, {
	name:   "a due gate poll while waiting needs the confirm-rollout and rollback gates",
	canary: func(c *siskinv1.Canary) { waitingStatus(c); hook(c, siskinv1.RollbackHook) },
	obs:    waitingTarget,
	want:   Needs{Gates: []siskinv1.WebhookType{siskinv1.ConfirmRolloutHook, siskinv1.RollbackHook}},
}, {
	name:   "waiting between two gate polls needs nothing",
	canary: waitingStatus,
	obs:    waitingTarget,
	at:     30 * time.Second,
}, {
	name:   "a promotion needs nothing",
	canary: promotingStatus(30),
	obs:    promoted,
	at:     time.Hour,
}, {
	name:   "a missing target needs nothing",
	canary: plusHooks(succeededStatus, siskinv1.ConfirmRolloutHook),
	obs:    func(_ *siskinv1.Canary, o *Observation) { o.Target = Workload{} },
}}

func TestNeedsFor(t *testing.T) {
	for _, tc := range needsCases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			tc.canary(c)
			at := tc.at
			if at == 0 {
				at = time.Minute
			}
			obs := obsFor(c, t0.Add(at))
			if tc.obs != nil {
				tc.obs(c, &obs)
			}
			if got := NeedsFor(c, obs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("NeedsFor = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestStepsAreScheduledFromLastStepTime(t *testing.T) {
	c := newCanary()
	progressingStatus(c, 10)
	for _, tc := range []struct {
		at   time.Duration
		step bool
		wait time.Duration
	}{
		{at: 0, step: false, wait: time.Minute},
		{at: 59*time.Second + 999*time.Millisecond, step: false, wait: time.Millisecond},
		{at: time.Minute, step: true, wait: time.Minute},
		{at: 7*time.Minute + 300*time.Millisecond, step: true, wait: time.Minute + 700*time.Millisecond},
	} {
		obs := obsFor(c, t0.Add(tc.at))
		if got := NeedsFor(c, obs).Step; got != tc.step {
			t.Errorf("at +%s: step due = %v, want %v", tc.at, got, tc.step)
		}
		fillGathered(t, c, &obs)
		// A step sets lastStepTime to its own time, rounded up to the second the API keeps, so
		// the next one is never less than an interval later.
		if d := Plan(c, obs); d.RequeueAfter != tc.wait {
			t.Errorf("at +%s: requeueAfter = %s, want %s", tc.at, d.RequeueAfter, tc.wait)
		}
	}
}
