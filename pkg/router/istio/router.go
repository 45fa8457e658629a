package istio

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	istioapi "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// DefaultClusterDomain is the DNS domain of Services in the FQDNs the router generates.
const DefaultClusterDomain = "cluster.local"

// Kinds, as they appear in messages and errors.
const (
	kindVirtualService  = "VirtualService"
	kindDestinationRule = "DestinationRule"
)

// Router manages the VirtualService and DestinationRules of Canaries.
type Router struct {
	reader client.Reader
	client client.Client

	// ClusterDomain is the DNS domain of Services, DefaultClusterDomain unless set.
	ClusterDomain string
}

var _ router.Router = (*Router)(nil)

// New returns a Router that reads through reader (the informer cache) and writes through c.
func New(reader client.Reader, c client.Client) *Router {
	return &Router{reader: reader, client: c, ClusterDomain: DefaultClusterDomain}
}

// Observe reports the route as converged when the DestinationRules and the VirtualService exist,
// are Siskin's and equal what Apply generates from the current spec for the weights read from
// the live VirtualService. The weights are those of the default route, or of the A/B route with
// analysis.match, on spec.service.port; every additional port must carry the same. A route that
// gives the baseline a weight needs the baseline's DestinationRule too. An object of the same
// name that Siskin does not own is an error wrapping router.ErrNotOwned.
func (r *Router) Observe(ctx context.Context, c *siskinv1.Canary) (canary.Route, error) {
	var route canary.Route
	apex, _, _ := router.ServiceNames(c)
	key := client.ObjectKey{Namespace: c.Namespace, Name: apex}
	vs := &networkingv1.VirtualService{}
	if err := r.reader.Get(ctx, key, vs); apierrors.IsNotFound(err) {
		route.Message = fmt.Sprintf("%s %s not found", kindVirtualService, key)
		return route, nil
	} else if err != nil {
		return route, fmt.Errorf("get %s %s: %w", kindVirtualService, key, err)
	}
	adopt, err := target.Ownership(kindVirtualService, vs, c)
	if err != nil {
		return route, err
	}
	r.readWeights(c, vs, &route)

	for _, dr := range r.destinationRules(c, route.BaselineWeight > 0) {
		msg, err := r.observeDestinationRule(ctx, c, dr.key, dr.host)
		if err != nil || msg != "" {
			route.Message = msg
			return route, err
		}
	}
	if adopt {
		route.Message = fmt.Sprintf("%s %s is not controlled by Canary %s yet", kindVirtualService, key, c.Name)
		return route, nil
	}
	want, err := r.virtualService(c, router.Carried(route))
	if err != nil {
		return route, err
	}
	if msg := r.portsMessage(c, vs); msg != "" {
		route.Message = msg
		return route, nil
	}
	if !proto.Equal(&vs.Spec, want) {
		route.Message = fmt.Sprintf("%s %s differs from the route Siskin applies for weights %s",
			kindVirtualService, key, router.FormatWeights(route.PrimaryWeight, route.CanaryWeight, route.BaselineWeight))
		return route, nil
	}
	route.Converged = true
	return route, nil
}

// readWeights reads the weights and the mirror of the route that carries them on
// spec.service.port.
func (r *Router) readWeights(c *siskinv1.Canary, vs *networkingv1.VirtualService, route *canary.Route) {
	ports := router.Ports(c)
	w := r.portWeights(c, vs, ports[0], len(ports) > 1)
	route.PrimaryWeight, route.CanaryWeight, route.BaselineWeight, route.Mirror = w.primary, w.canary, w.baseline, w.mirror
}

// weights are what the routes of one port carry.
type weights struct {
	primary, canary, baseline int32
	mirror                    bool
}

func (w weights) String() string {
	return router.FormatWeights(w.primary, w.canary, w.baseline)
}

// portWeights reads the weights of the route that carries them on port p: its TCP route, or
// its default route (its A/B route with analysis.match), and whether its default route
// mirrors to the canary.
func (r *Router) portWeights(c *siskinv1.Canary, vs *networkingv1.VirtualService, p router.Port, multi bool) weights {
	h := r.hostsOf(c)
	var out weights
	weight := func(host string, w int32) {
		switch host {
		case h.primary:
			out.primary = w
		case h.canary:
			out.canary = w
		case h.baseline:
			out.baseline = w
		}
	}
	if p.TCP {
		for _, t := range vs.Spec.Tcp {
			if !multi || (len(t.Match) > 0 && t.Match[0].GetPort() == portNumber(p)) {
				for _, d := range t.Route {
					weight(d.GetDestination().GetHost(), d.Weight)
				}
				break
			}
		}
		return out
	}
	want := router.RuleDefault
	if router.IsABTest(c) {
		want = router.RuleABTest
	}
	for _, rt := range vs.Spec.Http {
		if rt.Name != p.RouteName(want) {
			continue
		}
		for _, d := range rt.Route {
			weight(d.GetDestination().GetHost(), d.Weight)
		}
	}
	for _, rt := range vs.Spec.Http {
		if rt.Name == p.RouteName(router.RuleDefault) && rt.GetMirror().GetHost() == h.canary {
			out.mirror = true
		}
	}
	return out
}

