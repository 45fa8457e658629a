package gatewayapi

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// kinds are the route kinds by spec.service.routeKind.
var kinds = map[string]kind{
	siskinv1.RouteKindHTTPRoute: typed[*gatewayv1.HTTPRoute, gatewayv1.HTTPRouteSpec](httpTypes{}, &gatewayv1.HTTPRouteList{}),
	siskinv1.RouteKindGRPCRoute: typed[*gatewayv1.GRPCRoute, gatewayv1.GRPCRouteSpec](grpcTypes{}, &gatewayv1.GRPCRouteList{}),
	siskinv1.RouteKindTCPRoute:  typed[*gatewayv1.TCPRoute, gatewayv1.TCPRouteSpec](tcpTypes{}, &gatewayv1.TCPRouteList{}),
}

// kindOf is the kind of c's routes: spec.service.routeKind, HTTPRoute when it is empty (or
// unknown, which the schema's enum refuses).
func kindOf(c *siskinv1.Canary) kind {
	if k, ok := kinds[c.Spec.Service.RouteKind]; ok {
		return k
	}
	return kinds[siskinv1.RouteKindHTTPRoute]
}

// Router manages the routes of Canaries (HTTPRoutes, or the GRPCRoutes or TCPRoutes that
// spec.service.routeKind asks for), for every gatewayapi provider and, with NewMesh, for
// provider linkerd.
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

// routeRef is a route of a Canary and the port it routes.
type routeRef struct {
	key  client.ObjectKey
	port router.Port
}

// routes are the routes of c: <apex> for spec.service.port, then <apex>-<port name> for each
// additional port. An additional TCP port is an error unless the routes are TCPRoutes: an
// HTTPRoute or a GRPCRoute routes requests, not connections.
func routes(c *siskinv1.Canary) ([]routeRef, error) {
	apex, _, _ := router.ServiceNames(c)
	k := kindOf(c)
	var out []routeRef
	for _, p := range router.Ports(c) {
		name := apex
		if !p.Main {
			if p.TCP && k.name() != siskinv1.RouteKindTCPRoute {
				return nil, fmt.Errorf("spec.service.additionalPorts %s (%d) has appProtocol tcp, which %ss cannot route (they route requests): with provider gatewayapi, set spec.service.routeKind to TCPRoute to route every port of the Canary by connection", p.Name, p.Number, k.name())
			}
			name = apex + "-" + p.Name
		}
		out = append(out, routeRef{key: client.ObjectKey{Namespace: c.Namespace, Name: name}, port: p})
	}
	return out, nil
}

// routeSpec is the spec of kind k that routes port p of c as d asks.
func routeSpec(k kind, c *siskinv1.Canary, p router.Port, d canary.DesiredRoute, mesh bool) (any, error) {
	s, err := httpRouteSpec(c, p, d, mesh)
	if err != nil {
		return nil, err
	}
	return k.build(s)
}

// Observe reports the route as converged when every route exists, is Siskin's, equals what
// Apply generates from the current spec for the weights read from it, and every parent Gateway
// has accepted its current generation. The weights are those of the default rule, or of the A/B
// rule with analysis.match, of the route of spec.service.port; the route of every additional
// port must carry the same. A route of the same name and kind that Siskin does not own is an
// error wrapping router.ErrNotOwned.
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
			kind := kindOf(c).name()
			got.Message = fmt.Sprintf("%s %s carries weights %s, but %s %s carries %s", kind, ref.key,
				weightsOf(got), kind, refs[0].key, weightsOf(route))
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

// observeRoute reports one route of c as Observe does.
func (r *Router) observeRoute(ctx context.Context, c *siskinv1.Canary, ref routeRef) (canary.Route, error) {
	var route canary.Route
	key, k := ref.key, kindOf(c)
	rt := k.object(metav1.ObjectMeta{})
	if err := r.reader.Get(ctx, key, rt); apierrors.IsNotFound(err) {
		route.Message = fmt.Sprintf("%s %s not found", k.name(), key)
		return route, nil
	} else if err != nil {
		return route, fmt.Errorf("get %s %s: %w", k.name(), key, err)
	}
	adopt, err := target.Ownership(k.name(), rt, c)
	if err != nil {
		return route, err
	}
	readWeights(c, k.read(k.specOf(rt)), &route)
	if adopt {
		route.Message = fmt.Sprintf("%s %s is not controlled by Canary %s yet", k.name(), key, c.Name)
		return route, nil
	}
	want, err := routeSpec(k, c, ref.port, router.Carried(route), r.mesh)
	if err != nil {
		return route, err
	}
	if !sameSpec(k, k.specOf(rt), want) {
		route.Message = fmt.Sprintf("%s %s differs from the route Siskin applies for weights %s",
			k.name(), key, weightsOf(route))
		return route, nil
	}
	if msg := parentsMessage(k, rt); msg != "" {
		route.Message = msg
		return route, nil
	}
	route.Converged = true
	return route, nil
}

