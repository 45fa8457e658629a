package canary

import (
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// analysingAt puts c in phase at weight w after it iterations.
func analysingAt(phase siskinv1.CanaryPhase, w, it int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		progressingStatus(c, w)
		c.Status.Phase = phase
		c.Status.Iterations = it
	}
}

func abAt(w, it int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) { abTestingSpec(c, 3); analysingAt(siskinv1.PhaseProgressing, w, it)(c) }
}

func bgAt(w, it int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) { blueGreenSpec(c, 3); analysingAt(siskinv1.PhaseProgressing, w, it)(c) }
}

func kubernetesAt(it int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		c.Spec.Provider = siskinv1.ProviderKubernetes
		c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 0, nil
		analysingAt(siskinv1.PhaseProgressing, 0, it)(c)
	}
}

func stepWeightsAt(w int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		a := c.Spec.Analysis
		a.StepWeight, a.MaxWeight, a.StepWeights = 0, nil, []int32{5, 25, 50}
		analysingAt(siskinv1.PhaseProgressing, w, 1)(c)
	}
}

func mirroredAt(it int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		c.Spec.Analysis.Mirror = true
		analysingAt(siskinv1.PhaseProgressing, 0, it)(c)
	}
}

func trafficGated(c *siskinv1.Canary) {
	progressingStatus(c, 10)
	hook(c, siskinv1.ConfirmTrafficIncreaseHook)
}

func promotionGated(phase siskinv1.CanaryPhase) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		analysingAt(phase, 30, 3)(c)
		hook(c, siskinv1.ConfirmPromotionHook, func(w *siskinv1.CanaryWebhook) { w.GateTimeout = "30m" })
		if phase == siskinv1.PhaseWaitingPromotion {
			withWait(c, siskinv1.ReasonWaitingForPromotion, t0.Add(-10*time.Minute))
		}
	}
}

