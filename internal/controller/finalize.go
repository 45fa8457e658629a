package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
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
		if waited := r.now().Sub(c.Status.LastTransitionTime.Time); c.Status.Phase == siskinv1.PhaseTerminating && waited >= handBackLimit(c) {
			// The target did not become ready in time (a release that never starts, a quota):
			// handing it the traffic would drop it, so the primary and the routing objects are
			// left serving, no longer owned by the Canary, and the deletion completes.
			return r.abandonHandBack(ctx, c, before, waited)
		}
		log.Info("waiting for the target to be ready before handing traffic back", "phase", c.Status.Phase)
		canary.SetReadiness(&c.Status, c.Generation, siskinv1.ReasonTerminating,
			fmt.Sprintf("handing traffic back to the target before deletion: waiting for it to be ready (at most %s)", handBackLimit(c)))
		return ctrl.Result{RequeueAfter: revertPoll}, client.IgnoreNotFound(r.patchStatus(ctx, c, before))
	}
	if err != nil && !apierrors.IsNotFound(err) {
		_ = r.patchStatus(ctx, c, before)
		return ctrl.Result{}, fmt.Errorf("revert target: %w", err)
	}
	provider := canary.Provider(&c.Spec, r.DefaultProvider)
	rt := r.routerFor(provider)
	if rt != router.Router(r.Services) { // the Services are finalized below, once
		if err := rt.Finalize(ctx, c); meta.IsNoMatchError(err) {
			// The router's CRDs are gone, and with them every object there was to hand back.
			log.Info("router API not installed; nothing to hand back through it", "router", provider)
		} else if err != nil {
			return ctrl.Result{}, fmt.Errorf("finalize %s route: %w", provider, err)
		}
	}
	// Provider replicas generated no Services: a StatefulSet's or a worker's own are untouched.
	if hasServices(provider) {
		if err := r.Services.Finalize(ctx, c); err != nil {
			return ctrl.Result{}, fmt.Errorf("finalize services: %w", err)
		}
	}

	if c.Status.Phase != siskinv1.PhaseTerminated {
		c.Status.Phase = siskinv1.PhaseTerminated
		now := metav1.NewTime(r.now())
		c.Status.LastTransitionTime = &now
		canary.SetReadiness(&c.Status, c.Generation, siskinv1.ReasonTerminating, "traffic handed back to the target")
	}
	if err := r.patchStatus(ctx, c, before); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
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

// handBackLimit bounds the wait for the target to take traffic back on deletion: the Canary's
// progress deadline (10 minutes by default).
func handBackLimit(c *siskinv1.Canary) time.Duration {
	if d := c.Spec.ProgressDeadlineSeconds; d != nil && *d > 0 {
		return time.Duration(*d) * time.Second
	}
	return 10 * time.Minute
}

// abandonHandBack completes a deletion whose target never became ready: every object the
// Canary owns (the primary, its Services and routes, its autoscaler, its config copies) loses
// the Canary's owner reference, so the garbage collector leaves it serving; a Warning event
// and the Ready condition say what was left and why.
func (r *CanaryReconciler) abandonHandBack(ctx context.Context, c *siskinv1.Canary, before *siskinv1.CanaryStatus, waited time.Duration) (ctrl.Result, error) {
	kept, err := r.orphanOwned(ctx, c)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("keep the primary serving: %w", err)
	}
	msg := fmt.Sprintf("the target did not become ready within %s, so traffic stays on the primary: %s no longer belong to the Canary and keep serving; delete them once the target serves",
		waited.Round(time.Second), strings.Join(kept, ", "))
	c.Status.Phase = siskinv1.PhaseTerminated
	now := metav1.NewTime(r.now())
	c.Status.LastTransitionTime = &now
	canary.SetReadiness(&c.Status, c.Generation, siskinv1.ReasonHandBackAbandoned, msg)
	if err := r.patchStatus(ctx, c, before); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.announce(ctx, c, []canary.Event{{Warning: true, Reason: siskinv1.ReasonHandBackAbandoned, Message: msg, Severity: siskinv1.SeverityWarn}})
	patch := client.MergeFrom(c.DeepCopy())
	controllerutil.RemoveFinalizer(c, siskinv1.CanaryFinalizer)
	if err := r.Patch(ctx, c, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("remove finalizer: %w", err))
	}
	r.Metrics.Forget(c.Namespace, c.Name)
	return ctrl.Result{}, nil
}

// orphanOwned removes c's owner reference from every object of the kinds it generates, and
// returns them as kind/name.
func (r *CanaryReconciler) orphanOwned(ctx context.Context, c *siskinv1.Canary) ([]string, error) {
	lists := []client.ObjectList{
		&appsv1.DeploymentList{}, &appsv1.DaemonSetList{}, &corev1.ServiceList{}, &autoscalingv2.HorizontalPodAutoscalerList{},
		&corev1.ConfigMapList{}, &corev1.SecretList{},
		&networkingv1.VirtualServiceList{}, &networkingv1.DestinationRuleList{}, &gatewayv1.HTTPRouteList{},
		&gatewayv1.GRPCRouteList{}, &gatewayv1.TCPRouteList{},
	}
	var kept []string
	for _, list := range lists {
		if err := r.List(ctx, list, client.InNamespace(c.Namespace)); meta.IsNoMatchError(err) {
			continue
		} else if err != nil {
			return kept, err
		}
		err := meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			refs := obj.GetOwnerReferences()
			keep := refs[:0:0]
			for _, ref := range refs {
				if ref.UID != c.UID {
					keep = append(keep, ref)
				}
			}
			if len(keep) == len(refs) {
				return nil
			}
			patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
			obj.SetOwnerReferences(keep)
			if err := r.Patch(ctx, obj, patch); client.IgnoreNotFound(err) != nil {
				return err
			}
			kind := strings.TrimSuffix(fmt.Sprintf("%T", list), "List")
			kept = append(kept, kind[strings.LastIndex(kind, ".")+1:]+"/"+obj.GetName())
			return nil
		})
		if err != nil {
			return kept, err
		}
	}
	return kept, nil
}
