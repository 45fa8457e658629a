package canary

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// NeedsFor says what the controller must gather before calling Plan this round: which gate
// webhooks to call and whether an analysis step is due (run pre-rollout and rollout webhooks,
// query the metrics). It reads obs without Gates and Checks. A Canary at rest, paused, or
// between two steps needs nothing, so it costs no queries and no webhook calls.
//
// A step is due when now >= status.lastStepTime + analysis.interval and the canary, the primary
// and the route are ready for it. Plan calls NeedsFor itself to know what was gathered, so the
// two always agree.
func NeedsFor(c *siskinv1.Canary, obs Observation) Needs {
	s := settingsFor(c, &obs)
	return needsFor(c, &obs, &s)
}

func needsFor(c *siskinv1.Canary, obs *Observation, s *settings) Needs {
	st := &c.Status
	if !obs.Target.Exists {
		return Needs{}
	}
	m := predictManual(c, obs, s)
	if m.transition {
		if m.retry {
			return gateNeeds(s, siskinv1.ConfirmRolloutHook)
		}
		return Needs{}
	}
	fp := obs.Target.Fingerprint
	switch st.Phase {
	case siskinv1.PhaseInitialized, siskinv1.PhaseSucceeded, siskinv1.PhaseFailed:
		if isNewRevision(st, fp) && !obs.RolloutQueued {
			return gateNeeds(s, siskinv1.ConfirmRolloutHook)
		}
	case siskinv1.PhaseWaiting:
		if !m.paused && fp != st.LastPromotedSpec && waitingPollDue(st, fp, s, obs.Now) {
			return gateNeeds(s, siskinv1.ConfirmRolloutHook, siskinv1.RollbackHook)
		}
	case siskinv1.PhaseProgressing, siskinv1.PhaseWaitingPromotion:
		if m.paused || s.skipAnalysis || fp != st.LastAppliedSpec || blockedBy(s, st, obs) != "" {
			break
		}
		var n Needs
		if clockDue(st.LastStepTime, s.interval, obs.Now) {
			n = stepNeeds(s, st)
		}
		if s.compare != nil && st.Phase == siskinv1.PhaseProgressing && (n.Step || lookDue(s.compare, st, obs.Now)) {
			n.Compare, n.CompareSince, n.Control = true, lookSince(st), controlWorkload(c, s)
		}
		return n
	}
	return Needs{}
}

// stepNeeds is what an analysis step at st needs: its checks, the rollback gate, and the gate
// that the move after a passing step waits behind.
func stepNeeds(s *settings, st *siskinv1.CanaryStatus) Needs {
	n := Needs{
		Step:       true,
		PreRollout: st.PreRolloutSpec != st.LastAppliedSpec && s.hasHooks(siskinv1.PreRolloutHook),
		NoTraffic:  !s.strategy.judgedOnTraffic(st),
	}
	if s.hasHooks(siskinv1.RollbackHook) {
		n.Gates = append(n.Gates, siskinv1.RollbackHook)
	}
	var gate siskinv1.WebhookType
	switch s.strategy.next(st).kind {
	case moveWeight:
		gate = siskinv1.ConfirmTrafficIncreaseHook
	case movePromote:
		gate = siskinv1.ConfirmPromotionHook
	}
	if gate != "" && s.hasHooks(gate) {
		n.Gates = append(n.Gates, gate)
	}
	return n
}

// controlWorkload is the Deployment the canary is compared with.
func controlWorkload(c *siskinv1.Canary, s *settings) string {
	if s.compare != nil && s.compare.baseline {
		return baselineOf(c.Spec.TargetRef.Name)
	}
	return c.Spec.TargetRef.Name + "-primary"
}

// gateNeeds asks for the gates of the types given that the spec has webhooks of.
func gateNeeds(s *settings, types ...siskinv1.WebhookType) Needs {
	var n Needs
	for _, t := range types {
		if s.hasHooks(t) {
			n.Gates = append(n.Gates, t)
		}
	}
	return n
}

// isNewRevision reports whether fingerprint fp is a revision to roll out: neither the one last
// acted on (so a failed revision is not retried on its own) nor the promoted one (so putting the
// target back to the promoted revision starts nothing).
func isNewRevision(st *siskinv1.CanaryStatus, fp string) bool {
	return fp != "" && fp != st.LastAppliedSpec && fp != st.LastPromotedSpec
}

// waitingPollDue reports whether a Waiting canary polls its gates this round: at each interval,
// and at once when yet another revision arrived.
func waitingPollDue(st *siskinv1.CanaryStatus, fp string, s *settings, now time.Time) bool {
	return fp != st.LastAppliedSpec || clockDue(st.LastStepTime, s.interval, now)
}

// clockDue reports whether a step scheduled an interval after last is due at now.
func clockDue(last *metav1.Time, interval time.Duration, now time.Time) bool {
	return last == nil || !now.Before(last.Add(interval))
}

// blockedBy is the reason an analysis step cannot run now, or "" when it can: the router must
// confirm the weights the status asks for, and the primary and the canary must be ready.
func blockedBy(s *settings, st *siskinv1.CanaryStatus, obs *Observation) string {
	switch {
	case obs.Route.Problem != "":
		return obs.Route.Problem
	case !routeConfirmed(obs.Route, s.strategy.route(st)):
		return siskinv1.ReasonRouteNotConfirmed
	case !obs.Primary.Ready:
		return siskinv1.ReasonPrimaryNotReady
	case !obs.Target.Ready:
		return siskinv1.ReasonCanaryNotReady
	case s.strategy.baseline && analysing(st.Phase) && (!obs.Baseline.Ready || obs.Baseline.Fingerprint != st.LastPromotedSpec):
		return siskinv1.ReasonBaselineNotReady
	}
	return ""
}
