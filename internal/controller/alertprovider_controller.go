package controller

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/notify"
)

// AlertProvider condition reasons.
const (
	reasonDelivered      = "Delivered"
	reasonDeliveryFailed = "DeliveryFailed"
	reasonNoDeliveries   = "NoDeliveries"
)

// ProviderHealth tells how deliveries to an AlertProvider went.
type ProviderHealth interface {
	Health(provider types.NamespacedName) (notify.Health, bool)
}

// AlertProviderReconciler shows in each AlertProvider's Ready condition whether notifications
// reach it, so a broken webhook URL or token is visible where it is configured.
type AlertProviderReconciler struct {
	client.Client
	// Health reports deliveries; normally the notify.Dispatcher.
	Health ProviderHealth
	// Changes carries the AlertProviders whose health changed (notify.Options.OnHealthChange).
	Changes <-chan event.GenericEvent
}

// Reconcile writes the AlertProvider's Ready condition from its delivery health.
//
// Every replica runs it and knows only the notifications it sent itself: with sharding, each
// replica notifies for its own shard. A replica therefore writes only an outcome at least as
// recent as the one the status shows (status.lastNotificationTime), and one with nothing newer
// writes only when the status says nothing about the current generation: Unknown, since an
// outcome from before a spec change says nothing about the provider as it is now. Two replicas with
// different outcomes so agree on the latest, instead of overwriting each other at every
// write the other's watch event brings back.
func (r *AlertProviderReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ap := &siskinv1.AlertProvider{}
	if err := r.Get(ctx, req.NamespacedName, ap); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := ap.Status.DeepCopy()
	cond := metav1.Condition{Type: siskinv1.ConditionReady, ObservedGeneration: ap.Generation}
	h, _ := r.Health.Health(req.NamespacedName)
	at := lastOutcome(h)
	shown := ap.Status.LastNotificationTime
	current := meta.FindStatusCondition(ap.Status.Conditions, siskinv1.ConditionReady)
	// newer: this replica knows an outcome the status does not show yet.
	newer := !at.IsZero() && (shown == nil || at.After(shown.Time))
	switch {
	case newer && h.Failing():
		cond.Status, cond.Reason = metav1.ConditionFalse, reasonDeliveryFailed
		cond.Message = fmt.Sprintf("%d notification(s) not delivered in a row: %s", h.ConsecutiveFailures, h.LastError)
	case newer:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, reasonDelivered, "the last notification was delivered"
	case current != nil && current.ObservedGeneration == ap.Generation:
		// The condition of this generation stands: this replica's outcome is shown already,
		// or another replica's later one is.
		return ctrl.Result{}, nil
	case shown == nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionUnknown, reasonNoDeliveries, "no notification to this provider has been delivered or given up yet"
	default:
		// The spec changed since the outcome shown: it was about the provider as it was.
		cond.Status, cond.Reason = metav1.ConditionUnknown, reasonNoDeliveries
		cond.Message = fmt.Sprintf("no notification has been delivered or given up since the spec changed (generation %d); lastNotificationTime is the last one before", ap.Generation)
	}
	if newer {
		ap.Status.LastNotificationTime = &metav1.MicroTime{Time: at}
	}
	meta.SetStatusCondition(&ap.Status.Conditions, cond)
	ap.Status.ObservedGeneration = ap.Generation
	if equality.Semantic.DeepEqual(before, &ap.Status) {
		return ctrl.Result{}, nil
	}
	base := ap.DeepCopy()
	base.Status = *before
	if err := r.Status().Patch(ctx, ap, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("patch status of alertprovider %s: %w", req.NamespacedName, err))
	}
	return ctrl.Result{}, nil
}

// lastOutcome is when a notification to the provider was last delivered or given up, to the
// microsecond (what status.lastNotificationTime keeps); zero when none was.
func lastOutcome(h notify.Health) time.Time {
	t := h.LastSuccess
	if h.LastFailure.After(t) {
		t = h.LastFailure
	}
	return t.Truncate(time.Microsecond)
}

// SetupWithManager registers the reconciler: it runs when an AlertProvider changes and when
// this replica's deliveries to one change its health. It runs on every replica, leader or
// not: a replica that sends notifications (a shard's owner) reports on them.
func (r *AlertProviderReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).For(&siskinv1.AlertProvider{}).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)})
	if r.Changes != nil {
		b = b.WatchesRawSource(source.Channel(r.Changes, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

// HealthChanges returns a channel for AlertProviderReconciler.Changes and the function to pass
// as notify.Options.OnHealthChange. The function never blocks: with the channel full, the
// change is seen at the provider's next event.
func HealthChanges() (<-chan event.GenericEvent, func(types.NamespacedName)) {
	ch := make(chan event.GenericEvent, 128)
	return ch, func(p types.NamespacedName) {
		select {
		case ch <- event.GenericEvent{Object: &siskinv1.AlertProvider{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name}}}:
		default:
		}
	}
}
