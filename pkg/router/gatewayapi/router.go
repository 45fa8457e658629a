package gatewayapi

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// kindHTTPRoute is the kind of the routing object, as it appears in messages and errors.
const kindHTTPRoute = "HTTPRoute"

// Router manages the HTTPRoute of Canaries, for every gatewayapi provider and, with NewMesh,
// for provider linkerd.
type Router struct {
	reader client.Reader
	client client.Client
	// mesh attaches each HTTPRoute to the apex Service (GAMMA) instead of spec.service.gatewayRefs.
	mesh bool
}

var _ router.Router = (*Router)(nil)

// New returns a Router that reads through reader (the informer cache) and writes through c.
func New(reader client.Reader, c client.Client) *Router {
	return &Router{reader: reader, client: c}
}

// routeRef is an HTTPRoute of a Canary and the port it routes.
type routeRef struct {
	key  client.ObjectKey
	port router.Port
}

// routes are the HTTPRoutes of c: <apex> for spec.service.port, then <apex>-<port name> for
// each additional port. An additional TCP port is an error: TCPRoute is not in Gateway API's
// standard channel.
func routes(c *siskinv1.Canary) ([]routeRef, error) {
	apex, _, _ := router.ServiceNames(c)
	var out []routeRef
	for _, p := range router.Ports(c) {
		name := apex
		if !p.Main {
			if p.TCP {
				return nil, fmt.Errorf("spec.service.additionalPorts %s (%d) has appProtocol tcp, which provider gatewayapi cannot route: TCPRoute is not in Gateway API's standard channel", p.Name, p.Number)
			}
			name = apex + "-" + p.Name
		}
		out = append(out, routeRef{key: client.ObjectKey{Namespace: c.Namespace, Name: name}, port: p})
	}
	return out, nil
}

// Observe reports the route as converged when every HTTPRoute exists, is Siskin's, equals what
// Apply generates from the current spec for the weights read from it, and every parent Gateway
// has accepted its current generation. The weights are those of the default rule, or of the A/B
// rule with analysis.match, of the route of spec.service.port; the route of every additional
// port must carry the same. An HTTPRoute of the same name that Siskin does not own is an error
// wrapping router.ErrNotOwned.
func (r *Router) Observe(ctx context.Context, c *siskinv1.Canary) (canary.Route, error) {
	refs, err := routes(c)
	if err != nil {
		return canary.Route{}, err
	}
	route, err := r.observeRoute(ctx, c, refs[0])
	if err != nil || !route.Converged {
		return route, err
	}
	for _, ref := range refs[1:] {
		got, err := r.observeRoute(ctx, c, ref)
		if err != nil {
			return route, err
		}
		if weightsOf(got) != weightsOf(route) {
			got.Converged = false
			got.Message = fmt.Sprintf("%s %s carries weights %s, but %s %s carries %s", kindHTTPRoute, ref.key,
				weightsOf(got), kindHTTPRoute, refs[0].key, weightsOf(route))
		}
		if !got.Converged {
			route.Converged, route.Message = false, got.Message
			return route, nil
		}
	}
	return route, nil
}

// weightsOf renders the weights of route for comparisons and messages.
func weightsOf(route canary.Route) string {
	return router.FormatWeights(route.PrimaryWeight, route.CanaryWeight, route.BaselineWeight)
}

// observeRoute reports one HTTPRoute of c as Observe does.
func (r *Router) observeRoute(ctx context.Context, c *siskinv1.Canary, ref routeRef) (canary.Route, error) {
	var route canary.Route
	key := ref.key
	rt := &gatewayv1.HTTPRoute{}
	if err := r.reader.Get(ctx, key, rt); apierrors.IsNotFound(err) {
		route.Message = fmt.Sprintf("%s %s not found", kindHTTPRoute, key)
		return route, nil
	} else if err != nil {
		return route, fmt.Errorf("get %s %s: %w", kindHTTPRoute, key, err)
	}
	adopt, err := target.Ownership(kindHTTPRoute, rt, c)
	if err != nil {
		return route, err
	}
	readWeights(c, rt, &route)
	if adopt {
		route.Message = fmt.Sprintf("%s %s is not controlled by Canary %s yet", kindHTTPRoute, key, c.Name)
		return route, nil
	}
	want, err := httpRouteSpec(c, ref.port, router.Carried(route), r.mesh)
	if err != nil {
		return route, err
	}
	if !sameSpec(&rt.Spec, want) {
		route.Message = fmt.Sprintf("%s %s differs from the route Siskin applies for weights %s",
			kindHTTPRoute, key, weightsOf(route))
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
	svc := servicesOf(c, router.Ports(c)[0])
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
		case svc.baseline:
			route.BaselineWeight = w
		}
	}
	for _, f := range rules[len(rules)-1].Filters {
		if f.RequestMirror != nil && string(f.RequestMirror.BackendRef.Name) == svc.canary {
			route.Mirror = true
		}
	}
}

