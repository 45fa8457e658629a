package canary

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// startPromotion copies the target's template to the primary. The weights stay as they are
// until the primary runs the new revision and is ready.
func (p *planner) startPromotion(reason, message string) {
	st := &p.st
	p.info(reason, message)
	st.Phase = siskinv1.PhasePromoting
	st.WaitingSince = nil
	st.Paused, st.Advice = false, nil
	st.LastStepTime = stampPtr(p.now)
	p.promote(st.LastAppliedSpec)
	p.wake = time.Time{} // the analysis schedule ends here
	p.waitFor(p.promotionWait())
}

func (p *planner) promotionWait() wait {
	return wait{
		reason:  siskinv1.ReasonPromoting,
		message: fmt.Sprintf("promoting revision %s: waiting for %s to run it%s", p.rev(), p.primary(), suffix(p.obs.Primary.Message)),
		limit:   p.set.deadline,
	}
}

// promoting waits for the primary to run the promoted revision, then moves traffic back to it:
// at once, or in steps of stepWeightPromotion, one per interval.
func (p *planner) promoting() {
	st, obs := &p.st, p.obs
	if obs.Primary.Fingerprint != st.LastAppliedSpec && obs.Target.Fingerprint != st.LastAppliedSpec &&
		clockDue(st.LastStepTime, p.set.interval, p.now) {
		// The target moved on before the primary took the promoted revision, so that revision
		// can no longer be copied; the primary still runs the promoted one. (A copy that landed
		// shows in the cache within moments, so an interval is ample to tell the two apart.)
		// The new revision is analysed like any other.
		p.promotionOvertaken()
		return
	}
	if fp := obs.Target.Fingerprint; fp != st.LastAppliedSpec && st.CanaryWeight > 0 {
		// The canary now runs a revision nobody analysed (or is gone): it loses its traffic at
		// once, paused or not.
		st.CanaryWeight = 0
		p.info(siskinv1.ReasonNewRevision, fmt.Sprintf("revision %s arrived during the promotion of revision %s; all traffic goes to the primary, and the new revision is analysed after the promotion", short(fp), p.rev()))
	}
	if st.Paused {
		p.convergeRoute()
		p.pausedRound()
		return
	}
	if !obs.Primary.Ready || obs.Primary.Fingerprint != st.LastAppliedSpec {
		p.convergeRoute()
		if p.waitFor(p.promotionWait()) {
			p.promotionFailed()
			return
		}
		if obs.Primary.Fingerprint != st.LastAppliedSpec && obs.Target.Fingerprint == st.LastAppliedSpec {
			// Promote is idempotent: asking again heals a copy that did not land (a write
			// lost to a conflict, a primary edited by hand) instead of waiting for the deadline.
			p.promote(st.LastAppliedSpec)
		}
		return
	}
	s := &p.set.strategy
	if !s.canRoute || s.promotionStep <= 0 || st.CanaryWeight == 0 {
		p.finalise()
		return
	}
	st.WaitingSince = nil
	if clockDue(st.LastStepTime, p.set.interval, p.now) {
		st.LastStepTime = p.stepStamp()
		st.CanaryWeight = max(0, st.CanaryWeight-s.promotionStep)
		if st.CanaryWeight == 0 {
			p.finalise()
			return
		}
		p.info(siskinv1.ReasonTrafficShiftedToPrimary, fmt.Sprintf("revision %s: canary weight decreased to %d%%", p.rev(), st.CanaryWeight))
	}
	p.convergeRoute()
	p.readiness(condProgressing, siskinv1.ReasonPromoting, fmt.Sprintf("promoting revision %s: canary weight %d, moving %d%% of traffic to the primary per step",
		p.rev(), st.CanaryWeight, s.promotionStep))
	p.wakeAt(p.nextStep())
}

// promotionOvertaken handles a promotion whose revision left the target before the primary
// took it: the primary still runs the last promoted revision, so all traffic goes back to it,
// and the target's new revision starts its own analysis.
func (p *planner) promotionOvertaken() {
	fp := p.obs.Target.Fingerprint
	p.warn(siskinv1.ReasonNewRevision, fmt.Sprintf("revision %s replaced revision %s before %s took it; the promotion is abandoned and revision %s is analysed",
		short(fp), p.rev(), p.primary(), short(fp)))
	p.st.CanaryWeight = 0
	if fp == p.st.LastPromotedSpec {
		p.cancel()
		return
	}
	if !p.obs.Target.Exists {
		p.rollback(siskinv1.ReasonTargetNotFound, fmt.Sprintf("target %s not found during the promotion", p.target()))
		return
	}
	p.startRollout(fp)
}

