package controller

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// revertPoll is how often a deletion checks whether the target is ready to take traffic back.
const revertPoll = 2 * time.Second

// handBackDrain is how long the primary outlives the hand-back of traffic to the target on
// deletion: long enough for the data plane to apply the routes and the Service's endpoints to
// move, so that no request still on its way to a primary pod finds it gone. The status keeps
// whole seconds, so the wait is between two and three seconds.
const handBackDrain = 3 * time.Second

// finalize hands traffic back before a Canary goes away, so that deleting it never drops a
// request (the garbage collector would otherwise delete the primary while the target is
// scaled to zero). The target is scaled back up and, once it is ready, the apex Service and
// the routes point at it; only after handBackDrain is the finalizer removed and the generated
// objects collected. With revertOnDeletion this is the documented restore; without it, it is what
// keeps the deletion safe.
func (r *CanaryReconciler) finalize(ctx context.Context, c *siskinv1.Canary) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	if !controllerutil.ContainsFinalizer(c, siskinv1.CanaryFinalizer) {
		r.Metrics.Forget(c.Namespace, c.Name)
		return ctrl.Result{}, nil
	}
	before := c.Status.DeepCopy()
	if c.Status.Phase != siskinv1.PhaseTerminating && c.Status.Phase != siskinv1.PhaseTerminated {
		c.Status.Phase = siskinv1.PhaseTerminating
		now := metav1.NewTime(r.now())
		c.Status.LastTransitionTime = &now
		canary.SetReadiness(&c.Status, c.Generation, siskinv1.ReasonTerminating, "handing traffic back to the target before deletion")
		r.announce(ctx, c, []canary.Event{{Reason: siskinv1.ReasonTerminating, Message: "canary is being deleted: scaling the target up and handing traffic back to it", Severity: siskinv1.SeverityInfo}})
	}

	ready, err := r.Target.Revert(ctx, c)
	if err == nil && !ready {
		log.Info("waiting for the target to be ready before handing traffic back", "phase", c.Status.Phase)
		return ctrl.Result{RequeueAfter: revertPoll}, r.patchStatus(ctx, c, before)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		_ = r.patchStatus(ctx, c, before)
		return ctrl.Result{}, fmt.Errorf("revert target: %w", err)
	}
	provider := canary.Provider(&c.Spec, r.DefaultProvider)
	if rt, ok := r.Routers[provider]; ok {
		if err := rt.Finalize(ctx, c); err != nil {
			return ctrl.Result{}, fmt.Errorf("finalize %s route: %w", provider, err)
		}
	}
	if err := r.Services.Finalize(ctx, c); err != nil {
		return ctrl.Result{}, fmt.Errorf("finalize services: %w", err)
	}

	if c.Status.Phase != siskinv1.PhaseTerminated {
		c.Status.Phase = siskinv1.PhaseTerminated
		now := metav1.NewTime(r.now())
		c.Status.LastTransitionTime = &now
		canary.SetReadiness(&c.Status, c.Generation, siskinv1.ReasonTerminating, "traffic handed back to the target")
	}
	if err := r.patchStatus(ctx, c, before); err != nil {
		return ctrl.Result{}, err
	}
	// The mesh or gateway applies the handed-back routes, and the Service endpoints move, a
	// moment after they are written; the primary's pods keep serving until then.
	if left := handBackDrain - r.now().Sub(c.Status.LastTransitionTime.Time); left > 0 {
		return ctrl.Result{RequeueAfter: left}, nil
	}
	patch := client.MergeFrom(c.DeepCopy())
	controllerutil.RemoveFinalizer(c, siskinv1.CanaryFinalizer)
	if err := r.Patch(ctx, c, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("remove finalizer: %w", err))
	}
	r.Metrics.Forget(c.Namespace, c.Name)
	log.Info("canary finalized", "phase", siskinv1.PhaseTerminated)
	return ctrl.Result{}, nil
}
