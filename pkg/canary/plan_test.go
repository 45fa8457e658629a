package canary

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// planCase is one transition of the state machine.
type planCase struct {
	name   string
	canary func(c *siskinv1.Canary)
	// obs edits the observation of a healthy world (obsFor). Checks and gates that NeedsFor asks
	// for and obs leaves unset are filled in: metrics pass, confirm gates are open, rollback
	// gates closed.
	obs func(c *siskinv1.Canary, o *Observation)
	// at is the time of the round, after t0 (the last step); default one interval.
	at      time.Duration
	phase   siskinv1.CanaryPhase
	weight  int32
	actions string
	events  string
	requeue time.Duration
	check   func(t *testing.T, d Decision)
}

func TestPlan(t *testing.T) {
	var cases []planCase
	cases = append(cases, initCases...)
	cases = append(cases, restCases...)
	cases = append(cases, waitingCases...)
	cases = append(cases, analysisCases...)
	cases = append(cases, strategyCases...)
	cases = append(cases, promotionCases...)
	cases = append(cases, manualCases...)
	cases = append(cases, safetyCases...)
	names := map[string]bool{}
	for _, tc := range cases {
		if names[tc.name] {
			t.Fatalf("duplicate case %q", tc.name)
		}
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) { runPlanCase(t, tc) })
	}
}

func runPlanCase(t *testing.T, tc planCase) {
	t.Helper()
	c := newCanary()
	if tc.canary != nil {
		tc.canary(c)
	}
	at := tc.at
	if at == 0 {
		at = time.Minute
	}
	obs := obsFor(c, t0.Add(at))
	if tc.obs != nil {
		tc.obs(c, &obs)
	}
	fillGathered(t, c, &obs)

	before := c.DeepCopy()
	d := Plan(c, obs)
	if !equality.Semantic.DeepEqual(before, c) {
		t.Fatal("Plan modified the Canary it was given")
	}
	if again := Plan(c, obs); !reflect.DeepEqual(d, again) {
		t.Fatal("Plan gave two different decisions for the same input")
	}
	if d.Status.Phase != tc.phase {
		t.Errorf("phase = %s, want %s", d.Status.Phase, tc.phase)
	}
	if d.Status.CanaryWeight != tc.weight {
		t.Errorf("canaryWeight = %d, want %d", d.Status.CanaryWeight, tc.weight)
	}
	if got := formatActions(d.Actions); got != tc.actions {
		t.Errorf("actions = %q, want %q", got, tc.actions)
	}
	if got := formatEvents(d.Events); got != tc.events {
		t.Errorf("events = %q, want %q", got, tc.events)
	}
	if d.RequeueAfter != tc.requeue {
		t.Errorf("requeueAfter = %s, want %s", d.RequeueAfter, tc.requeue)
	}
	if d.Status.ObservedGeneration != c.Generation {
		t.Errorf("observedGeneration = %d, want %d", d.Status.ObservedGeneration, c.Generation)
	}
	for _, cond := range d.Status.Conditions {
		if cond.ObservedGeneration != c.Generation {
			t.Errorf("condition %s has observedGeneration %d, want %d", cond.Type, cond.ObservedGeneration, c.Generation)
		}
	}
	if (d.Status.Phase != before.Status.Phase || d.Status.CanaryWeight != before.Status.CanaryWeight) &&
		!d.Status.LastTransitionTime.Equal(ptr(stamp(obs.Now))) {
		t.Errorf("lastTransitionTime = %v, want %v after a phase or weight change", d.Status.LastTransitionTime, obs.Now)
	}
	if tc.check != nil {
		tc.check(t, d)
	}
}

// fillGathered completes what the controller would have gathered for NeedsFor, and checks that
// the case gives no more than was asked for.
func fillGathered(t *testing.T, c *siskinv1.Canary, obs *Observation) {
	t.Helper()
	bare := *obs
	bare.Gates, bare.Checks = nil, nil
	needs := NeedsFor(c, bare)
	for g := range obs.Gates {
		if !slices.Contains(needs.Gates, g) {
			t.Fatalf("the case sets gate %s, which NeedsFor did not ask for (%v)", g, needs.Gates)
		}
	}
	if obs.Checks != nil && !needs.Step {
		t.Fatal("the case sets checks, but NeedsFor asked for no step")
	}
	for _, g := range needs.Gates {
		if _, ok := obs.Gates[g]; ok {
			continue
		}
		if obs.Gates == nil {
			obs.Gates = map[siskinv1.WebhookType]Gate{}
		}
		obs.Gates[g] = Gate{Open: g != siskinv1.RollbackHook}
	}
	if needs.Step && obs.Checks == nil {
		if needs.PreRollout {
			for _, w := range c.Spec.Analysis.Webhooks {
				if w.Type == siskinv1.PreRolloutHook {
					obs.Checks = append(obs.Checks, hookCheck(w.Name, siskinv1.VerdictPass, obs.Now))
				}
			}
		}
		obs.Checks = append(obs.Checks, metricCheck(siskinv1.VerdictPass, obs.Now))
	}
}

