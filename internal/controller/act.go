package controller

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// act executes the planner's actions in order and stops at the first that fails; the status of
// the round is then not written, so the next round plans again from what is really there.
func (r *CanaryReconciler) act(ctx context.Context, c *siskinv1.Canary, obs canary.Observation, actions []canary.Action) error {
	log := ctrl.LoggerFrom(ctx)
	for _, a := range actions {
		if err := r.do(ctx, c, obs, a); err != nil {
			return fmt.Errorf("%s: %w", a.Type, err)
		}
		log.V(1).Info("action done", "step", string(a.Type), "weight", a.Route.CanaryWeight)
	}
	// The primary's autoscaler follows the target's at all times, not only at promotion.
	if err := r.Target.SyncPrimaryHPA(ctx, c); err != nil {
		return fmt.Errorf("sync primary autoscaler: %w", err)
	}
	return nil
}

func (r *CanaryReconciler) do(ctx context.Context, c *siskinv1.Canary, obs canary.Observation, a canary.Action) error {
	switch a.Type {
	case canary.EnsureRouting:
		if err := r.Services.EnsureServices(ctx, c, obs.Primary.Ready); err != nil {
			return err
		}
		rt, ok := r.Routers[obs.Provider]
		if !ok || obs.Route.Converged {
			return nil
		}
		desired := a.Route
		if desired.PrimaryWeight+desired.CanaryWeight == 0 {
			// Keep the weights the rollout has reached; a new route sends everything to the
			// primary.
			desired = canary.DesiredRoute{PrimaryWeight: 100 - c.Status.CanaryWeight, CanaryWeight: c.Status.CanaryWeight}
		}
		return rt.Apply(ctx, c, desired)
	case canary.EnsurePrimary:
		return r.Target.EnsurePrimary(ctx, c)
	case canary.ScaleTargetUp:
		return r.Target.ScaleUp(ctx, c)
	case canary.ScaleTargetDown:
		return r.Target.ScaleDown(ctx, c)
	case canary.Promote:
		return r.Target.Promote(ctx, c, obs.Target.Fingerprint)
	case canary.SetRoute:
		return r.routerFor(obs.Provider).Apply(ctx, c, a.Route)
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
