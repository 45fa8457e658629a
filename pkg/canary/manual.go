package canary

import (
	"fmt"
	"strings"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// manualOrder is the order in which manual requests are handled when several are pending at
// once: the safe one first, and resume after pause, so that a pause and a resume seen together
// leave the analysis running.
var manualOrder = [...]string{
	siskinv1.AnnotationAbort,
	siskinv1.AnnotationRetry,
	siskinv1.AnnotationPromote,
	siskinv1.AnnotationPause,
	siskinv1.AnnotationResume,
}

// PromoteStepPrefix starts a siskin.dev/promote value that asks for the next step only
// ("step:<unique>"): the rollout moves to its next weight or iteration now, without the checks
// of the current step or the confirm-traffic-increase gate, and the next analysis step is one
// interval later; at the last step it is a promotion. Any other value promotes the revision
// under analysis at once.
const PromoteStepPrefix = "step:"

// isStepRequest reports whether a siskin.dev/promote value asks for the next step only.
func isStepRequest(value string) bool { return strings.HasPrefix(value, PromoteStepPrefix) }

// pendingRequest reports whether the manual-control annotation ann holds a value that has not
// been handled yet. Each value is acted on once: the handled value is recorded in
// status.manualRequests, whether the request applied or not.
func pendingRequest(st *siskinv1.CanaryStatus, obs *Observation, ann string) bool {
	v := obs.Manual[ann]
	return v != "" && v != st.ManualRequests[ann]
}

// manualState is the part of the status that decides whether a manual request applies.
type manualState struct {
	phase  siskinv1.CanaryPhase
	paused bool
}

// manualApplies reports whether request ann applies in state m, and if not, why.
func manualApplies(ann string, m manualState, st *siskinv1.CanaryStatus, obs *Observation) (bool, string) {
	phase := m.phase
	switch ann {
	case siskinv1.AnnotationAbort, siskinv1.AnnotationPromote:
		switch phase {
		case siskinv1.PhaseWaiting, siskinv1.PhaseProgressing, siskinv1.PhaseWaitingPromotion:
			if fp := obs.Target.Fingerprint; ann == siskinv1.AnnotationPromote && fp != st.LastAppliedSpec {
				// A person promotes the revision they watched, not one that arrived since.
				return false, fmt.Sprintf("the target changed to revision %s, which has not been analysed; revision %s can no longer be promoted", short(fp), short(st.LastAppliedSpec))
			}
			if ann == siskinv1.AnnotationPromote && phase == siskinv1.PhaseWaiting && isStepRequest(obs.Manual[ann]) {
				return false, fmt.Sprintf("revision %s waits for approval to start its analysis: it has no next step yet; promote it in full, or approve the rollout", short(st.LastAppliedSpec))
			}
			return true, ""
		case siskinv1.PhasePromoting, siskinv1.PhaseFinalising:
			return false, fmt.Sprintf("the promotion of revision %s has already started", short(st.LastAppliedSpec))
		}
		return false, fmt.Sprintf("no rollout is in progress (phase %s)", phase)
	case siskinv1.AnnotationRetry:
		switch {
		case phase != siskinv1.PhaseFailed:
			return false, fmt.Sprintf("only a failed rollout can be retried (phase %s)", phase)
		case obs.Target.Fingerprint == st.LastPromotedSpec:
			return false, fmt.Sprintf("the target runs the promoted revision %s: nothing to retry", short(st.LastPromotedSpec))
		}
		return true, ""
	case siskinv1.AnnotationPause:
		switch {
		case m.paused:
			return false, "the analysis is already paused"
		case phase == siskinv1.PhaseWaiting, analysing(phase), phase == siskinv1.PhasePromoting:
			return true, ""
		}
		return false, fmt.Sprintf("nothing to pause in phase %s", phase)
	case siskinv1.AnnotationResume:
		if !m.paused {
			return false, "the analysis is not paused"
		}
		return true, ""
	}
	return false, "unknown request"
}

// manualOutcome is what the pending manual requests will do this round, worked out without
// side effects so that NeedsFor and Plan agree.
type manualOutcome struct {
	// transition is true when an abort, retry or promote applies: the round does nothing else.
	transition bool
	// retry is true when a retry applies: the confirm-rollout gate is needed.
	retry bool
	// paused is status.paused after pause and resume requests.
	paused bool
}

func predictManual(c *siskinv1.Canary, obs *Observation, s *settings) manualOutcome {
	st := &c.Status
	m := manualState{phase: st.Phase, paused: st.Paused}
	var out manualOutcome
	for _, ann := range manualOrder {
		if !pendingRequest(st, obs, ann) {
			continue
		}
		if ok, _ := manualApplies(ann, m, st, obs); !ok {
			continue
		}
		switch ann {
		case siskinv1.AnnotationAbort:
			m = manualState{phase: siskinv1.PhaseFailed}
			out.transition = true
		case siskinv1.AnnotationRetry:
			// Waiting or Progressing: the same requests apply in both.
			m = manualState{phase: siskinv1.PhaseWaiting}
			if s.skipAnalysis {
				m.phase = siskinv1.PhasePromoting
			}
			out.transition, out.retry = true, true
		case siskinv1.AnnotationPromote:
			out.transition = true
			if isStepRequest(obs.Manual[ann]) && s.strategy.next(st).kind != movePromote {
				continue // the rollout stays where it is, one step further
			}
			m = manualState{phase: siskinv1.PhasePromoting}
		case siskinv1.AnnotationPause:
			m.paused = true
		case siskinv1.AnnotationResume:
			m.paused = false
		}
	}
	out.paused = m.paused
	return out
}

// manual handles the pending manual requests in manualOrder, acknowledging each, and reports
// whether one of them moved the rollout to another phase (which ends the round).
func (p *planner) manual() (transitioned bool) {
	st := &p.st
	for _, ann := range manualOrder {
		if !pendingRequest(st, p.obs, ann) {
			continue
		}
		value := p.obs.Manual[ann]
		ok, why := manualApplies(ann, manualState{phase: st.Phase, paused: st.Paused}, st, p.obs)
		if st.ManualRequests == nil {
			st.ManualRequests = map[string]string{}
		}
		st.ManualRequests[ann] = value
		request := fmt.Sprintf("%s=%s", ann, value)
		if !ok {
			p.warn(siskinv1.ReasonManualRequestIgnored, fmt.Sprintf("%s ignored: %s", request, why))
			continue
		}
		switch ann {
		case siskinv1.AnnotationAbort:
			p.rollback(siskinv1.ReasonManualAbort, "aborted by "+request)
			transitioned = true
		case siskinv1.AnnotationRetry:
			p.info(siskinv1.ReasonManualRetry, fmt.Sprintf("%s: retrying revision %s", request, short(p.obs.Target.Fingerprint)))
			st.PreRolloutSpec = ""
			p.requestRollout(p.obs.Target.Fingerprint)
			transitioned = true
		case siskinv1.AnnotationPromote:
			if isStepRequest(value) {
				p.manualStep(request)
			} else {
				p.startPromotion(siskinv1.ReasonManualPromote, fmt.Sprintf("%s: promoting revision %s without further analysis", request, p.rev()))
			}
			transitioned = true
		case siskinv1.AnnotationPause:
			st.Paused = true
			p.info(siskinv1.ReasonManualPause, fmt.Sprintf("%s: paused at %s", request, p.where()))
		case siskinv1.AnnotationResume:
			p.resume(request)
		}
	}
	return transitioned
}

// manualStep moves the rollout to its next step now, as a passing step would but without its
// checks or the confirm-traffic-increase gate: a person decided. The next analysis step is one
// interval later. At the last step the next move is the promotion, which starts.
func (p *planner) manualStep(request string) {
	st := &p.st
	s := &p.set.strategy
	mv := s.next(st)
	if mv.kind == movePromote {
		p.startPromotion(siskinv1.ReasonManualPromote, fmt.Sprintf("%s: revision %s was at its last step (%s); promoting it without further analysis", request, p.rev(), s.describe(st)))
		return
	}
	st.CanaryWeight, st.Iterations, st.WaitingSince = mv.weight, mv.iterations, nil
	st.Phase = siskinv1.PhaseProgressing
	st.LastStepTime = stampPtr(p.now)
	p.wakeAt(p.nextStep())
	p.convergeRoute()
	_, msg := s.announce(mv)
	p.info(siskinv1.ReasonManualPromote, fmt.Sprintf("%s: revision %s moved to its next step without analysis: %s", request, p.rev(), msg))
	p.readiness(condProgressing, siskinv1.ReasonProgressing, p.progressMessage())
}

// resume restarts a paused rollout. Waits start afresh, since the pause stopped their clocks;
// a step that fell due during the pause runs now, once.
func (p *planner) resume(request string) {
	st := &p.st
	if st.Advice != nil {
		p.info(siskinv1.ReasonManualResume, fmt.Sprintf("%s: a person let revision %s go on after %s", request, p.rev(), st.Advice.Message))
		p.letGo()
		return
	}
	st.Paused, st.WaitingSince = false, nil
	p.info(siskinv1.ReasonManualResume, fmt.Sprintf("%s: resumed at %s", request, p.where()))
	reason := siskinv1.ReasonProgressing
	switch st.Phase {
	case siskinv1.PhaseWaiting:
		reason = siskinv1.ReasonWaitingForApproval
	case siskinv1.PhaseWaitingPromotion:
		reason = siskinv1.ReasonWaitingForPromotion
	case siskinv1.PhasePromoting:
		reason = siskinv1.ReasonPromoting
	}
	p.readiness(condProgressing, reason, fmt.Sprintf("revision %s: %s", p.rev(), p.where()))
}

// pausedRound keeps a paused rollout where it is: no steps, no deadlines, weights kept.
func (p *planner) pausedRound() {
	if p.st.Advice != nil {
		p.adviceRound()
		return
	}
	p.readiness(condProgressing, siskinv1.ReasonPaused, fmt.Sprintf("revision %s: paused by %s at %s", p.rev(), siskinv1.AnnotationPause, p.where()))
}

// where says where a rollout in progress stands, for messages.
func (p *planner) where() string {
	st := &p.st
	switch st.Phase {
	case siskinv1.PhaseWaiting:
		return "waiting for approval to start the analysis"
	case siskinv1.PhasePromoting, siskinv1.PhaseFinalising:
		return fmt.Sprintf("promotion, canary weight %d", st.CanaryWeight)
	}
	return fmt.Sprintf("%s, failed checks %d/%d", p.set.strategy.describe(st), st.FailedChecks, p.set.threshold)
}