// portsMessage returns why the ports of vs do not all carry the weights of spec.service.port,
// or "" when they do.
func (r *Router) portsMessage(c *siskinv1.Canary, vs *networkingv1.VirtualService) string {
	ports := router.Ports(c)
	if len(ports) == 1 {
		return ""
	}
	main := r.portWeights(c, vs, ports[0], true)
	for _, p := range ports[1:] {
		if w := r.portWeights(c, vs, p, true); w != main {
			return fmt.Sprintf("%s %s/%s routes port %s at weights %s, but port %s at %s",
				kindVirtualService, vs.Namespace, vs.Name, p.Name, w, ports[0].Name, main)
		}
	}
	return ""
}

// observeDestinationRule returns why the DestinationRule of host is not as Apply leaves it, or
// "" when it is.
func (r *Router) observeDestinationRule(ctx context.Context, c *siskinv1.Canary, key client.ObjectKey, host string) (string, error) {
	dr := &networkingv1.DestinationRule{}
	if err := r.reader.Get(ctx, key, dr); apierrors.IsNotFound(err) {
		return fmt.Sprintf("%s %s not found", kindDestinationRule, key), nil
	} else if err != nil {
		return "", fmt.Errorf("get %s %s: %w", kindDestinationRule, key, err)
	}
	adopt, err := target.Ownership(kindDestinationRule, dr, c)
	if err != nil {
		return "", err
	}
	if adopt {
		return fmt.Sprintf("%s %s is not controlled by Canary %s yet", kindDestinationRule, key, c.Name), nil
	}
	want, err := destinationRule(c, host)
	if err != nil {
		return "", err
	}
	if !proto.Equal(&dr.Spec, want) {
		return fmt.Sprintf("%s %s differs from the spec", kindDestinationRule, key), nil
	}
	return "", nil
}

// destinationRuleRef names a DestinationRule and the Service host it describes.
type destinationRuleRef struct {
	key  client.ObjectKey
	host string
}

// destinationRules are the -primary and -canary DestinationRules, named like their Services,
// and with baseline the -baseline one: the baseline's traffic takes the same policy as the
// canary's it is compared with.
func (r *Router) destinationRules(c *siskinv1.Canary, baseline bool) []destinationRuleRef {
	_, primary, canaryName := router.ServiceNames(c)
	h := r.hostsOf(c)
	refs := []destinationRuleRef{
		{key: client.ObjectKey{Namespace: c.Namespace, Name: primary}, host: h.primary},
		{key: client.ObjectKey{Namespace: c.Namespace, Name: canaryName}, host: h.canary},
	}
	if baseline {
		refs = append(refs, r.baselineRule(c))
	}
	return refs
}

func (r *Router) baselineRule(c *siskinv1.Canary) destinationRuleRef {
	return destinationRuleRef{key: client.ObjectKey{Namespace: c.Namespace, Name: router.BaselineServiceName(c)}, host: r.hostsOf(c).baseline}
}

// Apply converges the DestinationRules, then the VirtualService, to the route d; a route that
// gives the baseline no weight deletes the baseline's DestinationRule after the VirtualService
// stops naming its host. Objects that already match are not written, so a Canary at rest costs
// no API calls.
func (r *Router) Apply(ctx context.Context, c *siskinv1.Canary, d canary.DesiredRoute) error {
	vs, err := r.virtualService(c, d)
	if err != nil {
		return err
	}
	refs := r.destinationRules(c, d.BaselineWeight > 0)
	drs := make([]*istioapi.DestinationRule, len(refs))
	for i, ref := range refs {
		if drs[i], err = destinationRule(c, ref.host); err != nil {
			return err
		}
	}
	if err := r.checkOwnership(ctx, c, refs); err != nil {
		return err
	}
	for i, ref := range refs {
		if err := r.ensureDestinationRule(ctx, c, ref.key, drs[i]); err != nil {
			return err
		}
	}
	apex, _, _ := router.ServiceNames(c)
	if err := r.ensureVirtualService(ctx, c, client.ObjectKey{Namespace: c.Namespace, Name: apex}, vs); err != nil {
		return err
	}
	if d.BaselineWeight > 0 {
		return nil
	}
	return r.removeBaselineRule(ctx, c)
}

// removeBaselineRule deletes the baseline's DestinationRule when it is Siskin's for c: the
// -baseline Service it describes goes with the rollout that needed it.
func (r *Router) removeBaselineRule(ctx context.Context, c *siskinv1.Canary) error {
	key := r.baselineRule(c).key
	dr := &networkingv1.DestinationRule{}
	if err := r.reader.Get(ctx, key, dr); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("get %s %s: %w", kindDestinationRule, key, err)
	}
	ref := metav1.GetControllerOf(dr)
	controlled := ref != nil && ref.UID == c.UID
	orphaned := ref == nil && dr.Annotations[target.AnnotationCanary] == c.Name
	if !controlled && !orphaned {
		return nil // not Siskin's: someone else's to keep
	}
	if err := r.client.Delete(ctx, dr, client.Preconditions{UID: &dr.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete %s %s: %w", kindDestinationRule, key, err)
	}
	return nil
}