// readWeights reads the weights of the rule that carries them (the last rule, or the one before
// it with A/B testing) and whether the last rule mirrors to the canary.
func readWeights(c *siskinv1.Canary, rules []ruleView, route *canary.Route) {
	svc := servicesOf(c, router.Ports(c)[0])
	i := len(rules) - 1
	if router.IsABTest(c) {
		i--
	}
	if i < 0 {
		return
	}
	for _, b := range rules[i].backends {
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
	for _, m := range rules[len(rules)-1].mirrors {
		if string(m.Name) == svc.canary {
			route.Mirror = true
		}
	}
}

// Apply converges the routes to the route d, deletes the routes of additional ports removed
// from the spec and those of another kind than spec.service.routeKind. A route that already
// matches is not written, so a Canary at rest costs no API calls.
func (r *Router) Apply(ctx context.Context, c *siskinv1.Canary, d canary.DesiredRoute) error {
	refs, err := routes(c)
	if err != nil {
		return err
	}
	k := kindOf(c)
	specs := make([]any, len(refs))
	for i, ref := range refs {
		if specs[i], err = routeSpec(k, c, ref.port, d, r.mesh); err != nil {
			return err
		}
	}
	for i, ref := range refs {
		if err := r.ensureRoute(ctx, c, k, ref.key, specs[i]); err != nil {
			return err
		}
	}
	return r.prune(ctx, c, refs)
}

// ensureRoute creates or updates the route of kind k at key to spec.
func (r *Router) ensureRoute(ctx context.Context, c *siskinv1.Canary, k kind, key client.ObjectKey, spec any) error {
	live := k.object(metav1.ObjectMeta{})
	err := r.reader.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		obj := k.object(target.NewMeta(c, key))
		k.setSpec(obj, spec)
		if err := r.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("set weights on %s %s: %w", k.name(), key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", k.name(), key, err)
	}
	want := live.DeepCopyObject().(client.Object)
	if err := target.Claim(k.name(), want, c); err != nil {
		return err
	}
	k.setSpec(want, spec)
	if sameSpec(k, k.specOf(live), k.specOf(want)) && target.SameMeta(live, want) {
		return nil
	}
	if err := r.patch(ctx, live, want); err != nil {
		return fmt.Errorf("set weights on %s %s: %w", k.name(), key, err)
	}
	return nil
}

// prune deletes the routes that c controls and no longer needs: those of its kind named
// <apex>-<port name> that are not in refs (additional ports removed from the spec, which would
// keep routing otherwise), and every route of another kind (spec.service.routeKind changed).
// A kind the API server does not serve has nothing to prune.
func (r *Router) prune(ctx context.Context, c *siskinv1.Canary, refs []routeRef) error {
	apex, _, _ := router.ServiceNames(c)
	current := kindOf(c).name()
	for _, name := range slices.Sorted(maps.Keys(kinds)) {
		k := kinds[name]
		list := k.list()
		if err := r.reader.List(ctx, list, client.InNamespace(c.Namespace)); meta.IsNoMatchError(err) {
			continue
		} else if err != nil {
			return fmt.Errorf("list %s in %s: %w", k.name(), c.Namespace, err)
		}
		objs, err := objects(list)
		if err != nil {
			return err
		}
		for _, rt := range objs {
			ref := metav1.GetControllerOf(rt)
			if ref == nil || ref.UID != c.UID {
				continue
			}
			if name == current && (!strings.HasPrefix(rt.GetName(), apex+"-") ||
				slices.ContainsFunc(refs, func(x routeRef) bool { return x.key.Name == rt.GetName() })) {
				continue
			}
			if err := r.client.Delete(ctx, rt); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("delete %s %s/%s: %w", k.name(), rt.GetNamespace(), rt.GetName(), err)
			}
		}
	}
	return nil
}

// objects are the items of list.
func objects(list client.ObjectList) ([]client.Object, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, len(items))
	for i, item := range items {
		out[i] = item.(client.Object)
	}
	return out, nil
}

// Ensure creates or updates the routes and keeps the weights they carry, or routes all traffic
// to the primary when there are none yet. It implements the EnsureRoute action.
func (r *Router) Ensure(ctx context.Context, c *siskinv1.Canary) error {
	return router.Ensure(ctx, r, c)
}

// Finalize hands the routes over to the user before the Canary goes away: each routes all
// traffic of its port to the apex Service (keeping parents, hostnames, matches, filters and
// timeouts) and drops the Canary's controller reference, so the garbage collector keeps it.
// Deleting it instead would cut every request that enters through the Gateway. The
// siskin.dev/canary annotation stays, so a Canary of the same name adopts it again. Call it
// after the apex Service selects the target's pods.
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

// handBackRoute hands one route of c over, as Finalize does.
func (r *Router) handBackRoute(ctx context.Context, c *siskinv1.Canary, ref routeRef) error {
	key, k := ref.key, kindOf(c)
	live := k.object(metav1.ObjectMeta{})
	if err := r.reader.Get(ctx, key, live); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("get %s %s: %w", k.name(), key, err)
	}
	if _, err := target.Ownership(k.name(), live, c); err != nil {
		return nil // not Siskin's: nothing to hand back
	}
	hs, err := handBack(c, ref.port, r.mesh)
	if err != nil {
		return err
	}
	spec, err := k.build(hs)
	if err != nil {
		return err
	}
	want := live.DeepCopyObject().(client.Object)
	k.setSpec(want, spec)
	target.Release(want, c)
	if sameSpec(k, k.specOf(live), k.specOf(want)) && target.SameMeta(live, want) {
		return nil
	}
	if err := r.patch(ctx, live, want); err != nil {
		return fmt.Errorf("hand back %s %s: %w", k.name(), key, err)
	}
	return nil
}

// patch writes want over live with a merge patch that fails if live is stale.
func (r *Router) patch(ctx context.Context, live, want client.Object) error {
	return r.client.Patch(ctx, want, client.MergeFromWithOptions(live, client.MergeFromWithOptimisticLock{}))
}