var strategyCases = []planCase{{
	name:    "at max weight passing checks start the promotion",
	canary:  analysingAt(siskinv1.PhaseProgressing, 30, 3),
	phase:   siskinv1.PhasePromoting,
	weight:  30,
	actions: "Promote(rev-2)",
	events:  "PromotionStarted",
	requeue: 10 * time.Minute,
	check:   wantCondition(siskinv1.ConditionReconciling, "True/Promoting"),
}, {
	name:    "at max weight a closed confirm-promotion gate waits in WaitingPromotion",
	canary:  promotionGated(siskinv1.PhaseProgressing),
	obs:     closed(siskinv1.ConfirmPromotionHook),
	phase:   siskinv1.PhaseWaitingPromotion,
	weight:  30,
	events:  "WaitingForPromotion",
	requeue: time.Minute,
	check:   all(waitingFrom(t0.Add(time.Minute)), wantCondition(siskinv1.ConditionReconciling, "True/WaitingForPromotion")),
}, {
	name:    "waiting for promotion keeps analysing and rolls back on failed checks",
	canary:  func(c *siskinv1.Canary) { promotionGated(siskinv1.PhaseWaitingPromotion)(c); c.Status.FailedChecks = 1 },
	obs:     both(closed(siskinv1.ConfirmPromotionHook), verdict(siskinv1.VerdictFail)),
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "AnalysisCheckFailed!warn RolledBack!error",
	requeue: time.Minute,
}, {
	name:    "waiting for promotion keeps its gate clock through a failed check",
	canary:  promotionGated(siskinv1.PhaseWaitingPromotion),
	obs:     both(closed(siskinv1.ConfirmPromotionHook), verdict(siskinv1.VerdictFail)),
	phase:   siskinv1.PhaseWaitingPromotion,
	weight:  30,
	events:  "AnalysisCheckFailed!warn",
	requeue: time.Minute,
	check:   waitingFrom(t0.Add(-10 * time.Minute)),
}, {
	name:    "waiting for promotion promotes when the gate opens",
	canary:  promotionGated(siskinv1.PhaseWaitingPromotion),
	obs:     opened(siskinv1.ConfirmPromotionHook),
	phase:   siskinv1.PhasePromoting,
	weight:  30,
	actions: "Promote(rev-2)",
	events:  "PromotionStarted",
	requeue: 10 * time.Minute,
}, {
	name: "waiting for promotion fails when the gate stays closed past its gateTimeout",
	canary: func(c *siskinv1.Canary) {
		promotionGated(siskinv1.PhaseWaitingPromotion)(c)
		withWait(c, siskinv1.ReasonWaitingForPromotion, t0.Add(-29*time.Minute))
	},
	obs:     closed(siskinv1.ConfirmPromotionHook),
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "GateTimeout!warn RolledBack!error",
	requeue: time.Minute,
	check:   wantEventText(siskinv1.ReasonGateTimeout, "the confirm-promotion gate stayed closed for longer than 30m0s: confirm-promotion-hook answered 403"),
}, {
	name:    "a closed confirm-traffic-increase gate holds the weight",
	canary:  trafficGated,
	obs:     closed(siskinv1.ConfirmTrafficIncreaseHook),
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	events:  "WaitingForTrafficIncrease",
	requeue: time.Minute,
}, {
	name:    "an open confirm-traffic-increase gate lets the weight increase",
	canary:  trafficGated,
	obs:     opened(siskinv1.ConfirmTrafficIncreaseHook),
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "StepWeightIncreased",
	requeue: time.Minute,
}, {
	name:    "stepWeights moves to the next entry of the schedule",
	canary:  stepWeightsAt(5),
	phase:   siskinv1.PhaseProgressing,
	weight:  25,
	actions: "SetRoute(75/25)",
	events:  "StepWeightIncreased",
	requeue: time.Minute,
}, {
	name:    "maxWeight defaults to the last entry of stepWeights",
	canary:  stepWeightsAt(50),
	phase:   siskinv1.PhasePromoting,
	weight:  50,
	actions: "Promote(rev-2)",
	events:  "PromotionStarted",
	requeue: 10 * time.Minute,
}, {
	name:    "a weighted canary with mirror mirrors traffic for one step before shifting weight",
	canary:  mirroredAt(0),
	phase:   siskinv1.PhaseProgressing,
	actions: "SetRoute(100/0 mirror 100%)",
	events:  "MirrorStarted",
	requeue: time.Minute,
}, {
	name:    "after the mirror step the weight increases and mirroring stops",
	canary:  mirroredAt(1),
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	actions: "SetRoute(90/10)",
	events:  "StepWeightIncreased",
	requeue: time.Minute,
}, {
	name:    "A/B testing routes matching requests to the canary after its first iteration",
	canary:  abAt(0, 0),
	phase:   siskinv1.PhaseProgressing,
	weight:  100,
	actions: "SetRoute(0/100)",
	events:  "IterationCompleted",
	requeue: time.Minute,
	check:   wantEventText(siskinv1.ReasonIterationCompleted, "iteration 1/3 passed; requests matching analysis.match now go to the canary"),
}, {
	name:    "A/B testing counts its iterations",
	canary:  abAt(100, 1),
	phase:   siskinv1.PhaseProgressing,
	weight:  100,
	events:  "IterationCompleted",
	requeue: time.Minute,
}, {
	name:    "A/B testing promotes after its last iteration",
	canary:  abAt(100, 3),
	phase:   siskinv1.PhasePromoting,
	weight:  100,
	actions: "Promote(rev-2)",
	events:  "PromotionStarted",
	requeue: 10 * time.Minute,
}, {
	name:    "blue/green counts iterations while the canary is reachable only through its own Service",
	canary:  bgAt(0, 0),
	phase:   siskinv1.PhaseProgressing,
	events:  "IterationCompleted",
	requeue: time.Minute,
}, {
	name:    "blue/green routes all traffic to the canary for one step after its last iteration",
	canary:  bgAt(0, 3),
	phase:   siskinv1.PhaseProgressing,
	weight:  100,
	actions: "SetRoute(0/100)",
	events:  "TrafficSwitched",
	requeue: time.Minute,
}, {
	name:    "blue/green promotes after the step with all traffic on the canary",
	canary:  bgAt(100, 3),
	phase:   siskinv1.PhasePromoting,
	weight:  100,
	actions: "Promote(rev-2)",
	events:  "PromotionStarted",
	requeue: 10 * time.Minute,
}, {
	name: "blue/green with mirror keeps mirroring after its first iteration (it mirrors from the start)",
	canary: func(c *siskinv1.Canary) {
		bgAt(0, 0)(c)
		c.Spec.Analysis.Mirror, c.Spec.Analysis.MirrorWeight = true, ptr[int32](50)
	},
	phase:   siskinv1.PhaseProgressing,
	events:  "IterationCompleted",
	requeue: time.Minute,
	check:   wantEventText(siskinv1.ReasonIterationCompleted, "iteration 1/3 passed; mirroring 50% of primary traffic to the canary"),
}, {
	name:    "blue/green on provider kubernetes promotes right after its last iteration",
	canary:  func(c *siskinv1.Canary) { kubernetesAt(3)(c); c.Spec.Analysis.Iterations = 3 },
	phase:   siskinv1.PhasePromoting,
	actions: "Promote(rev-2)",
	events:  "PromotionStarted",
	requeue: 10 * time.Minute,
}, {
	name: "provider kubernetes is never asked to split traffic, even by a status written under another provider",
	canary: func(c *siskinv1.Canary) {
		kubernetesAt(1)(c)
		c.Status.CanaryWeight = 20
	},
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Route.PrimaryWeight, o.Route.CanaryWeight = 100, 0 },
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	events:  "IterationCompleted AdjustedAsFlagger(muted)",
	requeue: time.Minute,
}, {
	name:    "provider kubernetes runs ten iterations when none are set",
	canary:  kubernetesAt(9),
	phase:   siskinv1.PhaseProgressing,
	events:  "IterationCompleted AdjustedAsFlagger(muted)",
	requeue: time.Minute,
	check:   wantEventText(siskinv1.ReasonIterationCompleted, "iteration 10/10 passed"),
}}

