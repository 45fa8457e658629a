package gatewayapi

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
)

// kindHTTPRoute is the kind of the routing object, as it appears in messages and errors.
const kindHTTPRoute = "HTTPRoute"

// Router manages the HTTPRoute of Canaries, for every gatewayapi provider.
type Router struct {
	reader client.Reader
	client client.Client
}

var _ router.Router = (*Router)(nil)

// New returns a Router that reads through reader (the informer cache) and writes through c.
func New(reader client.Reader, c client.Client) *Router {
	return &Router{reader: reader, client: c}
}

func routeKey(c *siskinv1.Canary) client.ObjectKey {
	apex, _, _ := router.ServiceNames(c)
	return client.ObjectKey{Namespace: c.Namespace, Name: apex}
}

// Observe reports the route as converged when the HTTPRoute exists, is Siskin's, equals what
// Apply generates from the current spec for the weights read from it, and every parent Gateway
// has accepted its current generation. The weights are those of the default rule, or of the A/B
// rule with analysis.match. An HTTPRoute of the same name that Siskin does not own is an error
// wrapping router.ErrNotOwned.
func (r *Router) Observe(ctx context.Context, c *siskinv1.Canary) (canary.Route, error) {
	var route canary.Route
	key := routeKey(c)
	rt := &gatewayv1.HTTPRoute{}
	if err := r.reader.Get(ctx, key, rt); apierrors.IsNotFound(err) {
		route.Message = fmt.Sprintf("%s %s not found", kindHTTPRoute, key)
		return route, nil
	} else if err != nil {
		return route, fmt.Errorf("get %s %s: %w", kindHTTPRoute, key, err)
	}
	adopt, err := router.Ownership(kindHTTPRoute, rt, c)
	if err != nil {
		return route, err
	}
	readWeights(c, rt, &route)
	if adopt {
		route.Message = fmt.Sprintf("%s %s is not controlled by Canary %s yet", kindHTTPRoute, key, c.Name)
		return route, nil
	}
	want, err := httpRouteSpec(c, canary.DesiredRoute{
		PrimaryWeight: route.PrimaryWeight, CanaryWeight: route.CanaryWeight, Mirror: route.Mirror,
	})
	if err != nil {
		return route, err
	}
	if !sameSpec(&rt.Spec, want) {
		route.Message = fmt.Sprintf("%s %s differs from the route Siskin applies for weights %d/%d",
			kindHTTPRoute, key, route.PrimaryWeight, route.CanaryWeight)
		return route, nil
	}
	if msg := parentsMessage(rt); msg != "" {
		route.Message = msg
		return route, nil
	}
	route.Converged = true
	return route, nil
}

// readWeights reads the weights of the rule that carries them (the last rule, or the one before
// it with A/B testing) and whether the last rule mirrors to the canary.
func readWeights(c *siskinv1.Canary, rt *gatewayv1.HTTPRoute, route *canary.Route) {
	svc := servicesOf(c)
	rules := rt.Spec.Rules
	i := len(rules) - 1
	if router.IsABTest(c) {
		i--
	}
	if i < 0 {
		return
	}
	for _, b := range rules[i].BackendRefs {
		w := ptr.Deref(b.Weight, 1)
		switch string(b.Name) {
		case svc.primary:
			route.PrimaryWeight = w
		case svc.canary:
			route.CanaryWeight = w
		}
	}
	for _, f := range rules[len(rules)-1].Filters {
		if f.RequestMirror != nil && string(f.RequestMirror.BackendRef.Name) == svc.canary {
			route.Mirror = true
		}
	}
}

// Apply converges the HTTPRoute to the route d. A route that already matches is not written,
// so a Canary at rest costs no API calls.
func (r *Router) Apply(ctx context.Context, c *siskinv1.Canary, d canary.DesiredRoute) error {
	spec, err := httpRouteSpec(c, d)
	if err != nil {
		return err
	}
	key := routeKey(c)
	live := &gatewayv1.HTTPRoute{}
	err = r.reader.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		obj := &gatewayv1.HTTPRoute{ObjectMeta: router.NewMeta(c, key), Spec: *spec}
		if err := r.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("set weights on %s %s: %w", kindHTTPRoute, key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", kindHTTPRoute, key, err)
	}
	want := live.DeepCopy()
	if err := router.Claim(kindHTTPRoute, want, c); err != nil {
		return err
	}
	want.Spec = *spec
	if sameSpec(&live.Spec, &want.Spec) && router.SameMeta(live, want) {
		return nil
	}
	if err := r.patch(ctx, live, want); err != nil {
		return fmt.Errorf("set weights on %s %s: %w", kindHTTPRoute, key, err)
	}
	return nil
}

// Ensure creates or updates the HTTPRoute and keeps the weights it carries, or routes all
// traffic to the primary when there is none yet. It implements the EnsureRouting action.
func (r *Router) Ensure(ctx context.Context, c *siskinv1.Canary) error {
	route, err := r.Observe(ctx, c)
	if err != nil {
		return err
	}
	d := canary.DesiredRoute{PrimaryWeight: route.PrimaryWeight, CanaryWeight: route.CanaryWeight, Mirror: route.Mirror}
	if d.PrimaryWeight+d.CanaryWeight != fullWeight {
		d = canary.DesiredRoute{PrimaryWeight: fullWeight}
	}
	return r.Apply(ctx, c, d)
}

// Finalize hands the HTTPRoute over to the user before the Canary goes away: it routes all
// traffic to the apex Service (keeping parents, hostnames, matches, filters and timeouts) and
// drops the Canary's controller reference, so the garbage collector keeps it. Deleting it
// instead would cut every request that enters through the Gateway. The siskin.dev/canary
// annotation stays, so a Canary of the same name adopts it again. Call it after the apex
// Service selects the target's pods.
func (r *Router) Finalize(ctx context.Context, c *siskinv1.Canary) error {
	key := routeKey(c)
	live := &gatewayv1.HTTPRoute{}
	if err := r.reader.Get(ctx, key, live); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("get %s %s: %w", kindHTTPRoute, key, err)
	}
	if _, err := router.Ownership(kindHTTPRoute, live, c); err != nil {
		return nil // not Siskin's: nothing to hand back
	}
	spec, err := handBack(c)
	if err != nil {
		return err
	}
	want := live.DeepCopy()
	want.Spec = *spec
	router.Release(want, c)
	if sameSpec(&live.Spec, &want.Spec) && router.SameMeta(live, want) {
		return nil
	}
	if err := r.patch(ctx, live, want); err != nil {
		return fmt.Errorf("hand back %s %s: %w", kindHTTPRoute, key, err)
	}
	return nil
}

// patch writes want over live with a merge patch that fails if live is stale.
func (r *Router) patch(ctx context.Context, live, want client.Object) error {
	return r.client.Patch(ctx, want, client.MergeFromWithOptions(live, client.MergeFromWithOptimisticLock{}))
}
