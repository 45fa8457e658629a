package router

import (
	"context"
	"fmt"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/target"
)

// Router is a traffic router for Canaries.
type Router interface {
	// Observe reports the live routing of the Canary: whether the routing objects exist, are
	// Siskin's and match the last applied route, and the weights they carry.
	Observe(ctx context.Context, c *siskinv1.Canary) (canary.Route, error)
	// Apply converges the routing objects to desired.
	Apply(ctx context.Context, c *siskinv1.Canary, desired canary.DesiredRoute) error
	// Finalize restores the routing a user had before the Canary, so that traffic keeps
	// flowing to the target once the Canary is gone.
	Finalize(ctx context.Context, c *siskinv1.Canary) error
}

// ErrNotOwned is returned by a router when an object it would create already exists and
// Siskin does not own it: taking it over could break its owner. It is target.ErrNotOwned: one
// error, from one set of ownership rules (target.Ownership), for every object Siskin manages.
var ErrNotOwned = target.ErrNotOwned

// Suffixes of the generated Services.
const (
	PrimarySuffix = "-primary"
	CanarySuffix  = "-canary"
	// BaselineSuffix names the Service of <target>-baseline, which exists only while an
	// analysis compared with control baseline runs.
	BaselineSuffix = "-baseline"
)

// ServiceNames returns the names of a Canary's apex Service (spec.service.name, else the
// target's name) and of its -primary and -canary Services.
func ServiceNames(c *siskinv1.Canary) (apex, primary, canaryName string) {
	apex = c.Spec.Service.Name
	if apex == "" {
		apex = c.Spec.TargetRef.Name
	}
	return apex, apex + PrimarySuffix, apex + CanarySuffix
}

// BaselineServiceName returns the name of a Canary's -baseline Service: the apex Service's
// name suffixed like ServiceNames' others.
func BaselineServiceName(c *siskinv1.Canary) string {
	apex, _, _ := ServiceNames(c)
	return apex + BaselineSuffix
}

// FormatWeights renders the weights of a route for messages: primary/canary, or
// primary/canary/baseline when the baseline has a weight.
func FormatWeights(primary, canaryWeight, baseline int32) string {
	if baseline == 0 {
		return fmt.Sprintf("%d/%d", primary, canaryWeight)
	}
	return fmt.Sprintf("%d/%d/%d", primary, canaryWeight, baseline)
}

// Ensure creates or updates rt's routing objects and keeps the weights they carry, or routes
// all traffic to the primary when there is none yet. Routers implement the EnsureRoute action
// with it.
func Ensure(ctx context.Context, rt Router, c *siskinv1.Canary) error {
	route, err := rt.Observe(ctx, c)
	if err != nil {
		return err
	}
	d := Carried(route)
	if d.PrimaryWeight+d.CanaryWeight+d.BaselineWeight != 100 {
		d = canary.DesiredRoute{PrimaryWeight: 100}
	}
	return rt.Apply(ctx, c, d)
}

// Carried is the desired route that carries the weights and the mirror observed in route:
// what a router's objects must equal for the route to have converged.
func Carried(route canary.Route) canary.DesiredRoute {
	return canary.DesiredRoute{
		PrimaryWeight: route.PrimaryWeight, CanaryWeight: route.CanaryWeight, BaselineWeight: route.BaselineWeight,
		Mirror: route.Mirror,
	}
}