// Apply converges the HTTPRoutes to the route d and deletes the routes of additional ports
// removed from the spec. A route that already matches is not written, so a Canary at rest
// costs no API calls.
func (r *Router) Apply(ctx context.Context, c *siskinv1.Canary, d canary.DesiredRoute) error {
	refs, err := routes(c)
	if err != nil {
		return err
	}
	specs := make([]*gatewayv1.HTTPRouteSpec, len(refs))
	for i, ref := range refs {
		if specs[i], err = httpRouteSpec(c, ref.port, d, r.mesh); err != nil {
			return err
		}
	}
	for i, ref := range refs {
		if err := r.ensureRoute(ctx, c, ref.key, specs[i]); err != nil {
			return err
		}
	}
	return r.prune(ctx, c, refs)
}

// ensureRoute creates or updates the HTTPRoute at key to spec.
func (r *Router) ensureRoute(ctx context.Context, c *siskinv1.Canary, key client.ObjectKey, spec *gatewayv1.HTTPRouteSpec) error {
	live := &gatewayv1.HTTPRoute{}
	err := r.reader.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		obj := &gatewayv1.HTTPRoute{ObjectMeta: target.NewMeta(c, key), Spec: *spec}
		if err := r.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("set weights on %s %s: %w", kindHTTPRoute, key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", kindHTTPRoute, key, err)
	}
	want := live.DeepCopy()
	if err := target.Claim(kindHTTPRoute, want, c); err != nil {
		return err
	}
	want.Spec = *spec
	if sameSpec(&live.Spec, &want.Spec) && target.SameMeta(live, want) {
		return nil
	}
	if err := r.patch(ctx, live, want); err != nil {
		return fmt.Errorf("set weights on %s %s: %w", kindHTTPRoute, key, err)
	}
	return nil
}

// prune deletes the HTTPRoutes that c controls, named <apex>-<port name>, that are not in
// refs: those of additional ports removed from the spec, which would keep routing otherwise.
func (r *Router) prune(ctx context.Context, c *siskinv1.Canary, refs []routeRef) error {
	apex, _, _ := router.ServiceNames(c)
	list := &gatewayv1.HTTPRouteList{}
	if err := r.reader.List(ctx, list, client.InNamespace(c.Namespace)); err != nil {
		return fmt.Errorf("list %s in %s: %w", kindHTTPRoute, c.Namespace, err)
	}
	for i := range list.Items {
		rt := &list.Items[i]
		ref := metav1.GetControllerOf(rt)
		if ref == nil || ref.UID != c.UID || !strings.HasPrefix(rt.Name, apex+"-") ||
			slices.ContainsFunc(refs, func(x routeRef) bool { return x.key.Name == rt.Name }) {
			continue
		}
		if err := r.client.Delete(ctx, rt); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete %s %s/%s of a removed port: %w", kindHTTPRoute, rt.Namespace, rt.Name, err)
		}
	}
	return nil
}

// Ensure creates or updates the HTTPRoute and keeps the weights it carries, or routes all
// traffic to the primary when there is none yet. It implements the EnsureRoute action.
func (r *Router) Ensure(ctx context.Context, c *siskinv1.Canary) error {
	return router.Ensure(ctx, r, c)
}

// Finalize hands the HTTPRoutes over to the user before the Canary goes away: each routes all
// traffic of its port to the apex Service (keeping parents, hostnames, matches, filters and timeouts) and
// drops the Canary's controller reference, so the garbage collector keeps it. Deleting it
// instead would cut every request that enters through the Gateway. The siskin.dev/canary
// annotation stays, so a Canary of the same name adopts it again. Call it after the apex
// Service selects the target's pods.
func (r *Router) Finalize(ctx context.Context, c *siskinv1.Canary) error {
	refs, err := routes(c)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if err := r.handBackRoute(ctx, c, ref); err != nil {
			return err
		}
	}
	return nil
}

// handBackRoute hands one HTTPRoute of c over, as Finalize does.
func (r *Router) handBackRoute(ctx context.Context, c *siskinv1.Canary, ref routeRef) error {
	key := ref.key
	live := &gatewayv1.HTTPRoute{}
	if err := r.reader.Get(ctx, key, live); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("get %s %s: %w", kindHTTPRoute, key, err)
	}
	if _, err := target.Ownership(kindHTTPRoute, live, c); err != nil {
		return nil // not Siskin's: nothing to hand back
	}
	spec, err := handBack(c, ref.port, r.mesh)
	if err != nil {
		return err
	}
	want := live.DeepCopy()
	want.Spec = *spec
	target.Release(want, c)
	if sameSpec(&live.Spec, &want.Spec) && target.SameMeta(live, want) {
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
