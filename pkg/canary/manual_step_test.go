package canary

import (
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// manualStepCases are the transitions of siskin.dev/promote values starting with
// PromoteStepPrefix: the next step only.
var manualStepCases = []planCase{{
	name:    "a step request moves the canary to its next weight at once, without the step's checks",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 10) },
	obs:     manual(siskinv1.AnnotationPromote, PromoteStepPrefix+"t1"),
	at:      10 * time.Second,
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "ManualPromote",
	requeue: time.Minute,
	check: all(
		wantEventText(siskinv1.ReasonManualPromote, "siskin.dev/promote=step:t1: revision rev-2 moved to its next step without analysis: canary weight increased to 20%"),
		wantStatus("the step clock restarted and the request acknowledged", func(st *siskinv1.CanaryStatus) bool {
			return st.LastStepTime.Time.Equal(t0.Add(10*time.Second)) && st.Iterations == 2 && st.ManualRequests[siskinv1.AnnotationPromote] == "step:t1"
		}),
	),
}, {
	// NeedsFor asks for no gate: the round checks nothing.
	name:    "a step request does not ask the confirm-traffic-increase gate: a person decided",
	canary:  func(c *siskinv1.Canary) { trafficGated(c); progressingStatus(c, 10) },
	obs:     manual(siskinv1.AnnotationPromote, PromoteStepPrefix+"t1"),
	at:      10 * time.Second,
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "ManualPromote",
	requeue: time.Minute,
}, {
	name:    "a step request at the last step promotes",
	canary:  func(c *siskinv1.Canary) { progressingStatus(c, 30) },
	obs:     manual(siskinv1.AnnotationPromote, PromoteStepPrefix+"t1"),
	at:      10 * time.Second,
	phase:   siskinv1.PhasePromoting,
	weight:  30,
	actions: "Promote(rev-2)",
	events:  "ManualPromote",
	requeue: 10 * time.Minute,
	check:   wantEventText(siskinv1.ReasonManualPromote, "siskin.dev/promote=step:t1: revision rev-2 was at its last step (canary weight 30/30); promoting it without further analysis"),
}, {
	name:    "a step request of a blue/green rollout counts an iteration",
	canary:  bgAt(0, 1),
	obs:     manual(siskinv1.AnnotationPromote, PromoteStepPrefix+"t1"),
	at:      10 * time.Second,
	phase:   siskinv1.PhaseProgressing,
	weight:  0,
	events:  "ManualPromote",
	requeue: time.Minute,
	check: wantStatus("iteration 2", func(st *siskinv1.CanaryStatus) bool {
		return st.Iterations == 2
	}),
}, {
	name:    "a step request while waiting for approval to start is refused: there is no step yet",
	canary:  waitingStatus,
	obs:     both(waitingTarget, manual(siskinv1.AnnotationPromote, PromoteStepPrefix+"t1")),
	at:      10 * time.Second,
	phase:   siskinv1.PhaseWaiting,
	events:  "ManualRequestIgnored!warn",
	requeue: 50 * time.Second,
	check:   wantEventText(siskinv1.ReasonManualRequestIgnored, "has no next step yet"),
}}

func TestManualStep(t *testing.T) {
	for _, tc := range manualStepCases {
		t.Run(tc.name, func(t *testing.T) { runPlanCase(t, tc) })
	}
}
