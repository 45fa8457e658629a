package controller

import (
	"context"
	"sort"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// indexQueued indexes the Canaries whose new revision waits for a rollout slot.
const indexQueued = "siskin.dev/queued"

// queuedSince is when a Canary's revision started waiting for a slot, or nil when it does not.
func queuedSince(c *siskinv1.Canary) *metav1.Time {
	cond := meta.FindStatusCondition(c.Status.Conditions, siskinv1.ConditionReconciling)
	if cond == nil || cond.Reason != siskinv1.ReasonQueued {
		return nil
	}
	return &cond.LastTransitionTime
}

// wakeQueued hands a slot freed by a rollout that ended to the revision that has waited longest
// for one, at once, instead of at its next poll (canary.QueuePoll). Only as many are woken as
// slots were freed: waking every queued Canary for each slot would make a long queue cost
// its length squared. A woken Canary that loses the slot to another simply polls again.
func (r *CanaryReconciler) wakeQueued(ctx context.Context, freed int) {
	if limit, _ := r.rolloutLimit(); limit <= 0 || freed <= 0 || r.wake == nil {
		return
	}
	list := &siskinv1.CanaryList{}
	// Read in place (no copies): only the keys and the queued times are read, and the events
	// sent carry no more than the key.
	if err := r.List(ctx, list, client.MatchingFields{indexQueued: "true"}, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list queued canaries")
		return
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool {
		ti, tj := queuedSince(&items[i]), queuedSince(&items[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return client.ObjectKeyFromObject(&items[i]).String() < client.ObjectKeyFromObject(&items[j]).String()
	})
	for i := 0; i < len(items) && i < freed; i++ {
		select {
		case r.wake <- event.GenericEvent{Object: &items[i]}:
		default:
			// The channel is full of wake-ups already; the Canary's own poll brings it.
			return
		}
	}
}

// freedSlots is 1 when a status write took a Canary out of the rollouts in flight.
func freedSlots(before, after siskinv1.CanaryPhase) int {
	if activePhases[before] && !activePhases[after] {
		return 1
	}
	return 0
}
