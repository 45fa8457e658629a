package canary

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// initializing brings a new Canary to Initialized: the primary is created from the target and
// becomes ready (unless skipAnalysis), and only then are the routes pointed at it and a
// pre-existing apex Service switched to it, so traffic never goes to pods that are not ready.
// The Services Siskin owns (and an apex that does not exist yet) are created while the primary
// starts: on a large fleet the API server allocates cluster IPs one at a time, and that queue
// then runs beside the wait for the primary's pods instead of after it. The target is scaled to
// zero once the router confirms that all traffic goes to the primary. The first revision is
// never analysed.
func (p *planner) initializing() {
	st, obs := &p.st, p.obs
	fp := obs.Target.Fingerprint
	switch {
	case !obs.Primary.Exists:
		p.act(EnsurePrimary)
		p.servicesEarly()
		if p.inPlace() {
			p.initWait(fmt.Sprintf("taking over %s at revision %s", p.target(), short(fp)))
		} else {
			p.initWait(fmt.Sprintf("creating %s from revision %s", p.primary(), short(fp)))
		}
	case obs.Primary.Fingerprint != fp:
		// The target changed while initializing: the primary takes the newest revision, and the
		// wait for it starts again.
		p.promote(fp)
		st.WaitingSince = nil
		p.waitFor(wait{reason: siskinv1.ReasonInitializing, message: fmt.Sprintf("updating %s to revision %s", p.primary(), short(fp)), limit: p.set.deadline})
	case !obs.Primary.Ready && !p.set.skipAnalysis:
		p.servicesEarly()
		p.initWait(fmt.Sprintf("waiting for %s to be ready%s", p.primary(), suffix(obs.Primary.Message)))
	case obs.Route.Problem != "":
		p.routeProblem()
	case !routeConfirmed(obs.Route, DesiredRoute{PrimaryWeight: fullWeight}):
		p.ensureRouting()
		p.setRoute(DesiredRoute{PrimaryWeight: fullWeight})
		p.waitFor(wait{reason: siskinv1.ReasonInitializing, message: fmt.Sprintf("routing all traffic to %s%s", p.primary(), suffix(obs.Route.Message))})
		p.wakeAt(p.now.Add(p.set.interval))
	default:
		p.act(ScaleTargetDown)
		st.Phase = siskinv1.PhaseInitialized
		st.LastAppliedSpec, st.LastPromotedSpec = fp, fp
		st.WaitingSince = nil
		p.info(siskinv1.ReasonInitialized, fmt.Sprintf("%s runs revision %s and receives all traffic; %s is scaled to zero until its next revision",
			p.primary(), short(fp), p.target()))
		p.promoted(metav1.ConditionTrue, siskinv1.ReasonInitialized, fmt.Sprintf("revision %s was promoted at initialization, without analysis", short(fp)))
		p.restReadiness()
	}
}

// servicesEarly asks for the Services while the primary starts, for a provider that has
// them and a Canary whose primary is a copy of its target. EnsureServices switches an apex
// Service it did not create only once the primary is ready, so nothing moves traffic yet.
func (p *planner) servicesEarly() {
	if providers.Generates(p.set.provider) && !p.inPlace() {
		p.act(EnsureServices)
	}
}

// initWait waits for the primary during initialization. Past the progress deadline the Canary
// is Stalled (kstatus Failed) but keeps waiting: the primary may still become ready, and a new
// target revision starts the wait again. Nothing is scaled down, so the target keeps serving.
func (p *planner) initWait(message string) {
	stalled := meta.FindStatusCondition(p.c.Status.Conditions, siskinv1.ConditionStalled)
	if stalled != nil && stalled.Reason == siskinv1.ReasonProgressDeadlineExceeded {
		p.readiness(condStalled, siskinv1.ReasonProgressDeadlineExceeded, stalled.Message)
		return
	}
	if p.waitFor(wait{reason: siskinv1.ReasonInitializing, message: message, limit: p.set.deadline}) {
		msg := fmt.Sprintf("initialization did not finish within %s: %s", p.set.deadline, message)
		p.warn(siskinv1.ReasonProgressDeadlineExceeded, msg)
		p.readiness(condStalled, siskinv1.ReasonProgressDeadlineExceeded, msg)
	}
}

// targetMissing handles a round in which the target does not exist. An analysis in progress is
// rolled back (the canary Service has no pods left); otherwise the Canary waits for the target
// to appear, which a watch event will report.
func (p *planner) targetMissing() {
	msg := fmt.Sprintf("target %s not found", p.target())
	switch p.st.Phase {
	case siskinv1.PhaseWaiting, siskinv1.PhaseProgressing, siskinv1.PhaseWaitingPromotion:
		p.rollback(siskinv1.ReasonTargetNotFound, msg)
	case siskinv1.PhaseFailed:
		if p.st.CanaryWeight > 0 {
			// A failed promotion gave the canary the traffic; with the canary gone, only the
			// primary can serve it.
			p.st.CanaryWeight = 0
			p.warn(siskinv1.ReasonTargetNotFound, msg+"; the traffic a failed promotion gave the canary goes back to the primary")
		}
		// The route of a failed rollout sends everything to the primary; one that could not be
		// changed while it was not Siskin's is converged now.
		p.convergeRoute()
		if rollbackPending(&p.st) {
			p.finishRollback()
			return
		}
		p.readiness(condProgressing, siskinv1.ReasonTargetNotFound, msg)
	default:
		p.readiness(condProgressing, siskinv1.ReasonTargetNotFound, msg)
	}
}

// restReadiness sets the conditions of a Canary at rest from its status, so they are the same
// whichever round computes them.
func (p *planner) restReadiness() {
	st := &p.st
	switch st.Phase {
	case siskinv1.PhaseInitialized:
		p.readiness(condReady, siskinv1.ReasonInitialized, fmt.Sprintf("revision %s is the primary", short(st.LastPromotedSpec)))
	case siskinv1.PhaseSucceeded:
		p.readiness(condReady, siskinv1.ReasonSucceeded, fmt.Sprintf("revision %s is promoted", short(st.LastPromotedSpec)))
	case siskinv1.PhaseFailed:
		reason, msg := siskinv1.ReasonFailed, fmt.Sprintf("the rollout of revision %s failed", short(st.LastAppliedSpec))
		if c := meta.FindStatusCondition(st.Conditions, siskinv1.ConditionPromoted); c != nil && c.Status == metav1.ConditionFalse {
			reason, msg = c.Reason, c.Message
		}
		p.readiness(condStalled, reason, msg)
	}
}