// promotingStatus is revNew being promoted at weight w, since t0.
func promotingStatus(w int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		progressingStatus(c, w)
		c.Status.Phase = siskinv1.PhasePromoting
		withWait(c, siskinv1.ReasonPromoting, t0)
	}
}

func promoted(_ *siskinv1.Canary, o *Observation) { o.Primary.Fingerprint = revNew }

func steppedPromotion(w int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		promotingStatus(w)(c)
		c.Spec.Analysis.StepWeightPromotion = 10
		c.Status.WaitingSince = nil
	}
}

func finalisingStatus(c *siskinv1.Canary) {
	progressingStatus(c, 0)
	c.Status.Phase = siskinv1.PhaseFinalising
	hook(c, siskinv1.PostRolloutHook)
}

var promotionCases = []planCase{{
	name:    "promoting waits for the primary to run the promoted revision and asks again for a copy that has not landed",
	canary:  promotingStatus(30),
	phase:   siskinv1.PhasePromoting,
	weight:  30,
	actions: "Promote(rev-2)",
	requeue: 9 * time.Minute,
}, {
	name:    "promoting moves all traffic to the primary once it runs the revision",
	canary:  promotingStatus(30),
	obs:     promoted,
	phase:   siskinv1.PhaseFinalising,
	actions: "SetRoute(100/0)",
	requeue: time.Minute,
	check:   all(waitingFrom(t0.Add(time.Minute)), wantCondition(siskinv1.ConditionReconciling, "True/Finalising")),
}, {
	name:    "promoting with stepWeightPromotion moves traffic back one step per interval",
	canary:  steppedPromotion(30),
	obs:     promoted,
	phase:   siskinv1.PhasePromoting,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "TrafficShiftedToPrimary",
	requeue: time.Minute,
}, {
	name:    "stepWeightPromotion waits an interval between two steps",
	canary:  steppedPromotion(30),
	obs:     promoted,
	at:      30 * time.Second,
	phase:   siskinv1.PhasePromoting,
	weight:  30,
	requeue: 30 * time.Second,
}, {
	name:    "the last promotion step hands over to Finalising",
	canary:  steppedPromotion(10),
	obs:     promoted,
	phase:   siskinv1.PhaseFinalising,
	actions: "SetRoute(100/0)",
	requeue: time.Minute,
}, {
	name:   "a primary that does not run the revision by the deadline fails the promotion and keeps traffic on the canary",
	canary: promotingStatus(30),
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Primary.Ready, o.Primary.Message = false, "1/2 updated replicas available"
	},
	at:      10 * time.Minute,
	phase:   siskinv1.PhaseFailed,
	weight:  100,
	actions: "SetRoute(0/100)",
	events:  "ProgressDeadlineExceeded!warn PromotionFailed!error",
	check: all(wantCondition(siskinv1.ConditionStalled, "True/PromotionFailed"),
		wantCondition(siskinv1.ConditionPromoted, "False/PromotionFailed")),
}, {
	name:   "a new revision during the promotion takes all traffic off the canary at once",
	canary: promotingStatus(30),
	obs: func(c *siskinv1.Canary, o *Observation) {
		promoted(c, o)
		target(revNewer)(c, o)
		o.Primary.Ready = false
	},
	phase:   siskinv1.PhasePromoting,
	actions: "SetRoute(100/0)",
	events:  "NewRevision",
	requeue: 9 * time.Minute,
}, {
	name: "promoting on provider kubernetes succeeds once the primary runs the revision",
	canary: func(c *siskinv1.Canary) {
		c.Spec.Provider = siskinv1.ProviderKubernetes
		c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 0, nil
		promotingStatus(0)(c)
	},
	obs:     promoted,
	phase:   siskinv1.PhaseSucceeded,
	actions: "ScaleTargetDown",
	events:  "PromotionCompleted AdjustedAsFlagger(muted)",
}, {
	name:    "finalising waits for the router to confirm all traffic on the primary",
	canary:  finalisingStatus,
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Route.PrimaryWeight, o.Route.CanaryWeight = 70, 30 },
	phase:   siskinv1.PhaseFinalising,
	actions: "SetRoute(100/0)",
	requeue: time.Minute,
}, {
	name:    "finalising scales the canary down once the router confirms, and succeeds",
	canary:  finalisingStatus,
	phase:   siskinv1.PhaseSucceeded,
	actions: "ScaleTargetDown CallWebhooks(post-rollout)",
	events:  "PromotionCompleted",
	check: all(wantCondition(siskinv1.ConditionReady, "True/Succeeded"), wantCondition(siskinv1.ConditionPromoted, "True/Succeeded"),
		wantCondition(siskinv1.ConditionReconciling, "-"),
		wantStatus("revNew promoted", func(st *siskinv1.CanaryStatus) bool { return st.LastPromotedSpec == revNew })),
}, {
	name:    "a new revision with skipAnalysis scales the canary up to be promoted once it is ready",
	canary:  func(c *siskinv1.Canary) { restingStatus(c, siskinv1.PhaseSucceeded); c.Spec.SkipAnalysis = true },
	obs:     target(revNew),
	phase:   siskinv1.PhaseProgressing,
	actions: "ScaleTargetUp",
	events:  "NewRevision",
	requeue: time.Minute,
}}

