package canary

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The cases below are the defects of the "never ship what was not analysed" issue, one
// transition each: every one fails on the planner before the fix.

func errorVerdict(_ *siskinv1.Canary, o *Observation) {
	c := metricCheck(siskinv1.VerdictError, o.Now)
	c.Message = "query http://prometheus:9090: context deadline exceeded"
	o.Checks = []siskinv1.CheckResult{c}
}

func withErrors(n int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		progressingStatus(c, 10)
		c.Status.AnalysisErrors = n
	}
}

func wantAnalysisErrors(n int32) func(*testing.T, Decision) {
	return wantStatus(fmt.Sprintf("analysisErrors %d", n), func(st *siskinv1.CanaryStatus) bool { return st.AnalysisErrors == n })
}

func noActionOf(typ ActionType) func(*testing.T, Decision) {
	return func(t *testing.T, d Decision) {
		t.Helper()
		for _, a := range d.Actions {
			if a.Type == typ {
				t.Errorf("unexpected action %s in %s", typ, formatActions(d.Actions))
			}
		}
	}
}

func primaryRuns(fp string) func(*siskinv1.Canary, *Observation) {
	return func(_ *siskinv1.Canary, o *Observation) { o.Primary.Fingerprint = fp }
}

func noAvailableCanary(_ *siskinv1.Canary, o *Observation) {
	o.Target.Ready, o.Target.Available, o.Target.Message = false, 0, "0/2 replicas available"
}

// Found by FuzzEngine: the wait for an empty canary restarted every round while another wait
// (the primary, the route) ran, so its limit was never reached.
func emptyCanaryPrimaryNotReady(_ *siskinv1.Canary, o *Observation) {
	noAvailableCanary(nil, o)
	o.Primary.Ready, o.Primary.Message = false, "1/2 replicas available"
}

