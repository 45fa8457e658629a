package canary

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// primaryDrifted checks the invariant that the primary runs status.lastPromotedSpec whenever no
// promotion is under way, and handles a primary that does not: it reports whether it ended the
// round. The primary's revision is evidence, not an assumption: a hand edit, or a write of an
// older controller that crashed between copying a revision and recording it, can leave the
// primary on a revision that was never promoted.
//
// When the target still holds the promoted revision (at rest) the primary is repaired from it.
// During an analysis the target holds the new revision, so nothing can be copied back: the
// rollout is rolled back (traffic to the primary, the canary scaled down) and the Canary stays
// Stalled with reason PrimaryDrift, saying which revision the primary really runs, until a
// person repairs it. A rollout is never reported as rolled back to a primary that does not run
// the promoted revision.
func (p *planner) primaryDrifted() bool {
	st, obs := &p.st, p.obs
	switch st.Phase {
	case siskinv1.PhaseInitializing, siskinv1.PhasePromoting, siskinv1.PhaseFinalising, "":
		return false
	}
	got := obs.Primary.Fingerprint
	if !obs.Primary.Exists || got == "" || st.LastPromotedSpec == "" || got == st.LastPromotedSpec {
		return false
	}
	if got == st.LastAppliedSpec && promotedReason(st) == siskinv1.ReasonPromotionFailed {
		// A promotion that ran out of time leaves the primary on the analysed revision; that
		// is reported as PromotionFailed already.
		return false
	}
	msg := fmt.Sprintf("%s runs revision %s, but the promoted revision is %s", p.primary(), short(got), short(st.LastPromotedSpec))
	announce := reconcilingReason(&p.c.Status) != siskinv1.ReasonPrimaryDrift && stalledReason(&p.c.Status) != siskinv1.ReasonPrimaryDrift
	if obs.Target.Exists && obs.Target.Fingerprint == st.LastPromotedSpec {
		if announce {
			p.warn(siskinv1.ReasonPrimaryDrift, msg+"; copying the promoted revision back from the target")
		}
		p.promote(st.LastPromotedSpec)
		p.readiness(condProgressing, siskinv1.ReasonPrimaryDrift, msg+"; repairing it from the target")
		p.wakeAt(p.now.Add(p.set.interval))
		return true
	}
	switch {
	case analysing(st.Phase) || st.Phase == siskinv1.PhaseWaiting:
		p.rollback(siskinv1.ReasonPrimaryDrift, msg)
	case rollbackPending(st):
		p.finishRollback()
	case announce:
		p.warn(siskinv1.ReasonPrimaryDrift, msg+"; the target no longer holds the promoted revision, so it cannot be copied back")
	}
	if p.cond.reason != siskinv1.ReasonRollingBack {
		p.readiness(condStalled, siskinv1.ReasonPrimaryDrift, msg+"; restore the primary by hand or set the target back to the promoted revision")
	}
	return true
}

// routeProblem reports a route the router cannot change at all (a routing object that is not
// Siskin's, or a router whose API is not installed); a watch event on the object brings the
// Canary back once it is handed over. It is announced once.
func (p *planner) routeProblem() {
	r := p.obs.Route
	if c := meta.FindStatusCondition(p.c.Status.Conditions, siskinv1.ConditionReady); c == nil || c.Reason != r.Problem || c.Message != r.Message {
		p.warn(r.Problem, r.Message)
	}
	p.readiness(condProgressing, r.Problem, r.Message)
	// A hand-written route is not watched as the Canary's own: look again at each interval.
	p.wakeAt(p.now.Add(p.set.interval))
}

// routeWait waits for the router to confirm a route that nothing may be scaled down before
// (finalising a promotion, finishing a rollback). The router is asked again at each interval,
// however long it takes; past the progress deadline the wait says so in its condition, and a
// Warning event says it once.
func (p *planner) routeWait(reason, message string) {
	long := p.waitFor(wait{reason: reason, message: message, limit: p.set.deadline, polled: true})
	if long {
		message = fmt.Sprintf("%s; still unconfirmed after %s", message, p.set.deadline)
		if c := meta.FindStatusCondition(p.c.Status.Conditions, siskinv1.ConditionReconciling); c == nil || !strings.Contains(c.Message, "still unconfirmed after") {
			p.warn(reason, message)
		}
		p.readiness(condProgressing, reason, message)
	}
	p.wakeAt(p.now.Add(p.set.interval))
}

// promotedReason is the reason of the Promoted condition ("" when absent).
func promotedReason(st *siskinv1.CanaryStatus) string {
	if c := meta.FindStatusCondition(st.Conditions, siskinv1.ConditionPromoted); c != nil {
		return c.Reason
	}
	return ""
}

// stalledReason is the reason of a Stalled condition that is True ("" otherwise).
func stalledReason(st *siskinv1.CanaryStatus) string {
	if c := meta.FindStatusCondition(st.Conditions, siskinv1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason
	}
	return ""
}

// erroredStep handles a step whose checks could not all be made (verdict Error) while none
// failed. Such a step is not evidence: it neither counts as a failed check nor advances the
// rollout. analysis.errorLimit consecutive errored steps roll the canary back; a step with a
// verdict starts the count again.
func (p *planner) erroredStep(v verdicts) {
	st := &p.st
	st.AnalysisErrors++
	cause := describeCheck(&p.obs.Checks[v.firstError])
	if v.errors > 1 {
		cause += fmt.Sprintf(" (and %d more checks that could not be made)", v.errors-1)
	}
	detail := fmt.Sprintf("%s; steps without a verdict %d/%d", cause, st.AnalysisErrors, p.set.errorLimit)
	if st.AnalysisErrors >= p.set.errorLimit {
		p.rollback(siskinv1.ReasonAnalysisErrorLimit, detail)
		return
	}
	p.warn(siskinv1.ReasonAnalysisError, fmt.Sprintf("revision %s: %s; the step is repeated at the next interval", p.rev(), detail))
	if st.Phase == siskinv1.PhaseProgressing {
		p.readiness(condProgressing, siskinv1.ReasonAnalysisError, fmt.Sprintf("revision %s: %s", p.rev(), detail))
	}
}

// canaryEmpty reports whether the canary receives routed traffic while it has no available
// replica, the moment from which that traffic fails. It is allowed for one interval at most
// (pods restart, a node drains), then the rollout is rolled back.
func (p *planner) canaryEmpty() bool {
	st, obs := &p.st, p.obs
	if st.CanaryWeight <= 0 || !obs.Target.Exists || obs.Target.Available > 0 {
		return false
	}
	if info, _ := providers.Lookup(p.set.provider); info.Pods && !obs.Route.Converged {
		// The weight is the canary's pods: a StatefulSet's step is what starts them. Until
		// the step has converged they are coming up, which the route's wait bounds; the
		// clock of an empty canary starts once they have been there.
		return false
	}
	msg := fmt.Sprintf("the canary %s has no available replica while it receives %d%% of traffic%s", p.target(), st.CanaryWeight, suffix(obs.Target.Message))
	if p.waitFor(wait{reason: siskinv1.ReasonCanaryNotReady, message: fmt.Sprintf("revision %s: %s", p.rev(), msg), limit: min(p.set.interval, p.set.deadline)}) {
		p.rollback(siskinv1.ReasonCanaryNotReady, fmt.Sprintf("%s for longer than %s", msg, min(p.set.interval, p.set.deadline)))
		return true
	}
	// The round ends here: another wait (the primary, the route) would restart this one's
	// clock every round, and the limit would never be reached.
	p.wakeAt(p.nextStep())
	return true
}
