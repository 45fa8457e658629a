package canary

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// SetReadiness sets the kstatus conditions (Ready, Reconciling, Stalled) for a Canary that is
// working normally in its current phase, with the message given. Generation is the spec
// generation the status describes. Condition transition times come from the wall clock; Plan
// uses its own clock (Observation.Now) instead.
func SetReadiness(status *siskinv1.CanaryStatus, generation int64, reason, message string) {
	kind := condProgressing
	switch status.Phase {
	case siskinv1.PhaseInitialized, siskinv1.PhaseSucceeded:
		kind = condReady
	case siskinv1.PhaseFailed, siskinv1.PhaseTerminated:
		kind = condIdle
	}
	applyReadiness(status, generation, metav1.Time{}, readiness{kind: kind, reason: reason, message: message})
}

// SetStalled marks a Canary that cannot make progress until its spec changes.
func SetStalled(status *siskinv1.CanaryStatus, generation int64, reason, message string) {
	applyReadiness(status, generation, metav1.Time{}, readiness{kind: condStalled, reason: reason, message: message})
}

// SetPromoted records whether the last rollout promoted its revision.
func SetPromoted(status *siskinv1.CanaryStatus, generation int64, promoted metav1.ConditionStatus, reason, message string) {
	set(status, generation, metav1.Time{}, siskinv1.ConditionPromoted, promoted, reason, message)
}

// readinessKind is a combination of the kstatus conditions.
type readinessKind uint8

const (
	// condReady: Ready True; Reconciling and Stalled absent.
	condReady readinessKind = iota + 1
	// condProgressing: Ready False, Reconciling True; Stalled absent.
	condProgressing
	// condStalled: Ready False, Stalled True; Reconciling absent. kstatus reads this as Failed,
	// so Flux (wait: true) and Argo CD report a rolled-back Canary at once instead of timing out.
	condStalled
	// condIdle: Ready False; Reconciling and Stalled absent.
	condIdle
)

// readiness is the desired state of the kstatus conditions.
type readiness struct {
	kind    readinessKind
	reason  string
	message string
}

// applyReadiness sets Ready, Reconciling and Stalled as r asks. A zero at takes the transition
// time from the wall clock.
func applyReadiness(status *siskinv1.CanaryStatus, generation int64, at metav1.Time, r readiness) {
	ready := metav1.ConditionFalse
	if r.kind == condReady {
		ready = metav1.ConditionTrue
	}
	set(status, generation, at, siskinv1.ConditionReady, ready, r.reason, r.message)
	if r.kind == condProgressing {
		set(status, generation, at, siskinv1.ConditionReconciling, metav1.ConditionTrue, r.reason, r.message)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, siskinv1.ConditionReconciling)
	}
	if r.kind == condStalled {
		set(status, generation, at, siskinv1.ConditionStalled, metav1.ConditionTrue, r.reason, r.message)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, siskinv1.ConditionStalled)
	}
	if meta.FindStatusCondition(status.Conditions, siskinv1.ConditionPromoted) == nil {
		set(status, generation, at, siskinv1.ConditionPromoted, metav1.ConditionUnknown, r.reason, "no revision has been promoted yet")
	}
}

// set sets one condition. A zero at lets meta take the transition time from the wall clock.
func set(status *siskinv1.CanaryStatus, generation int64, at metav1.Time, typ string, s metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type:               typ,
		Status:             s,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
		LastTransitionTime: at,
	})
}

// restamp marks every condition as describing generation, leaving the rest unchanged.
func restamp(status *siskinv1.CanaryStatus, generation int64) {
	for i := range status.Conditions {
		status.Conditions[i].ObservedGeneration = generation
	}
}

// reconcilingReason is the reason of the Reconciling condition ("" when absent): what a Canary
// in progress is doing or waiting for.
func reconcilingReason(status *siskinv1.CanaryStatus) string {
	if c := meta.FindStatusCondition(status.Conditions, siskinv1.ConditionReconciling); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason
	}
	return ""
}

// rollbackPending reports whether a rolled-back canary still waits for the router's
// confirmation before it is scaled down.
func rollbackPending(status *siskinv1.CanaryStatus) bool {
	return status.Phase == siskinv1.PhaseFailed && reconcilingReason(status) == siskinv1.ReasonRollingBack
}

// stamp is t as stored in status: whole seconds (the API keeps no more), rounded up so that a
// clock read back from status never makes a step or a deadline come early.
func stamp(t time.Time) metav1.Time {
	r := t.Truncate(time.Second)
	if r.Before(t) {
		r = r.Add(time.Second)
	}
	return metav1.NewTime(r)
}

// stampPtr is stamp returning a pointer, for the optional time fields of the status.
func stampPtr(t time.Time) *metav1.Time {
	s := stamp(t)
	return &s
}