// Helpers that edit observations.

func closed(types ...siskinv1.WebhookType) func(*siskinv1.Canary, *Observation) {
	return func(_ *siskinv1.Canary, o *Observation) { setGates(o, false, types...) }
}

func opened(types ...siskinv1.WebhookType) func(*siskinv1.Canary, *Observation) {
	return func(_ *siskinv1.Canary, o *Observation) { setGates(o, true, types...) }
}

func setGates(o *Observation, open bool, types ...siskinv1.WebhookType) {
	if o.Gates == nil {
		o.Gates = map[siskinv1.WebhookType]Gate{}
	}
	for _, t := range types {
		msg := ""
		if !open || t == siskinv1.RollbackHook {
			msg = string(t) + "-hook answered 403"
		}
		o.Gates[t] = Gate{Open: open, Message: msg}
	}
}

func verdict(v siskinv1.CheckVerdict) func(*siskinv1.Canary, *Observation) {
	return func(_ *siskinv1.Canary, o *Observation) { o.Checks = []siskinv1.CheckResult{metricCheck(v, o.Now)} }
}

func target(fp string) func(*siskinv1.Canary, *Observation) {
	return func(_ *siskinv1.Canary, o *Observation) { o.Target.Fingerprint = fp }
}

func manual(ann, value string) func(*siskinv1.Canary, *Observation) {
	return func(_ *siskinv1.Canary, o *Observation) {
		if o.Manual == nil {
			o.Manual = map[string]string{}
		}
		o.Manual[ann] = value
	}
}

// both applies several observation edits in order.
func both(fs ...func(*siskinv1.Canary, *Observation)) func(*siskinv1.Canary, *Observation) {
	return func(c *siskinv1.Canary, o *Observation) {
		for _, f := range fs {
			f(c, o)
		}
	}
}

// Helpers that check decisions.

func wantCondition(typ, want string) func(*testing.T, Decision) {
	return func(t *testing.T, d Decision) {
		t.Helper()
		if got := conditionOf(&d.Status, typ); got != want {
			t.Errorf("condition %s = %s, want %s", typ, got, want)
		}
	}
}

func wantEventText(reason, text string) func(*testing.T, Decision) {
	return func(t *testing.T, d Decision) {
		t.Helper()
		for _, e := range d.Events {
			if e.Reason == reason && strings.Contains(e.Message, text) {
				return
			}
		}
		t.Errorf("no %s event containing %q in %+v", reason, text, d.Events)
	}
}

func wantStatus(desc string, ok func(st *siskinv1.CanaryStatus) bool) func(*testing.T, Decision) {
	return func(t *testing.T, d Decision) {
		t.Helper()
		if !ok(&d.Status) {
			t.Errorf("status: want %s; got %+v", desc, d.Status)
		}
	}
}

func all(checks ...func(*testing.T, Decision)) func(*testing.T, Decision) {
	return func(t *testing.T, d Decision) {
		t.Helper()
		for _, c := range checks {
			c(t, d)
		}
	}
}

func waitingFrom(at time.Time) func(*testing.T, Decision) {
	return wantStatus("waitingSince "+at.String(), func(st *siskinv1.CanaryStatus) bool {
		return st.WaitingSince != nil && st.WaitingSince.Time.Equal(at)
	})
}

var notWaiting = wantStatus("no waitingSince", func(st *siskinv1.CanaryStatus) bool { return st.WaitingSince == nil })

func initializingStatus(c *siskinv1.Canary) {
	c.Status.Phase = siskinv1.PhaseInitializing
	withWait(c, siskinv1.ReasonInitializing, t0)
}

func primaryNotReadyYet(_ *siskinv1.Canary, o *Observation) {
	o.Primary = Workload{Exists: true, Fingerprint: revOld, Message: "0/2 replicas available"}
	o.Route = Route{}
}

func primaryReadyNoRoute(_ *siskinv1.Canary, o *Observation) {
	o.Primary = Workload{Exists: true, Fingerprint: revOld, Ready: true, Replicas: 2}
	o.Route = Route{Message: "VirtualService podinfo not found"}
}