// promotionFailed ends a promotion whose primary did not become ready in time. The primary may
// be half-updated, so the canary, which runs the analysed revision, keeps running and takes all
// traffic (as in the Flagger model); provider kubernetes cannot route to it.
func (p *planner) promotionFailed() {
	st := &p.st
	detail := fmt.Sprintf("%s did not run revision %s within %s%s", p.primary(), p.rev(), p.set.deadline, suffix(p.obs.Primary.Message))
	p.warn(siskinv1.ReasonProgressDeadlineExceeded, detail)
	st.Phase = siskinv1.PhaseFailed
	st.WaitingSince = nil
	outcome := "the canary keeps running; provider kubernetes cannot route traffic to it"
	switch t := p.obs.Target; {
	case !p.set.strategy.canRoute:
	case t.Fingerprint != st.LastAppliedSpec || t.Available == 0:
		// Traffic goes to the canary only if it runs the promoted revision and can serve it.
		st.CanaryWeight = 0
		outcome = "the canary cannot take the traffic (it does not run the revision or has no available replica), so all traffic stays on the primary"
	default:
		st.CanaryWeight = fullWeight
		outcome = "all traffic goes to the canary, which keeps running"
	}
	msg := fmt.Sprintf("promotion of revision %s failed: %s; %s", p.rev(), detail, outcome)
	p.fail(siskinv1.ReasonPromotionFailed, msg)
	p.promoted(metav1.ConditionFalse, siskinv1.ReasonPromotionFailed, msg)
	p.convergeRoute()
	p.readiness(condStalled, siskinv1.ReasonPromotionFailed, msg)
}

// finalise moves all traffic to the primary and, once the router confirms it, scales the
// canary down and ends the rollout Succeeded. Nothing is scaled down before that confirmation.
func (p *planner) finalise() {
	st := &p.st
	st.Phase = siskinv1.PhaseFinalising
	st.CanaryWeight = 0
	if !routeConfirmed(p.obs.Route, p.route()) {
		p.convergeRoute()
		p.routeWait(siskinv1.ReasonFinalising, fmt.Sprintf("revision %s: waiting for the router to confirm all traffic on the primary%s",
			p.rev(), suffix(p.obs.Route.Message)))
		return
	}
	st.WaitingSince = nil
	p.act(ScaleTargetDown)
	p.callHooks(siskinv1.PostRolloutHook)
	if st.LastAppliedSpec != st.LastPromotedSpec {
		p.info(siskinv1.ReasonPromotionCompleted, fmt.Sprintf("revision %s promoted; %s is scaled to zero", p.rev(), p.target()))
		p.promoted(metav1.ConditionTrue, siskinv1.ReasonSucceeded, fmt.Sprintf("revision %s promoted", p.rev()))
	}
	st.LastPromotedSpec = st.LastAppliedSpec
	st.Phase = siskinv1.PhaseSucceeded
	st.Paused = false
	p.restReadiness()
}

// rollback fails the current revision: all traffic back to the primary, then, once the router
// confirms it, the canary scaled down. Status keeps lastAppliedSpec, so the same revision is
// not rolled out again on its own (siskin.dev/retry does that).
func (p *planner) rollback(cause, detail string) {
	st := &p.st
	if cause == siskinv1.ReasonManualAbort {
		p.info(cause, fmt.Sprintf("revision %s: %s", p.rev(), detail))
	} else {
		p.warn(cause, fmt.Sprintf("revision %s: %s", p.rev(), detail))
	}
	msg := fmt.Sprintf("revision %s rolled back: %s", p.rev(), detail)
	p.fail(siskinv1.ReasonRolledBack, msg)
	p.promoted(metav1.ConditionFalse, siskinv1.ReasonRolledBack, msg)
	st.Phase = siskinv1.PhaseFailed
	st.CanaryWeight = 0
	st.WaitingSince = nil
	st.Paused, st.Advice = false, nil
	p.finishRollback()
}

// finishRollback scales the canary down once the router confirms all traffic on the primary.
// Until then the Canary is Failed with Reconciling True (reason RollingBack), which is how the
// next round knows the scale-down is still due.
func (p *planner) finishRollback() {
	if !routeConfirmed(p.obs.Route, p.route()) {
		p.convergeRoute()
		p.routeWait(siskinv1.ReasonRollingBack, fmt.Sprintf("rolling back revision %s: waiting for the router to confirm all traffic on the primary before scaling the canary down%s",
			p.rev(), suffix(p.obs.Route.Message)))
		return
	}
	p.st.WaitingSince = nil
	p.act(ScaleTargetDown)
	p.callHooks(siskinv1.PostRolloutHook)
	p.restReadiness()
}
