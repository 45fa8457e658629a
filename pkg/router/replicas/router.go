package replicas

import (
	"context"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// Router is the router of provider replicas.
type Router struct {
	pods target.Sharer
}

var _ router.Router = (*Router)(nil)

// New returns the router that shares pods through the target adapters of pods.
func New(pods target.Sharer) *Router { return &Router{pods: pods} }

// Observe reports the share the pods carry.
func (r *Router) Observe(ctx context.Context, c *siskinv1.Canary) (canary.Route, error) {
	return r.pods.ObserveShare(ctx, c)
}

// Apply gives the canary the share of pods of desired.CanaryWeight.
func (r *Router) Apply(ctx context.Context, c *siskinv1.Canary, desired canary.DesiredRoute) error {
	return r.pods.ApplyShare(ctx, c, desired)
}

// Finalize has nothing to restore: no routing object was made.
func (r *Router) Finalize(context.Context, *siskinv1.Canary) error { return nil }