var initCases = []planCase{{
	name:    "a new canary creates the primary and starts initializing",
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Primary, o.Route = Workload{}, Route{} },
	phase:   siskinv1.PhaseInitializing,
	actions: "EnsurePrimary EnsureServices",
	events:  "Initializing",
	requeue: 10 * time.Minute,
	check: all(wantCondition(siskinv1.ConditionReady, "False/Initializing"),
		wantCondition(siskinv1.ConditionReconciling, "True/Initializing"),
		wantCondition(siskinv1.ConditionPromoted, "Unknown/Initializing"),
		wantEventText(siskinv1.ReasonInitializing, "initializing canary for Deployment/podinfo"),
		waitingFrom(t0.Add(time.Minute))),
}, {
	name:    "initializing waits for the primary to be ready, its Services created meanwhile",
	canary:  initializingStatus,
	obs:     primaryNotReadyYet,
	phase:   siskinv1.PhaseInitializing,
	actions: "EnsureServices",
	requeue: 9 * time.Minute,
}, {
	name:    "initializing a Canary with provider replicas asks for no Services while the primary starts",
	canary:  func(c *siskinv1.Canary) { initializingStatus(c); c.Spec.Provider = siskinv1.ProviderReplicas },
	obs:     primaryNotReadyYet,
	phase:   siskinv1.PhaseInitializing,
	requeue: 9 * time.Minute,
}, {
	name:    "initializing past the progress deadline is stalled but keeps the target serving",
	canary:  initializingStatus,
	obs:     primaryNotReadyYet,
	at:      10 * time.Minute,
	phase:   siskinv1.PhaseInitializing,
	actions: "EnsureServices",
	events:  "ProgressDeadlineExceeded!warn",
	check:   wantCondition(siskinv1.ConditionStalled, "True/ProgressDeadlineExceeded"),
	requeue: 0,
}, {
	name: "a stalled initialization stays stalled without announcing it again",
	canary: func(c *siskinv1.Canary) {
		initializingStatus(c)
		applyReadiness(&c.Status, c.Generation, stamp(t0), readiness{kind: condStalled, reason: siskinv1.ReasonProgressDeadlineExceeded, message: "too slow"})
	},
	obs:     primaryNotReadyYet,
	at:      20 * time.Minute,
	phase:   siskinv1.PhaseInitializing,
	actions: "EnsureServices",
	check:   wantCondition(siskinv1.ConditionStalled, "True/ProgressDeadlineExceeded"),
}, {
	name:    "initializing routes all traffic to the primary once it is ready",
	canary:  initializingStatus,
	obs:     primaryReadyNoRoute,
	phase:   siskinv1.PhaseInitializing,
	actions: "EnsureServices SetRoute(100/0)",
	requeue: time.Minute,
}, {
	name:    "initializing with skipAnalysis does not wait for the primary to be ready",
	canary:  func(c *siskinv1.Canary) { initializingStatus(c); c.Spec.SkipAnalysis = true },
	obs:     primaryNotReadyYet,
	phase:   siskinv1.PhaseInitializing,
	actions: "EnsureServices SetRoute(100/0)",
	requeue: time.Minute,
}, {
	name:    "initializing updates the primary when the target changes meanwhile",
	canary:  initializingStatus,
	obs:     both(primaryNotReadyYet, target(revNew)),
	phase:   siskinv1.PhaseInitializing,
	actions: "Promote(rev-2)",
	requeue: 10 * time.Minute,
}, {
	name:    "initializing scales the target down once the route points at the primary",
	canary:  initializingStatus,
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Primary.Fingerprint = revOld },
	phase:   siskinv1.PhaseInitialized,
	actions: "ScaleTargetDown",
	events:  "Initialized",
	check: all(wantCondition(siskinv1.ConditionReady, "True/Initialized"),
		wantCondition(siskinv1.ConditionPromoted, "True/Initialized"),
		wantCondition(siskinv1.ConditionReconciling, "-"),
		wantStatus("revOld applied and promoted", func(st *siskinv1.CanaryStatus) bool {
			return st.LastAppliedSpec == revOld && st.LastPromotedSpec == revOld && st.WaitingSince == nil
		})),
}, {
	name: "a missing target is reported and nothing is created",
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Target, o.Primary, o.Route = Workload{}, Workload{}, Route{}
	},
	phase:  siskinv1.PhaseInitializing,
	events: "Initializing",
	check:  wantCondition(siskinv1.ConditionReady, "False/TargetNotFound"),
}}

func succeededStatus(c *siskinv1.Canary) { restingStatus(c, siskinv1.PhaseSucceeded) }

func failedStatus(c *siskinv1.Canary) {
	restingStatus(c, siskinv1.PhaseFailed)
	c.Status.LastAppliedSpec = revNew
	c.Status.FailedChecks = 2
	set(&c.Status, c.Generation, stamp(t0), siskinv1.ConditionPromoted, "False", siskinv1.ReasonRolledBack, "revision rev-2 rolled back: metric failed")
	applyReadiness(&c.Status, c.Generation, stamp(t0), readiness{kind: condStalled, reason: siskinv1.ReasonRolledBack, message: "revision rev-2 rolled back: metric failed"})
}