func failedWithPreRollout(c *siskinv1.Canary) {
	restingStatus(c, siskinv1.PhaseFailed)
	c.Status.LastAppliedSpec, c.Status.PreRolloutSpec, c.Status.FailedChecks = revNew, revNew, 2
}

func pausedStatus(c *siskinv1.Canary) {
	progressingStatus(c, 10)
	c.Status.Paused = true
	c.Status.ManualRequests = map[string]string{siskinv1.AnnotationPause: "t1"}
}

var manualCases = []planCase{{
	name:    "siskin.dev/promote during the analysis promotes at once",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 10) },
	obs:     manual(siskinv1.AnnotationPromote, "t1"),
	phase:   siskinv1.PhasePromoting,
	weight:  10,
	actions: "Promote(rev-2)",
	events:  "ManualPromote",
	requeue: 10 * time.Minute,
	check: wantStatus("the request acknowledged", func(st *siskinv1.CanaryStatus) bool {
		return st.ManualRequests[siskinv1.AnnotationPromote] == "t1"
	}),
}, {
	name:    "siskin.dev/promote while waiting for approval promotes without analysis",
	canary:  waitingStatus,
	obs:     both(waitingTarget, manual(siskinv1.AnnotationPromote, "t1")),
	at:      10 * time.Second,
	phase:   siskinv1.PhasePromoting,
	actions: "Promote(rev-2)",
	events:  "ManualPromote",
	requeue: 10 * time.Minute,
}, {
	name:    "siskin.dev/abort during the analysis rolls back",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 10) },
	obs:     manual(siskinv1.AnnotationAbort, "t1"),
	at:      10 * time.Second,
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "ManualAbort RolledBack!error",
	requeue: time.Minute,
	check:   wantEventText(siskinv1.ReasonRolledBack, "revision rev-2 rolled back: aborted by siskin.dev/abort=t1"),
}, {
	name:    "siskin.dev/retry analyses a failed revision again",
	canary:  failedWithPreRollout,
	obs:     manual(siskinv1.AnnotationRetry, "t1"),
	phase:   siskinv1.PhaseProgressing,
	actions: "ScaleTargetUp",
	events:  "ManualRetry",
	requeue: time.Minute,
	check: wantStatus("a fresh analysis of the same revision, pre-rollout included", func(st *siskinv1.CanaryStatus) bool {
		return st.LastAppliedSpec == revNew && st.FailedChecks == 0 && st.PreRolloutSpec == ""
	}),
}, {
	name:    "siskin.dev/retry behind a closed confirm-rollout gate waits for approval",
	canary:  func(c *siskinv1.Canary) { failedWithPreRollout(c); hook(c, siskinv1.ConfirmRolloutHook) },
	obs:     both(manual(siskinv1.AnnotationRetry, "t1"), closed(siskinv1.ConfirmRolloutHook)),
	phase:   siskinv1.PhaseWaiting,
	events:  "ManualRetry WaitingForApproval",
	requeue: time.Minute,
}, {
	name:   "siskin.dev/pause freezes the analysis where it is",
	canary: func(c *siskinv1.Canary) { progressingStatus(c, 10) },
	obs:    manual(siskinv1.AnnotationPause, "t1"),
	phase:  siskinv1.PhaseProgressing,
	weight: 10,
	events: "ManualPause",
	check: all(wantCondition(siskinv1.ConditionReconciling, "True/Paused"),
		wantStatus("paused, no step", func(st *siskinv1.CanaryStatus) bool { return st.Paused && st.LastStepTime.Time.Equal(t0) })),
}, {
	name: "a paused analysis neither steps nor fails at its deadline",
	canary: func(c *siskinv1.Canary) {
		pausedStatus(c)
		withWait(c, siskinv1.ReasonCanaryNotReady, t0.Add(-20*time.Minute))
	},
	obs:    func(_ *siskinv1.Canary, o *Observation) { o.Target.Ready = false },
	at:     5 * time.Minute,
	phase:  siskinv1.PhaseProgressing,
	weight: 10,
}, {
	name:    "siskin.dev/resume runs the step that fell due during the pause, once",
	canary:  pausedStatus,
	obs:     manual(siskinv1.AnnotationResume, "t2"),
	at:      5 * time.Minute,
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "ManualResume StepWeightIncreased",
	requeue: time.Minute,
}, {
	name: "a manual request already handled is not acted on again",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 10)
		c.Status.ManualRequests = map[string]string{siskinv1.AnnotationAbort: "t1"}
	},
	obs:     manual(siskinv1.AnnotationAbort, "t1"),
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "StepWeightIncreased",
	requeue: time.Minute,
}, {
	name:   "siskin.dev/promote at rest is acknowledged with a warning",
	canary: func(c *siskinv1.Canary) { restingStatus(c, siskinv1.PhaseSucceeded) },
	obs:    manual(siskinv1.AnnotationPromote, "t1"),
	phase:  siskinv1.PhaseSucceeded,
	events: "ManualRequestIgnored!warn",
	check: all(wantEventText(siskinv1.ReasonManualRequestIgnored, "siskin.dev/promote=t1 ignored: no rollout is in progress (phase Succeeded)"),
		wantStatus("acknowledged", func(st *siskinv1.CanaryStatus) bool { return st.ManualRequests[siskinv1.AnnotationPromote] == "t1" })),
}, {
	name:    "siskin.dev/retry outside Failed is acknowledged with a warning and the analysis goes on",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 10) },
	obs:     manual(siskinv1.AnnotationRetry, "t1"),
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "ManualRequestIgnored!warn StepWeightIncreased",
	requeue: time.Minute,
}, {
	name:   "siskin.dev/retry of the promoted revision is acknowledged with a warning",
	canary: failedWithPreRollout,
	obs:    both(target(revOld), manual(siskinv1.AnnotationRetry, "t1")),
	phase:  siskinv1.PhaseFailed,
	events: "ManualRequestIgnored!warn",
}, {
	name:    "siskin.dev/resume when not paused is acknowledged with a warning",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 10) },
	obs:     manual(siskinv1.AnnotationResume, "t1"),
	at:      30 * time.Second,
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	events:  "ManualRequestIgnored!warn",
	requeue: 30 * time.Second,
}, {
	name:   "siskin.dev/pause at rest is acknowledged with a warning",
	canary: func(c *siskinv1.Canary) { restingStatus(c, siskinv1.PhaseSucceeded) },
	obs:    manual(siskinv1.AnnotationPause, "t1"),
	phase:  siskinv1.PhaseSucceeded,
	events: "ManualRequestIgnored!warn",
}, {
	name:    "siskin.dev/abort during the promotion is acknowledged with a warning",
	canary:  promotingStatus(30),
	obs:     manual(siskinv1.AnnotationAbort, "t1"),
	phase:   siskinv1.PhasePromoting,
	weight:  30,
	events:  "ManualRequestIgnored!warn",
	actions: "Promote(rev-2)",
	requeue: 9 * time.Minute,
	check:   wantEventText(siskinv1.ReasonManualRequestIgnored, "the promotion of revision rev-2 has already started"),
}, {
	name:    "abort and promote seen together abort, and the promote is ignored",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 10) },
	obs:     both(manual(siskinv1.AnnotationAbort, "t1"), manual(siskinv1.AnnotationPromote, "t1")),
	at:      10 * time.Second,
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "ManualAbort RolledBack!error ManualRequestIgnored!warn",
	requeue: time.Minute,
}}

// TestPlanCoversEveryPhase guards the table against a phase nobody tests.
func TestPlanCoversEveryPhase(t *testing.T) {
	var cases []planCase
	for _, f := range [][]planCase{initCases, restCases, waitingCases, analysisCases, strategyCases, promotionCases, manualCases} {
		cases = append(cases, f...)
	}
	from := map[siskinv1.CanaryPhase]bool{}
	to := map[siskinv1.CanaryPhase]bool{}
	for _, tc := range cases {
		c := newCanary()
		if tc.canary != nil {
			tc.canary(c)
		}
		from[c.Status.Phase] = true
		to[tc.phase] = true
	}
	for _, p := range []siskinv1.CanaryPhase{"", siskinv1.PhaseInitializing, siskinv1.PhaseInitialized, siskinv1.PhaseWaiting,
		siskinv1.PhaseProgressing, siskinv1.PhaseWaitingPromotion, siskinv1.PhasePromoting, siskinv1.PhaseFinalising,
		siskinv1.PhaseSucceeded, siskinv1.PhaseFailed} {
		if p != "" && !to[p] {
			t.Errorf("no case ends in phase %s", p)
		}
		if !from[p] {
			t.Errorf("no case starts in phase %q", p)
		}
	}
}