var safetyCases = []planCase{{
	name: "a new revision queued after a failed promotion takes the traffic off the canary that had it",
	canary: func(c *siskinv1.Canary) {
		restingStatus(c, siskinv1.PhaseFailed)
		c.Status.LastAppliedSpec, c.Status.CanaryWeight = revNew, 100
		set(&c.Status, c.Generation, stamp(t0), siskinv1.ConditionPromoted, "False", siskinv1.ReasonPromotionFailed, "promotion failed")
	},
	obs: both(target(revNewer), func(_ *siskinv1.Canary, o *Observation) {
		o.RolloutQueued = true
		o.Primary.Fingerprint = revNew
		o.Route.PrimaryWeight, o.Route.CanaryWeight = 0, 100
	}),
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "NewRevision!warn Queued",
	requeue: QueuePoll,
}, {
	name:   "a target deleted while the primary runs an unpromoted revision reports the drift, not a rollback to the promoted one",
	canary: progressingAt(0),
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Target = Workload{}
		o.Primary.Fingerprint = revNew
	},
	phase:   siskinv1.PhaseFailed,
	actions: "ScaleTargetDown",
	events:  "PrimaryDrift!warn RolledBack!error",
	check:   wantCondition(siskinv1.ConditionStalled, "True/PrimaryDrift"),
}, {
	name: "a rollback the router has not confirmed past the deadline says so once and keeps asking",
	canary: func(c *siskinv1.Canary) {
		rollingBackStatus(c)
		c.Status.WaitingSince = ptr(metav1.NewTime(t0.Add(-10 * time.Minute)))
	},
	obs:     func(_ *siskinv1.Canary, o *Observation) { o.Route.PrimaryWeight, o.Route.CanaryWeight = 50, 50 },
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "RollingBack!warn",
	requeue: time.Minute,
	check:   all(noActionOf(ScaleTargetDown), wantCondition(siskinv1.ConditionReconciling, "True/RollingBack")),
}, {
	name:   "a scale-up lost after the status that started the analysis is asked for again",
	canary: progressingAt(0),
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Target = Workload{Exists: true, Fingerprint: revNew, Message: "scaled to zero"}
	},
	phase:   siskinv1.PhaseProgressing,
	actions: "ScaleTargetUp",
	requeue: 10 * time.Minute,
	check:   wantCondition(siskinv1.ConditionReconciling, "True/CanaryNotReady"),
}, {
	name: "an empty canary is rolled back after an interval even while the primary is not ready",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 20)
		withWait(c, siskinv1.ReasonCanaryNotReady, t0)
	},
	obs:     emptyCanaryPrimaryNotReady,
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "CanaryNotReady!warn RolledBack!error",
	requeue: time.Minute,
}, {
	name: "a StatefulSet's canary pods coming up at a step are not an empty canary",
	canary: func(c *siskinv1.Canary) {
		c.Spec.Provider = siskinv1.ProviderReplicas
		progressingStatus(c, 20)
		withWait(c, siskinv1.ReasonCanaryNotReady, t0.Add(-20*time.Minute))
	},
	obs: both(noAvailableCanary, func(_ *siskinv1.Canary, o *Observation) {
		o.Provider = siskinv1.ProviderReplicas
		o.Route = Route{PrimaryWeight: 80, CanaryWeight: 20, Message: "1 of 5 pods updated, 0 ready"}
	}),
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	requeue: 10 * time.Minute,
}, {
	name: "the wait for an empty canary keeps its clock while the primary is not ready",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 20)
		withWait(c, siskinv1.ReasonCanaryNotReady, t0.Add(30*time.Second))
	},
	obs:     emptyCanaryPrimaryNotReady,
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	requeue: 30 * time.Second,
	check:   all(waitingFrom(t0.Add(30*time.Second)), wantCondition(siskinv1.ConditionReconciling, "True/CanaryNotReady")),
}, {
	name: "a paused promotion takes the traffic off a canary whose target changed",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 30)
		c.Status.Phase, c.Status.Paused = siskinv1.PhasePromoting, true
	},
	obs: both(target(revNewer), func(_ *siskinv1.Canary, o *Observation) {
		o.Primary.Fingerprint, o.Primary.Ready = revNew, false
	}),
	phase:   siskinv1.PhasePromoting,
	actions: "SetRoute(100/0)",
	events:  "NewRevision",
}, {
	name: "a failed promotion at rest keeps the canary that carries the traffic running",
	canary: func(c *siskinv1.Canary) {
		restingStatus(c, siskinv1.PhaseFailed)
		c.Status.LastAppliedSpec, c.Status.CanaryWeight = revNew, 100
		set(&c.Status, c.Generation, stamp(t0), siskinv1.ConditionPromoted, "False", siskinv1.ReasonPromotionFailed, "promotion failed")
	},
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Target = Workload{Exists: true, Fingerprint: revNew, Ready: true, Replicas: 2, Available: 2}
		o.Primary.Fingerprint = revNew
	},
	phase:  siskinv1.PhaseFailed,
	weight: 100,
	check:  noActionOf(ScaleTargetDown),
}, {
	name: "a new revision after a failed promotion waits for approval without the traffic the canary had",
	canary: func(c *siskinv1.Canary) {
		restingStatus(c, siskinv1.PhaseFailed)
		c.Status.LastAppliedSpec, c.Status.CanaryWeight = revNew, 100
		set(&c.Status, c.Generation, stamp(t0), siskinv1.ConditionPromoted, "False", siskinv1.ReasonPromotionFailed, "promotion failed")
		hook(c, siskinv1.ConfirmRolloutHook)
	},
	obs: both(target(revNewer), closed(siskinv1.ConfirmRolloutHook), func(_ *siskinv1.Canary, o *Observation) {
		o.Route.PrimaryWeight, o.Route.CanaryWeight = 0, 100
	}),
	phase:   siskinv1.PhaseWaiting,
	actions: "SetRoute(100/0)",
	events:  "NewRevision!warn NewRevision WaitingForApproval",
	requeue: time.Minute,
}, {
	name: "a new revision queued behind the rollout limit does not stop a rollback's route",
	canary: func(c *siskinv1.Canary) {
		rollingBackStatus(c)
	},
	obs: both(target(revNewer), func(_ *siskinv1.Canary, o *Observation) {
		o.RolloutQueued = true
		o.Route.PrimaryWeight, o.Route.CanaryWeight = 50, 50
	}),
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "Queued",
	requeue: QueuePoll,
}, {
	name:   "a scale-down lost after the status that decided it is done at rest",
	canary: func(c *siskinv1.Canary) { restingStatus(c, siskinv1.PhaseSucceeded) },
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Target = Workload{Exists: true, Fingerprint: revOld, Ready: true, Replicas: 2, Available: 2}
	},
	phase:   siskinv1.PhaseSucceeded,
	actions: "ScaleTargetDown",
}, {
	name:    "a manual promote in the round the target changes never promotes the new revision",
	canary:  progressingAt(20),
	obs:     both(manual(siskinv1.AnnotationPromote, "now"), target(revNewer)),
	phase:   siskinv1.PhaseProgressing,
	actions: "SetRoute(100/0) ScaleTargetUp",
	events:  "ManualRequestIgnored!warn NewRevision",
	requeue: time.Minute,
	check: all(noActionOf(Promote), wantEventText(siskinv1.ReasonManualRequestIgnored, "revision rev-3, which has not been analysed"),
		wantStatus("lastAppliedSpec rev-3", func(st *siskinv1.CanaryStatus) bool { return st.LastAppliedSpec == revNewer })),
}, {
	name:    "a promotion copies the revision that passed the analysis, named in the action",
	canary:  progressingAt(30),
	phase:   siskinv1.PhasePromoting,
	weight:  30,
	actions: "Promote(rev-2)",
	events:  "PromotionStarted",
	requeue: 10 * time.Minute,
}, {
	name:    "a query error is not a failed check and does not advance the rollout",
	canary:  progressingAt(10),
	obs:     errorVerdict,
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	events:  "AnalysisError!warn",
	requeue: time.Minute,
	check: all(wantAnalysisErrors(1), wantStatus("failedChecks 0", func(st *siskinv1.CanaryStatus) bool { return st.FailedChecks == 0 }),
		wantCondition(siskinv1.ConditionReconciling, "True/AnalysisError")),
}, {
	name:    "errorLimit consecutive steps without a verdict roll back",
	canary:  withErrors(4),
	obs:     errorVerdict,
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "AnalysisErrorLimit!warn RolledBack!error",
	requeue: time.Minute,
	check:   wantEventText(siskinv1.ReasonRolledBack, "steps without a verdict 5/5"),
}, {
	name:    "a step with a verdict starts the error count again",
	canary:  withErrors(3),
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "StepWeightIncreased",
	requeue: time.Minute,
	check:   wantAnalysisErrors(0),
}, {
	name:    "a query error at the promotion step never promotes",
	canary:  progressingAt(30),
	obs:     errorVerdict,
	phase:   siskinv1.PhaseProgressing,
	weight:  30,
	events:  "AnalysisError!warn",
	requeue: time.Minute,
	check:   noActionOf(Promote),
}, {
	name:    "the first step at weight 0 waits one interval for data, as a load test aimed at the canary gives it",
	canary:  progressingAt(0),
	obs:     verdict(siskinv1.VerdictNoData),
	phase:   siskinv1.PhaseProgressing,
	events:  "WaitingForData",
	requeue: time.Minute,
	check:   wantCondition(siskinv1.ConditionReconciling, "True/WaitingForData"),
}, {
	name: "a step at weight 0 still without data after an interval goes on: the canary was sent no traffic to judge",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 0)
		withWait(c, siskinv1.ReasonWaitingForData, t0)
	},
	obs:     verdict(siskinv1.VerdictNoData),
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	actions: "SetRoute(90/10)",
	events:  "StepWeightIncreased",
	requeue: time.Minute,
	check:   wantEventText(siskinv1.ReasonStepWeightIncreased, "metrics without data were not waited for longer: the route sent the canary no traffic yet"),
}, {
	name: "A/B testing does not wait for data before matching requests reach the canary: waiting cannot bring any",
	canary: func(c *siskinv1.Canary) {
		abTestingSpec(c, 3)
		progressingStatus(c, 0)
	},
	obs:     verdict(siskinv1.VerdictNoData),
	phase:   siskinv1.PhaseProgressing,
	weight:  100,
	actions: "SetRoute(0/100)",
	events:  "IterationCompleted",
	requeue: time.Minute,
	check:   wantEventText(siskinv1.ReasonIterationCompleted, "requests matching analysis.match now go to the canary"),
}, {
	name:    "a failing metric at weight 0 still counts: a load test aimed at the canary is traffic it was sent",
	canary:  progressingAt(0),
	obs:     verdict(siskinv1.VerdictFail),
	phase:   siskinv1.PhaseProgressing,
	events:  "AnalysisCheckFailed!warn",
	requeue: time.Minute,
	check:   wantStatus("failedChecks 1", func(st *siskinv1.CanaryStatus) bool { return st.FailedChecks == 1 }),
}, {
	name:    "a metric without data at weight 10 still holds the step",
	canary:  progressingAt(10),
	obs:     verdict(siskinv1.VerdictNoData),
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	events:  "WaitingForData",
	requeue: time.Minute,
}, {
	name:    "a canary without an available replica keeps its traffic for one interval at most",
	canary:  progressingAt(20),
	obs:     noAvailableCanary,
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	requeue: time.Minute,
	check:   wantCondition(siskinv1.ConditionReconciling, "True/CanaryNotReady"),
}, {
	name: "a canary without an available replica for an interval is rolled back",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 20)
		withWait(c, siskinv1.ReasonCanaryNotReady, t0)
	},
	obs:     noAvailableCanary,
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "CanaryNotReady!warn RolledBack!error",
	requeue: time.Minute,
}, {
	name: "skipAnalysis still waits for the canary to be ready",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 0)
		c.Spec.SkipAnalysis = true
	},
	obs:     canaryNotReady,
	phase:   siskinv1.PhaseProgressing,
	requeue: 10 * time.Minute,
	check:   all(noActionOf(Promote), wantCondition(siskinv1.ConditionReconciling, "True/CanaryNotReady")),
}, {
	name: "skipAnalysis promotes once the canary is ready",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 0)
		c.Spec.SkipAnalysis = true
	},
	phase:   siskinv1.PhasePromoting,
	actions: "Promote(rev-2)",
	events:  "PromotionStarted",
	requeue: 10 * time.Minute,
}, {
	name: "skipAnalysis with a canary never ready rolls back at the progress deadline",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 0)
		c.Spec.SkipAnalysis = true
		withWait(c, siskinv1.ReasonCanaryNotReady, t0.Add(-9*time.Minute))
	},
	obs:     canaryNotReady,
	phase:   siskinv1.PhaseFailed,
	actions: "ScaleTargetDown",
	events:  "ProgressDeadlineExceeded!warn RolledBack!error",
	check:   noActionOf(Promote),
}, {
	name:    "a primary at rest that runs an unpromoted revision is repaired from the target",
	canary:  func(c *siskinv1.Canary) { restingStatus(c, siskinv1.PhaseSucceeded) },
	obs:     primaryRuns(revNew),
	phase:   siskinv1.PhaseSucceeded,
	actions: "Promote(rev-1)",
	events:  "PrimaryDrift!warn",
	check:   wantCondition(siskinv1.ConditionReconciling, "True/PrimaryDrift"),
}, {
	name:    "an analysis whose primary runs an unpromoted revision is rolled back and reports the drift",
	canary:  progressingAt(20),
	obs:     primaryRuns(revNew),
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "PrimaryDrift!warn RolledBack!error",
	requeue: time.Minute,
	check:   wantEventText(siskinv1.ReasonRolledBack, "Deployment/podinfo-primary runs revision rev-2, but the promoted revision is rev-1"),
}, {
	name:   "a rolled-back canary whose primary does not run the promoted revision is not reported healthy",
	canary: func(c *siskinv1.Canary) { restingStatus(c, siskinv1.PhaseFailed); c.Status.LastAppliedSpec = revNew },
	obs:    both(primaryRuns(revNew), target(revNew)),
	phase:  siskinv1.PhaseFailed,
	events: "PrimaryDrift!warn",
	check:  wantCondition(siskinv1.ConditionStalled, "True/PrimaryDrift"),
}, {
	name:   "a route that is not Siskin's is not written, and the analysis waits for it",
	canary: progressingAt(20),
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Route = Route{Problem: siskinv1.ReasonNotOwned, Message: "VirtualService podinfo is not managed by Siskin"}
	},
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	requeue: 10 * time.Minute,
	check:   wantCondition(siskinv1.ConditionReconciling, "True/NotOwned"),
}, {
	name: "a route that is not Siskin's past the deadline rolls back without writing it",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 20)
		withWait(c, siskinv1.ReasonNotOwned, t0.Add(-9*time.Minute))
	},
	obs: func(_ *siskinv1.Canary, o *Observation) {
		o.Route = Route{Problem: siskinv1.ReasonNotOwned, Message: "VirtualService podinfo is not managed by Siskin"}
	},
	phase:   siskinv1.PhaseFailed,
	events:  "ProgressDeadlineExceeded!warn RolledBack!error",
	requeue: time.Minute,
}, {
	name: "a promotion the target overtook before the primary took it analyses the new revision",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 30)
		c.Status.Phase = siskinv1.PhasePromoting
		withWait(c, siskinv1.ReasonPromoting, t0)
	},
	obs:     target(revNewer),
	phase:   siskinv1.PhaseProgressing,
	actions: "SetRoute(100/0) ScaleTargetUp",
	events:  "NewRevision!warn",
	requeue: time.Minute,
	check:   noActionOf(Promote),
}, {
	name: "a failed promotion never routes traffic to a canary that runs another revision",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 30)
		c.Status.Phase = siskinv1.PhasePromoting
		withWait(c, siskinv1.ReasonPromoting, t0.Add(-9*time.Minute))
	},
	obs: both(target(revNewer), func(_ *siskinv1.Canary, o *Observation) {
		o.Primary = Workload{Exists: true, Fingerprint: revNew, Message: "1/2 replicas available", Replicas: 2, Available: 1}
	}),
	phase:   siskinv1.PhaseFailed,
	actions: "SetRoute(100/0)",
	events:  "NewRevision ProgressDeadlineExceeded!warn PromotionFailed!error",
	check:   wantEventText(siskinv1.ReasonPromotionFailed, "so all traffic stays on the primary"),
}}

var _ = metav1.Now