var restCases = []planCase{{
	name:   "a canary at rest with an unchanged target does nothing",
	canary: succeededStatus,
	phase:  siskinv1.PhaseSucceeded,
	check: func(t *testing.T, d Decision) {
		in := newCanary()
		succeededStatus(in)
		if !equality.Semantic.DeepEqual(in.Status, d.Status) {
			t.Errorf("status changed at rest:\n got %+v\nwant %+v", d.Status, in.Status)
		}
	},
}, {
	name:    "a new revision starts the analysis",
	canary:  succeededStatus,
	obs:     target(revNew),
	phase:   siskinv1.PhaseProgressing,
	actions: "ScaleTargetUp",
	events:  "NewRevision",
	requeue: time.Minute,
	check: all(wantCondition(siskinv1.ConditionReady, "False/Progressing"),
		wantCondition(siskinv1.ConditionPromoted, "Unknown/Progressing"),
		wantStatus("a fresh analysis of revNew started now", func(st *siskinv1.CanaryStatus) bool {
			now := stamp(t0.Add(time.Minute))
			return st.LastAppliedSpec == revNew && st.LastPromotedSpec == revOld &&
				st.RolloutStartTime.Equal(&now) && st.LastStepTime.Equal(&now)
		})),
}, {
	name:    "a new revision without a free rollout slot waits at rest and says so once",
	canary:  succeededStatus,
	obs:     both(target(revNew), func(_ *siskinv1.Canary, o *Observation) { o.RolloutQueued = true }),
	phase:   siskinv1.PhaseSucceeded,
	events:  "Queued",
	requeue: QueuePoll,
	check: all(wantCondition(siskinv1.ConditionReconciling, "True/Queued"),
		wantStatus("the last rollout's revision is kept", func(st *siskinv1.CanaryStatus) bool { return st.LastAppliedSpec == revOld })),
}, {
	name:    "a revision queued by the adaptive limit says the rollouts in flight run behind their schedule",
	canary:  succeededStatus,
	obs:     both(target(revNew), func(_ *siskinv1.Canary, o *Observation) { o.RolloutQueued, o.QueuedBehindSchedule = true, true }),
	phase:   siskinv1.PhaseSucceeded,
	events:  "Queued",
	requeue: QueuePoll,
	check: all(wantCondition(siskinv1.ConditionReconciling, "True/Queued"),
		wantStatus("the wait names adaptive admission", func(st *siskinv1.CanaryStatus) bool {
			cond := meta.FindStatusCondition(st.Conditions, siskinv1.ConditionReconciling)
			return cond != nil && strings.Contains(cond.Message, "behind their schedule") && strings.Contains(cond.Message, "--step-lateness-target")
		})),
}, {
	name: "a queued revision does not announce its wait again",
	canary: func(c *siskinv1.Canary) {
		succeededStatus(c)
		applyReadiness(&c.Status, c.Generation, stamp(t0), readiness{kind: condProgressing, reason: siskinv1.ReasonQueued, message: "queued"})
	},
	obs:     both(target(revNew), func(_ *siskinv1.Canary, o *Observation) { o.RolloutQueued = true }),
	phase:   siskinv1.PhaseSucceeded,
	requeue: QueuePoll,
}, {
	name:    "the first new revision after initialization starts the analysis",
	canary:  func(c *siskinv1.Canary) { restingStatus(c, siskinv1.PhaseInitialized) },
	obs:     target(revNew),
	phase:   siskinv1.PhaseProgressing,
	actions: "ScaleTargetUp",
	events:  "NewRevision",
	requeue: time.Minute,
}, {
	name: "a new revision behind a closed confirm-rollout gate waits for approval",
	canary: func(c *siskinv1.Canary) {
		succeededStatus(c)
		hook(c, siskinv1.ConfirmRolloutHook)
	},
	obs:     both(target(revNew), closed(siskinv1.ConfirmRolloutHook)),
	phase:   siskinv1.PhaseWaiting,
	events:  "NewRevision WaitingForApproval",
	requeue: time.Minute,
	check: all(wantCondition(siskinv1.ConditionReconciling, "True/WaitingForApproval"),
		waitingFrom(t0.Add(time.Minute)),
		wantStatus("revNew applied", func(st *siskinv1.CanaryStatus) bool { return st.LastAppliedSpec == revNew })),
}, {
	name: "a confirm-rollout gate whose webhooks mute alerts waits without alerting",
	canary: func(c *siskinv1.Canary) {
		succeededStatus(c)
		hook(c, siskinv1.ConfirmRolloutHook, func(w *siskinv1.CanaryWebhook) { w.MuteAlert = true })
	},
	obs:     both(target(revNew), closed(siskinv1.ConfirmRolloutHook)),
	phase:   siskinv1.PhaseWaiting,
	events:  "NewRevision WaitingForApproval(muted)",
	requeue: time.Minute,
}, {
	name:   "a failed revision is not rolled out again on its own",
	canary: failedStatus,
	obs:    target(revNew),
	phase:  siskinv1.PhaseFailed,
	check:  all(wantCondition(siskinv1.ConditionStalled, "True/RolledBack"), wantCondition(siskinv1.ConditionReady, "False/RolledBack")),
}, {
	name:   "a target put back to the promoted revision after a failure starts nothing",
	canary: failedStatus,
	obs:    target(revOld),
	phase:  siskinv1.PhaseFailed,
}, {
	name:    "a new revision after a failure starts the analysis",
	canary:  failedStatus,
	obs:     target(revNewer),
	phase:   siskinv1.PhaseProgressing,
	actions: "ScaleTargetUp",
	events:  "NewRevision",
	requeue: time.Minute,
	check: all(wantCondition(siskinv1.ConditionStalled, "-"),
		wantStatus("counters reset", func(st *siskinv1.CanaryStatus) bool { return st.FailedChecks == 0 && st.LastAppliedSpec == revNewer })),
}, {
	name:    "a route that drifted at rest is put back",
	canary:  succeededStatus,
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Route.PrimaryWeight, o.Route.CanaryWeight = 90, 10 },
	phase:   siskinv1.PhaseSucceeded,
	actions: "SetRoute(100/0)",
}, {
	name:    "a spec change at rest ensures the routing again: the Services, then the router's objects",
	canary:  func(c *siskinv1.Canary) { succeededStatus(c); c.Generation = 2 },
	phase:   siskinv1.PhaseSucceeded,
	actions: "EnsureServices EnsureRoute",
}, {
	name: "a spec change at rest of provider kubernetes ensures the Services, which are its route",
	canary: func(c *siskinv1.Canary) {
		succeededStatus(c)
		c.Generation = 2
		c.Spec.Provider = siskinv1.ProviderKubernetes
	},
	phase:   siskinv1.PhaseSucceeded,
	actions: "EnsureServices",
	events:  "AdjustedAsFlagger(muted)",
}, {
	name: "a spec change at rest of provider replicas has nothing to ensure",
	canary: func(c *siskinv1.Canary) {
		succeededStatus(c)
		c.Generation = 2
		c.Spec.Provider = siskinv1.ProviderReplicas
		c.Spec.Service = siskinv1.CanaryService{}
	},
	phase:   siskinv1.PhaseSucceeded,
	actions: "",
}, {
	name:    "a spec change while the route is set ensures the Services and leaves the router's objects to SetRoute",
	canary:  func(c *siskinv1.Canary) { succeededStatus(c); c.Generation = 2 },
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Route.PrimaryWeight, o.Route.CanaryWeight = 90, 10 },
	phase:   siskinv1.PhaseSucceeded,
	actions: "EnsureServices SetRoute(100/0)",
}, {
	name:   "a target missing at rest is reported as TargetNotFound",
	canary: succeededStatus,
	obs:    func(_ *siskinv1.Canary, o *Observation) { o.Target = Workload{} },
	phase:  siskinv1.PhaseSucceeded,
	check:  wantCondition(siskinv1.ConditionReady, "False/TargetNotFound"),
}}

