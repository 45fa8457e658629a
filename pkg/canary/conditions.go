package canary

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// SetReadiness sets the kstatus conditions (Ready, Reconciling, Stalled) for a Canary that is
// working normally in its current phase, with the message given. Generation is the spec
// generation the status describes.
func SetReadiness(status *siskinv1.CanaryStatus, generation int64, reason, message string) {
	ready, reconciling := metav1.ConditionFalse, metav1.ConditionTrue
	switch status.Phase {
	case siskinv1.PhaseInitialized, siskinv1.PhaseSucceeded:
		ready, reconciling = metav1.ConditionTrue, metav1.ConditionFalse
	case siskinv1.PhaseFailed, siskinv1.PhaseTerminated:
		reconciling = metav1.ConditionFalse
	}
	set(status, generation, siskinv1.ConditionReady, ready, reason, message)
	if reconciling == metav1.ConditionTrue {
		set(status, generation, siskinv1.ConditionReconciling, reconciling, reason, message)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, siskinv1.ConditionReconciling)
	}
	meta.RemoveStatusCondition(&status.Conditions, siskinv1.ConditionStalled)
	if meta.FindStatusCondition(status.Conditions, siskinv1.ConditionPromoted) == nil {
		set(status, generation, siskinv1.ConditionPromoted, metav1.ConditionUnknown, reason, "no revision has been promoted yet")
	}
}

// SetStalled marks a Canary that cannot make progress until its spec changes.
func SetStalled(status *siskinv1.CanaryStatus, generation int64, reason, message string) {
	set(status, generation, siskinv1.ConditionStalled, metav1.ConditionTrue, reason, message)
	set(status, generation, siskinv1.ConditionReady, metav1.ConditionFalse, reason, message)
	meta.RemoveStatusCondition(&status.Conditions, siskinv1.ConditionReconciling)
}

// SetPromoted records whether the last rollout promoted its revision.
func SetPromoted(status *siskinv1.CanaryStatus, generation int64, promoted metav1.ConditionStatus, reason, message string) {
	set(status, generation, siskinv1.ConditionPromoted, promoted, reason, message)
}

func set(status *siskinv1.CanaryStatus, generation int64, typ string, s metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type:               typ,
		Status:             s,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
	})
}
