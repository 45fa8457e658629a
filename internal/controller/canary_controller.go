// Package controller holds Siskin's reconcilers. They are thin: load the object, observe the
// world from informer caches, ask pkg/canary what to do, act through small interfaces and write
// status once.
package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// CanaryReconciler reconciles Canary objects.
type CanaryReconciler struct {
	client.Client

	// Recorder emits Kubernetes events about Canaries.
	Recorder events.EventRecorder

	// DefaultProvider is the router provider of Canaries that name none.
	DefaultProvider string

	// MaxConcurrentReconciles bounds the number of Canaries reconciled at once.
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=siskin.dev,resources=canaries,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=siskin.dev,resources=canaries/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=siskin.dev,resources=canaries/finalizers,verbs=update
// +kubebuilder:rbac:groups=siskin.dev,resources=metrictemplates;alertproviders,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch;update
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete

// Reconcile moves one Canary a step forward and writes its status once.
func (r *CanaryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	log := ctrl.LoggerFrom(ctx)

	obj := &siskinv1.Canary{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.DeletionTimestamp.IsZero() {
		// Nothing is owned yet that deletion would have to restore.
		return ctrl.Result{}, nil
	}

	before := obj.Status.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, obj, before); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	if obj.Spec.Suspend {
		canary.SetReadiness(&obj.Status, obj.Generation, siskinv1.ReasonSuspended, "reconciliation is suspended (spec.suspend)")
		obj.Status.ObservedGeneration = obj.Generation
		return ctrl.Result{}, nil
	}

	if err := canary.Validate(&obj.Spec, r.DefaultProvider); err != nil {
		canary.SetStalled(&obj.Status, obj.Generation, siskinv1.ReasonInvalidSpec, err.Error())
		obj.Status.ObservedGeneration = obj.Generation
		r.event(obj, corev1.EventTypeWarning, siskinv1.ReasonInvalidSpec, "Validate", err.Error())
		log.Info("canary spec is invalid", "reason", siskinv1.ReasonInvalidSpec, "error", err.Error())
		return ctrl.Result{}, reconcile.TerminalError(err)
	}

	if obj.Status.Phase == "" {
		obj.Status.Phase = siskinv1.PhaseInitializing
		r.event(obj, corev1.EventTypeNormal, siskinv1.ReasonInitializing, "Initialize",
			fmt.Sprintf("initializing canary for %s/%s", obj.Spec.TargetRef.Kind, obj.Spec.TargetRef.Name))
		log.Info("canary initializing", "phase", obj.Status.Phase)
	}
	canary.SetReadiness(&obj.Status, obj.Generation, siskinv1.ReasonInitializing,
		fmt.Sprintf("waiting for %s/%s to be initialized", obj.Spec.TargetRef.Kind, obj.Spec.TargetRef.Name))
	obj.Status.ObservedGeneration = obj.Generation
	return ctrl.Result{}, nil
}

// patchStatus writes the status once, if it changed.
func (r *CanaryReconciler) patchStatus(ctx context.Context, obj *siskinv1.Canary, before *siskinv1.CanaryStatus) error {
	if equality.Semantic.DeepEqual(before, &obj.Status) {
		return nil
	}
	if before.Phase != obj.Status.Phase || obj.Status.LastTransitionTime == nil {
		now := metav1.Now()
		obj.Status.LastTransitionTime = &now
	}
	base := obj.DeepCopy()
	base.Status = *before
	if err := r.Status().Patch(ctx, obj, client.MergeFrom(base)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patch status of canary %s/%s: %w", obj.Namespace, obj.Name, err)
	}
	return nil
}

func (r *CanaryReconciler) event(obj *siskinv1.Canary, eventType, reason, action, note string) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(obj, nil, eventType, reason, action, "%s", note)
}

// SetupWithManager registers the controller, its watches and its indexes.
func (r *CanaryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&siskinv1.Canary{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{},
		))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}