func waitingStatus(c *siskinv1.Canary) {
	hook(c, siskinv1.ConfirmRolloutHook)
	restingStatus(c, siskinv1.PhaseWaiting)
	c.Status.LastAppliedSpec = revNew
	c.Status.LastStepTime = ptr(stamp(t0))
	withWait(c, siskinv1.ReasonWaitingForApproval, t0)
}

func waitingTarget(_ *siskinv1.Canary, o *Observation) {
	o.Target.Replicas, o.Target.Ready = 0, false
}

var waitingCases = []planCase{{
	name:    "waiting polls the confirm-rollout gate again after an interval",
	canary:  waitingStatus,
	obs:     both(waitingTarget, closed(siskinv1.ConfirmRolloutHook)),
	phase:   siskinv1.PhaseWaiting,
	requeue: time.Minute,
	check: all(waitingFrom(t0), wantStatus("lastStepTime now", func(st *siskinv1.CanaryStatus) bool {
		return st.LastStepTime.Time.Equal(t0.Add(time.Minute))
	})),
}, {
	name:    "waiting between two polls does nothing",
	canary:  waitingStatus,
	obs:     waitingTarget,
	at:      30 * time.Second,
	phase:   siskinv1.PhaseWaiting,
	requeue: 30 * time.Second,
}, {
	name:    "waiting starts the analysis when the confirm-rollout gate opens",
	canary:  waitingStatus,
	obs:     both(waitingTarget, opened(siskinv1.ConfirmRolloutHook)),
	phase:   siskinv1.PhaseProgressing,
	actions: "ScaleTargetUp",
	events:  "RolloutApproved",
	requeue: time.Minute,
	check:   notWaiting,
}, {
	name:    "waiting rolls back when a rollback webhook asks for it",
	canary:  func(c *siskinv1.Canary) { waitingStatus(c); hook(c, siskinv1.RollbackHook) },
	obs:     both(waitingTarget, closed(siskinv1.ConfirmRolloutHook), opened(siskinv1.RollbackHook)),
	phase:   siskinv1.PhaseFailed,
	actions: "ScaleTargetDown",
	events:  "RollbackRequested!warn RolledBack!error",
	check:   wantCondition(siskinv1.ConditionStalled, "True/RolledBack"),
}, {
	name: "waiting fails when the confirm-rollout gate stays closed past its gateTimeout",
	canary: func(c *siskinv1.Canary) {
		waitingStatus(c)
		c.Spec.Analysis.Webhooks[0].GateTimeout = "5m"
		withWait(c, siskinv1.ReasonWaitingForApproval, t0.Add(-4*time.Minute))
	},
	obs:     both(waitingTarget, closed(siskinv1.ConfirmRolloutHook)),
	phase:   siskinv1.PhaseFailed,
	actions: "ScaleTargetDown",
	events:  "GateTimeout!warn RolledBack!error",
}, {
	name:    "waiting for a replaced revision waits for the newest one",
	canary:  waitingStatus,
	obs:     both(waitingTarget, target(revNewer), closed(siskinv1.ConfirmRolloutHook)),
	at:      10 * time.Second,
	phase:   siskinv1.PhaseWaiting,
	events:  "NewRevision WaitingForApproval",
	requeue: time.Minute,
	check: all(waitingFrom(t0.Add(10*time.Second)),
		wantStatus("revNewer applied", func(st *siskinv1.CanaryStatus) bool { return st.LastAppliedSpec == revNewer })),
}, {
	name:    "waiting is cancelled when the target goes back to the promoted revision",
	canary:  waitingStatus,
	obs:     both(waitingTarget, target(revOld)),
	at:      10 * time.Second,
	phase:   siskinv1.PhaseSucceeded,
	actions: "ScaleTargetDown",
	events:  "RolloutCancelled",
	check:   wantCondition(siskinv1.ConditionReady, "True/Succeeded"),
}}

