package canary

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// atRest handles Initialized, Succeeded and Failed: a new revision starts a rollout, a pending
// rollback finishes, and otherwise only drifted routes are put back.
func (p *planner) atRest() {
	st := &p.st
	fp := p.obs.Target.Fingerprint
	if st.CanaryWeight > 0 && fp != st.LastAppliedSpec {
		// After a failed promotion the canary carried the traffic; it now runs another revision
		// (or is gone), which nobody analysed: the traffic goes back to the primary, whether the
		// new revision starts at once or waits for a slot.
		st.CanaryWeight = 0
		p.warn(siskinv1.ReasonNewRevision, fmt.Sprintf("the canary that carried the traffic after the failed promotion of revision %s now runs revision %s: all traffic goes back to %s",
			p.rev(), short(fp), p.primary()))
	}
	if isNewRevision(st, fp) {
		if p.obs.RolloutQueued {
			p.queued(fp)
			return
		}
		p.info(siskinv1.ReasonNewRevision, fmt.Sprintf("new revision %s of %s detected", short(fp), p.target()))
		p.requestRollout(fp)
		return
	}
	if rollbackPending(st) {
		p.finishRollback()
		return
	}
	if p.obs.Route.Problem != "" {
		p.routeProblem()
		return
	}
	p.convergeRoute()
	if want := p.route(); want.CanaryWeight == 0 && !want.Mirror && routeConfirmed(p.obs.Route, want) && p.obs.Target.Exists && p.obs.Target.Replicas > 0 {
		// At rest the target runs nothing: a scale-down lost after the status that decided it
		// was written (a crash, a failed action) is done now, once the router confirms all
		// traffic on the primary.
		p.act(ScaleTargetDown)
	}
	p.restReadiness()
}

// QueuePoll is how often a revision that waits for a rollout slot looks again. It is a safety
// net: the controller wakes the longest-queued Canary as soon as a rollout ends. A short poll
// would make every queued Canary of a long queue compete with the rollouts in flight for the
// controller's workers and API client.
const QueuePoll = 30 * time.Second

// queued keeps a new revision at rest until the controller has a rollout slot; the phase, the
// weights and the status of the last rollout stay as they are. The wait is announced once.
func (p *planner) queued(fp string) {
	msg := fmt.Sprintf("new revision %s of %s waits for a rollout slot: the controller's limit of concurrent rollouts is reached", short(fp), p.target())
	if p.obs.QueuedBehindSchedule {
		msg = fmt.Sprintf("new revision %s of %s waits for a rollout slot: the steps of the rollouts in flight run behind their schedule, and new rollouts start as they catch up (adaptive admission, --step-lateness-target)", short(fp), p.target())
	}
	if cond := meta.FindStatusCondition(p.c.Status.Conditions, siskinv1.ConditionReconciling); cond == nil || cond.Reason != siskinv1.ReasonQueued {
		p.info(siskinv1.ReasonQueued, msg)
	}
	// The route of the status stays converged while the revision waits (a rollback's included).
	p.convergeRoute()
	p.readiness(condProgressing, siskinv1.ReasonQueued, msg)
	p.wakeAt(p.now.Add(QueuePoll))
}

// requestRollout starts the rollout of revision fp behind the confirm-rollout gate: at once when
// it is open, else in phase Waiting. The target stays scaled to zero while waiting.
func (p *planner) requestRollout(fp string) {
	g := p.gate(siskinv1.ConfirmRolloutHook)
	if g.Open {
		p.startRollout(fp)
		return
	}
	st := &p.st
	p.resetAnalysis(fp)
	st.Phase = siskinv1.PhaseWaiting
	st.LastStepTime = stampPtr(p.now)
	// The new revision gets no traffic while it waits (after a failed promotion the canary
	// had it all).
	p.convergeRoute()
	p.waitFor(p.approvalWait(g))
	p.wakeAt(p.nextStep())
}

func (p *planner) approvalWait(g Gate) wait {
	mode := waitAnnounced
	if p.set.muted(siskinv1.ConfirmRolloutHook) {
		mode = waitMuted
	}
	return wait{
		reason:  siskinv1.ReasonWaitingForApproval,
		message: fmt.Sprintf("revision %s waits for approval to start the analysis%s", p.rev(), suffix(g.Message)),
		limit:   p.set.gateTimeout(siskinv1.ConfirmRolloutHook),
		mode:    mode,
		polled:  true,
	}
}