// checkOwnership fails with router.ErrNotOwned when any of the objects exists and is not
// Siskin's, before anything is written.
func (r *Router) checkOwnership(ctx context.Context, c *siskinv1.Canary, rules []destinationRuleRef) error {
	apex, _, _ := router.ServiceNames(c)
	vs := &networkingv1.VirtualService{}
	if err := r.checkOne(ctx, kindVirtualService, client.ObjectKey{Namespace: c.Namespace, Name: apex}, vs, c); err != nil {
		return err
	}
	for _, dr := range rules {
		if err := r.checkOne(ctx, kindDestinationRule, dr.key, &networkingv1.DestinationRule{}, c); err != nil {
			return err
		}
	}
	return nil
}

func (r *Router) checkOne(ctx context.Context, kind string, key client.ObjectKey, obj client.Object, c *siskinv1.Canary) error {
	if err := r.reader.Get(ctx, key, obj); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("get %s %s: %w", kind, key, err)
	}
	_, err := target.Ownership(kind, obj, c)
	return err
}

// Ensure creates or updates the routing objects and keeps the weights they carry: those of the
// live VirtualService, or all traffic to the primary when there is none yet. It implements the
// EnsureRoute action.
func (r *Router) Ensure(ctx context.Context, c *siskinv1.Canary) error {
	return router.Ensure(ctx, r, c)
}

// Finalize hands the VirtualService over to the user before the Canary goes away: it routes all
// traffic to the apex Service (keeping hosts, gateways, matches and route options) and drops
// the Canary's controller reference, so the garbage collector keeps it. Deleting it instead
// would cut traffic that enters through an Istio gateway, which knows the host only from the
// VirtualService. The siskin.dev/canary annotation stays, so a Canary of the same name adopts
// it again. The DestinationRules are left to the garbage collector with the -primary and
// -canary Services they describe. Call it after the apex Service selects the target's pods.
func (r *Router) Finalize(ctx context.Context, c *siskinv1.Canary) error {
	apex, _, _ := router.ServiceNames(c)
	key := client.ObjectKey{Namespace: c.Namespace, Name: apex}
	live := &networkingv1.VirtualService{}
	if err := r.reader.Get(ctx, key, live); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("get %s %s: %w", kindVirtualService, key, err)
	}
	if _, err := target.Ownership(kindVirtualService, live, c); err != nil {
		return nil // not Siskin's: nothing to hand back
	}
	spec, err := r.handBack(c)
	if err != nil {
		return err
	}
	want := live.DeepCopy()
	spec.DeepCopyInto(&want.Spec)
	target.Release(want, c)
	if proto.Equal(&live.Spec, &want.Spec) && target.SameMeta(live, want) {
		return nil
	}
	if err := r.patch(ctx, live, want); err != nil {
		return fmt.Errorf("hand back %s %s: %w", kindVirtualService, key, err)
	}
	return nil
}

func (r *Router) ensureVirtualService(ctx context.Context, c *siskinv1.Canary, key client.ObjectKey, spec *istioapi.VirtualService) error {
	live := &networkingv1.VirtualService{}
	err := r.reader.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		obj := &networkingv1.VirtualService{ObjectMeta: target.NewMeta(c, key)}
		spec.DeepCopyInto(&obj.Spec)
		if err := r.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("set weights on %s %s: %w", kindVirtualService, key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", kindVirtualService, key, err)
	}
	want := live.DeepCopy()
	if err := target.Claim(kindVirtualService, want, c); err != nil {
		return err
	}
	spec.DeepCopyInto(&want.Spec)
	if proto.Equal(&live.Spec, &want.Spec) && target.SameMeta(live, want) {
		return nil
	}
	if err := r.patch(ctx, live, want); err != nil {
		return fmt.Errorf("set weights on %s %s: %w", kindVirtualService, key, err)
	}
	return nil
}

func (r *Router) ensureDestinationRule(ctx context.Context, c *siskinv1.Canary, key client.ObjectKey, spec *istioapi.DestinationRule) error {
	live := &networkingv1.DestinationRule{}
	err := r.reader.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		obj := &networkingv1.DestinationRule{ObjectMeta: target.NewMeta(c, key)}
		spec.DeepCopyInto(&obj.Spec)
		if err := r.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %s %s: %w", kindDestinationRule, key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", kindDestinationRule, key, err)
	}
	want := live.DeepCopy()
	if err := target.Claim(kindDestinationRule, want, c); err != nil {
		return err
	}
	spec.DeepCopyInto(&want.Spec)
	if proto.Equal(&live.Spec, &want.Spec) && target.SameMeta(live, want) {
		return nil
	}
	if err := r.patch(ctx, live, want); err != nil {
		return fmt.Errorf("update %s %s: %w", kindDestinationRule, key, err)
	}
	return nil
}

// patch writes want over live with a merge patch that fails if live is stale.
func (r *Router) patch(ctx context.Context, live, want client.Object) error {
	return r.client.Patch(ctx, want, client.MergeFromWithOptions(live, client.MergeFromWithOptimisticLock{}))
}