func progressingAt(w int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) { progressingStatus(c, w) }
}

func rollingBackStatus(c *siskinv1.Canary) {
	restingStatus(c, siskinv1.PhaseFailed)
	c.Status.LastAppliedSpec = revNew
	set(&c.Status, c.Generation, stamp(t0), siskinv1.ConditionPromoted, "False", siskinv1.ReasonRolledBack, "revision rev-2 rolled back: metric failed")
	applyReadiness(&c.Status, c.Generation, stamp(t0), readiness{kind: condProgressing, reason: siskinv1.ReasonRollingBack, message: "rolling back"})
	hook(c, siskinv1.PostRolloutHook)
}

func canaryNotReady(_ *siskinv1.Canary, o *Observation) {
	o.Target.Ready, o.Target.Message = false, "1/2 replicas available"
}

var analysisCases = []planCase{{
	name:    "progressing with passing checks increases the weight by stepWeight",
	canary:  progressingAt(10),
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "StepWeightIncreased",
	requeue: time.Minute,
	check: all(wantEventText(siskinv1.ReasonStepWeightIncreased, "canary weight increased to 20% (promotion at 30%)"),
		wantStatus("the step recorded", func(st *siskinv1.CanaryStatus) bool {
			return st.LastStepTime.Time.Equal(t0.Add(time.Minute)) && len(st.LastChecks) == 1 && st.Iterations == 2
		})),
}, {
	name: "the first step runs the pre-rollout webhooks once per revision",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 0)
		c.Status.PreRolloutSpec = ""
		hook(c, siskinv1.PreRolloutHook)
	},
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	actions: "SetRoute(90/10)",
	events:  "StepWeightIncreased",
	requeue: time.Minute,
	check:   wantStatus("pre-rollout recorded", func(st *siskinv1.CanaryStatus) bool { return st.PreRolloutSpec == revNew }),
}, {
	name: "a failed pre-rollout webhook counts as a failed check and runs again at the next step",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 0)
		c.Status.PreRolloutSpec = ""
		hook(c, siskinv1.PreRolloutHook)
	},
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Checks = []siskinv1.CheckResult{hookCheck("pre-rollout-hook", siskinv1.VerdictFail, o.Now)}
	},
	phase:   siskinv1.PhaseProgressing,
	events:  "AnalysisCheckFailed!warn",
	requeue: time.Minute,
	check: all(wantEventText(siskinv1.ReasonAnalysisCheckFailed, "webhook pre-rollout-hook failed: status 500: load test failed; failed checks 1/2"),
		wantStatus("pre-rollout not recorded", func(st *siskinv1.CanaryStatus) bool { return st.PreRolloutSpec == "" && st.FailedChecks == 1 })),
}, {
	name:    "a failed check below the threshold is counted and the weight kept",
	canary:  progressingAt(10),
	obs:     verdict(siskinv1.VerdictFail),
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	events:  "AnalysisCheckFailed!warn",
	requeue: time.Minute,
	check: all(wantEventText(siskinv1.ReasonAnalysisCheckFailed, "metric request-success-rate value 95.5 below min 99; failed checks 1/2"),
		wantStatus("one failed check", func(st *siskinv1.CanaryStatus) bool { return st.FailedChecks == 1 })),
}, {
	name:    "failed checks reaching the threshold roll back, and the canary waits for the router",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 20); c.Status.FailedChecks = 1 },
	obs:     verdict(siskinv1.VerdictFail),
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "AnalysisCheckFailed!warn RolledBack!error",
	requeue: time.Minute,
	check: all(wantCondition(siskinv1.ConditionReconciling, "True/RollingBack"),
		wantCondition(siskinv1.ConditionPromoted, "False/RolledBack"),
		wantEventText(siskinv1.ReasonRolledBack, "revision rev-2 rolled back: metric request-success-rate value 95.5 below min 99; failed checks 2/2"),
		wantStatus("the failed revision kept", func(st *siskinv1.CanaryStatus) bool { return st.LastAppliedSpec == revNew && st.FailedChecks == 2 })),
}, {
	name:    "a rolled-back canary is scaled down once the router confirms all traffic on the primary",
	canary:  rollingBackStatus,
	obs:     target(revNew),
	phase:   siskinv1.PhaseFailed,
	actions: "ScaleTargetDown CallWebhooks(post-rollout)",
	check: all(wantCondition(siskinv1.ConditionStalled, "True/RolledBack"),
		wantCondition(siskinv1.ConditionReconciling, "-"), wantCondition(siskinv1.ConditionReady, "False/RolledBack")),
}, {
	name:   "a rolled-back canary is not scaled down before the router confirms",
	canary: rollingBackStatus,
	obs: both(target(revNew), func(_ *siskinv1.Canary, o *Observation) {
		o.Route.PrimaryWeight, o.Route.CanaryWeight = 80, 20
	}),
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	requeue: time.Minute,
	check:   wantCondition(siskinv1.ConditionReconciling, "True/RollingBack"),
}, {
	name:    "a metric without data makes the step wait without failing",
	canary:  progressingAt(10),
	obs:     verdict(siskinv1.VerdictNoData),
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	events:  "WaitingForData",
	requeue: time.Minute,
	check: all(waitingFrom(t0.Add(time.Minute)), wantCondition(siskinv1.ConditionReconciling, "True/WaitingForData"),
		wantEventText(siskinv1.ReasonWaitingForData, "metric request-success-rate has no data: 3 requests in 1m, 10 needed"),
		wantStatus("no failed check", func(st *siskinv1.CanaryStatus) bool { return st.FailedChecks == 0 })),
}, {
	name: "a metric still without data at the progress deadline rolls back",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 10)
		withWait(c, siskinv1.ReasonWaitingForData, t0.Add(-9*time.Minute))
	},
	obs:     verdict(siskinv1.VerdictNoData),
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "ProgressDeadlineExceeded!warn RolledBack!error",
	requeue: time.Minute,
}, {
	name:    "a step is not run before its interval has passed",
	canary:  progressingAt(10),
	at:      30 * time.Second,
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	requeue: 30 * time.Second,
}, {
	name:    "an overdue step runs once and the next one is a full interval later",
	canary:  progressingAt(10),
	at:      10 * time.Minute,
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "StepWeightIncreased",
	requeue: time.Minute,
}, {
	name:    "a canary that is not ready makes the analysis wait",
	canary:  progressingAt(10),
	obs:     canaryNotReady,
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	requeue: 10 * time.Minute,
	check:   all(waitingFrom(t0.Add(time.Minute)), wantCondition(siskinv1.ConditionReconciling, "True/CanaryNotReady")),
}, {
	name: "a canary not ready past the progress deadline rolls back",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 10)
		withWait(c, siskinv1.ReasonCanaryNotReady, t0.Add(-9*time.Minute))
	},
	obs:     canaryNotReady,
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "ProgressDeadlineExceeded!warn RolledBack!error",
	requeue: time.Minute,
	check:   wantEventText(siskinv1.ReasonRolledBack, "the canary Deployment/podinfo is not ready: 1/2 replicas available for longer than 10m0s"),
}, {
	name: "a primary not ready past the progress deadline rolls back",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 10)
		withWait(c, siskinv1.ReasonPrimaryNotReady, t0.Add(-9*time.Minute))
	},
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Primary.Ready = false },
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "ProgressDeadlineExceeded!warn RolledBack!error",
	requeue: time.Minute,
}, {
	name:    "a canary that is ready again ends its wait",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 10); withWait(c, siskinv1.ReasonCanaryNotReady, t0) },
	at:      30 * time.Second,
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	requeue: 30 * time.Second,
	check:   all(notWaiting, wantCondition(siskinv1.ConditionReconciling, "True/Progressing")),
}, {
	name:    "a route the router has not confirmed holds the step",
	canary:  progressingAt(20),
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Route.PrimaryWeight, o.Route.CanaryWeight = 90, 10 },
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	requeue: 10 * time.Minute,
	check:   wantCondition(siskinv1.ConditionReconciling, "True/RouteNotConfirmed"),
}, {
	// The status write of a step comes before the router's: a round that meets the route a
	// moment later, before the informer has it, writes no wait that would end a moment later.
	name:    "right after a step, a route not confirmed yet stays out of the status until the settle moment ends",
	canary:  progressingAt(20),
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Route.PrimaryWeight, o.Route.CanaryWeight = 90, 10 },
	at:      2 * time.Second,
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	requeue: 3 * time.Second,
	check:   all(notWaiting, wantCondition(siskinv1.ConditionReconciling, "True/Progressing")),
}, {
	name:    "the canary's pods starting after a new revision stay out of the status until the settle moment ends",
	canary:  progressingAt(0),
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Target.Ready, o.Target.Available = false, 0 },
	at:      time.Second,
	phase:   siskinv1.PhaseProgressing,
	requeue: 4 * time.Second,
	check:   all(notWaiting, wantCondition(siskinv1.ConditionReconciling, "True/Progressing")),
}, {
	name: "a wait that has just begun keeps its message until the settle moment ends",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 10)
		withWait(c, siskinv1.ReasonCanaryNotReady, t0.Add(58*time.Second))
	},
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Target.Ready, o.Target.Message = false, "1 of 2 replicas ready"
	},
	at:      time.Minute,
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	requeue: 3 * time.Second,
	check: wantStatus("the wait's first message", func(st *siskinv1.CanaryStatus) bool {
		c := meta.FindStatusCondition(st.Conditions, siskinv1.ConditionReady)
		return st.WaitingSince != nil && c != nil && c.Message == "waiting"
	}),
}, {
	name:    "a rollback webhook rolls the analysis back at the next step",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 10); hook(c, siskinv1.RollbackHook) },
	obs:     opened(siskinv1.RollbackHook),
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "RollbackRequested!warn RolledBack!error",
	requeue: time.Minute,
	check:   wantEventText(siskinv1.ReasonRolledBack, "a rollback webhook asked for it: rollback-hook answered 403"),
}, {
	name:    "a new revision during the analysis restarts it from weight zero",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 20); c.Status.FailedChecks = 1 },
	obs:     target(revNewer),
	phase:   siskinv1.PhaseProgressing,
	actions: "SetRoute(100/0) ScaleTargetUp",
	events:  "NewRevision",
	requeue: time.Minute,
	check: wantStatus("a fresh analysis of revNewer", func(st *siskinv1.CanaryStatus) bool {
		return st.LastAppliedSpec == revNewer && st.FailedChecks == 0 && st.Iterations == 0 && st.LastStepTime.Time.Equal(t0.Add(time.Minute))
	}),
}, {
	name:    "a target put back to the promoted revision during the analysis cancels the rollout",
	canary:  progressingAt(20),
	obs:     target(revOld),
	phase:   siskinv1.PhaseFinalising,
	actions: "SetRoute(100/0)",
	events:  "RolloutCancelled",
	requeue: time.Minute,
}, {
	name:    "a target deleted during the analysis rolls back",
	canary:  progressingAt(20),
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Target = Workload{} },
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "TargetNotFound!warn RolledBack!error",
	requeue: time.Minute,
}, {
	// The Services are made from the target, which is gone: asking for them failed the round
	// before the route was set, every round, and left the canary its traffic.
	name:   "a target deleted during the analysis while the route is not converged rolls back without the Services",
	canary: progressingAt(20),
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Target = Workload{}
		o.Route.Converged, o.Route.Message = false, "VirtualService podinfo differs from the route Siskin applies"
	},
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "TargetNotFound!warn RolledBack!error",
	requeue: time.Minute,
}, {
	name:   "a failed rollout whose target is gone converges its route without the Services",
	canary: failedStatus,
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Target = Workload{}
		o.Route = Route{PrimaryWeight: 50, CanaryWeight: 50, Message: "HTTPRoute podinfo is not accepted by Gateway gw yet"}
	},
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	check:   wantCondition(siskinv1.ConditionReady, "False/TargetNotFound"),
}, {
	name:    "skipAnalysis switched on during the analysis promotes, keeping the weights until the primary is ready",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 20); c.Spec.SkipAnalysis = true },
	phase:   siskinv1.PhasePromoting,
	weight:  20,
	actions: "Promote(rev-2)",
	events:  "PromotionStarted",
	requeue: 10 * time.Minute,
}}
