package controller

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/providers"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// act executes the planner's actions in order, after the round's status was written, and stops
// at the first that fails; the next round plans again from that status and what is really
// there, and asks for the same convergence.
func (r *CanaryReconciler) act(ctx context.Context, c *siskinv1.Canary, obs canary.Observation, actions []canary.Action) error {
	log := ctrl.LoggerFrom(ctx)
	for _, a := range actions {
		if err := r.do(ctx, c, obs, a); err != nil {
			return fmt.Errorf("%s: %w", a.Type, err)
		}
		log.V(1).Info("action done", "step", string(a.Type), "weight", a.Route.CanaryWeight)
	}
	// The primary's autoscaler follows the target's at all times, not only at promotion.
	if err := client.IgnoreNotFound(r.Target.SyncPrimaryHPA(ctx, c)); err != nil {
		return fmt.Errorf("sync primary autoscaler: %w", err)
	}
	return nil
}

// hasServices reports whether a provider's Canaries have the generated Services (not
// provider replicas, which routes nothing).
func hasServices(provider string) bool { return providers.Generates(provider) }

// ensurer is a router that can create its objects while keeping the live weights.
type ensurer interface {
	Ensure(ctx context.Context, c *siskinv1.Canary) error
}

func (r *CanaryReconciler) do(ctx context.Context, c *siskinv1.Canary, obs canary.Observation, a canary.Action) error {
	switch a.Type {
	case canary.EnsureServices:
		return r.Services.EnsureServices(ctx, c, obs.Primary.Ready)
	case canary.EnsureRoute:
		rt, ok := r.routerFor(obs.Provider).(ensurer)
		if !ok {
			return fmt.Errorf("the router of provider %s has no objects to ensure", obs.Provider)
		}
		return rt.Ensure(ctx, c)
	case canary.EnsurePrimary:
		return r.Target.EnsurePrimary(ctx, c)
	case canary.ScaleTargetUp:
		return r.Target.ScaleUp(ctx, c)
	case canary.ScaleTargetDown:
		// A target that is gone is as scaled down as it gets.
		return client.IgnoreNotFound(r.Target.ScaleDown(ctx, c))
	case canary.Promote:
		if a.Revision == "" {
			return fmt.Errorf("promote without a revision")
		}
		// The revision the planner decided on, never whatever the target holds now: if the
		// target moved on, Promote changes nothing (target.ErrRevisionChanged).
		return r.Target.Promote(ctx, c, a.Revision)
	case canary.SetRoute:
		return r.routerFor(obs.Provider).Apply(ctx, c, a.Route)
	case canary.EnsureBaseline:
		// The Deployment first: the Service is there to reach its pods.
		if err := r.Target.EnsureBaseline(ctx, c); err != nil {
			return err
		}
		return r.Services.EnsureBaselineService(ctx, c)
	case canary.RemoveBaseline:
		// The planner asks for it once the route sends the baseline nothing.
		if err := r.Services.RemoveBaselineService(ctx, c); err != nil {
			return err
		}
		return r.Target.RemoveBaseline(ctx, c)
	case canary.CallWebhooks:
		if c.Spec.Analysis == nil {
			return nil
		}
		hooks := webhooks.OfType(c.Spec.Analysis.Webhooks, a.Hook)
		for _, res := range r.Webhooks.Notify(ctx, hooks, webhooks.NewPayload(c, obs.Target.Fingerprint)) {
			if !res.OK() {
				ctrl.LoggerFrom(ctx).Info("webhook failed", "step", string(a.Hook), "reason", res.Describe())
			}
		}
		return nil
	}
	return fmt.Errorf("unknown action %q", a.Type)
}