// resetAnalysis makes fp the revision being rolled out, with a fresh analysis.
func (p *planner) resetAnalysis(fp string) {
	st := &p.st
	st.LastAppliedSpec = fp
	st.CanaryWeight, st.FailedChecks, st.Iterations = 0, 0, 0
	st.LastChecks = nil
	st.WaitingSince = nil
	st.Paused, st.Advice, st.Comparison = false, nil, nil
}

// startRollout starts the analysis of revision fp: traffic back to the primary (a no-op from
// rest), the target scaled up, and the first step one interval from now. With skipAnalysis the
// revision is promoted as soon as the canary is ready, without analysis steps.
func (p *planner) startRollout(fp string) {
	st := &p.st
	p.resetAnalysis(fp)
	st.RolloutStartTime = stampPtr(p.now)
	st.LastStepTime = stampPtr(p.now)
	st.Phase = siskinv1.PhaseProgressing
	p.convergeRoute()
	p.act(ScaleTargetUp)
	p.ensureBaseline()
	p.promoted(metav1.ConditionUnknown, siskinv1.ReasonProgressing, fmt.Sprintf("revision %s is being analysed", p.rev()))
	p.readiness(condProgressing, siskinv1.ReasonProgressing, p.progressMessage())
	p.wakeAt(p.nextStep())
}

// waiting handles phase Waiting: the gates are polled at each interval (and at once when the
// target changed again); an open confirm-rollout gate starts the analysis, an open rollback
// gate or the gate timeout fails the revision. Unlike the Flagger model, rollback webhooks are
// honoured here.
func (p *planner) waiting() {
	st := &p.st
	fp := p.obs.Target.Fingerprint
	switch {
	case fp == st.LastPromotedSpec:
		p.cancel()
		return
	case st.Paused:
		p.pausedRound()
		return
	case !waitingPollDue(st, fp, &p.set, p.now):
		p.wakeAt(p.nextStep())
		return
	}
	if g := p.gate(siskinv1.RollbackHook); g.Open {
		p.rollback(siskinv1.ReasonRollbackRequested, "a rollback webhook asked for it"+suffix(g.Message))
		return
	}
	if fp != st.LastAppliedSpec {
		p.info(siskinv1.ReasonNewRevision, fmt.Sprintf("revision %s replaced revision %s while waiting for approval", short(fp), p.rev()))
		p.requestRollout(fp)
		return
	}
	g := p.gate(siskinv1.ConfirmRolloutHook)
	if g.Open {
		p.info(siskinv1.ReasonRolloutApproved, fmt.Sprintf("the %s gate opened; starting the analysis of revision %s", siskinv1.ConfirmRolloutHook, p.rev()))
		p.startRollout(fp)
		return
	}
	st.LastStepTime = p.stepStamp()
	w := p.approvalWait(g)
	if p.waitFor(w) {
		p.rollback(siskinv1.ReasonGateTimeout, fmt.Sprintf("the %s gate stayed closed for longer than %s%s", siskinv1.ConfirmRolloutHook, w.limit, suffix(g.Message)))
		return
	}
	p.wakeAt(p.nextStep())
}

// cancel ends a rollout whose target went back to the promoted revision: traffic returns to
// the primary, which already runs that revision, and the Canary ends Succeeded.
func (p *planner) cancel() {
	st := &p.st
	fp := p.obs.Target.Fingerprint
	msg := fmt.Sprintf("the target went back to the promoted revision %s; the rollout of revision %s is cancelled", short(fp), p.rev())
	p.info(siskinv1.ReasonRolloutCancelled, msg)
	p.promoted(metav1.ConditionTrue, siskinv1.ReasonRolloutCancelled, msg)
	st.LastAppliedSpec = fp
	st.Paused = false
	p.finalise()
}

// progressMessage says where the analysis of the current revision stands.
func (p *planner) progressMessage() string {
	return fmt.Sprintf("analysing revision %s: %s", p.rev(), p.where())
}
