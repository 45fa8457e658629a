package gatewayapi

import (
	"bytes"
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// kind is a route kind as the router handles it, whatever its Go types: the router reads,
// owns, writes and hands back routes of every kind through it alike. Specs are passed as any;
// each is a pointer to the kind's spec type.
type kind interface {
	// name is the kind, as in messages: HTTPRoute.
	name() string
	// object is a route of the kind with metadata m; list an empty list of them.
	object(m metav1.ObjectMeta) client.Object
	list() client.ObjectList
	// specOf is obj's spec (a pointer into obj); setSpec replaces it.
	specOf(obj client.Object) any
	setSpec(obj client.Object, spec any)
	// parentsOf are obj's parentRefs and what they report in its status.
	parentsOf(obj client.Object) ([]gatewayv1.ParentReference, []gatewayv1.RouteParentStatus)
	// build makes the kind's spec out of the HTTPRoute spec of the same route.
	build(s *gatewayv1.HTTPRouteSpec) (any, error)
	// read is what the router reads of each rule of a spec.
	read(spec any) []ruleView
	// canonical is the JSON of a spec with the CRD's defaults applied, for comparisons.
	canonical(spec any) ([]byte, error)
}

// routeTypes is what differs between the route kinds, on their own Go types: route O, whose
// spec is S. Every kind's spec is made from the HTTPRoute spec of the same Canary (convert), so
// the rules, weights, mirrors and parents are decided once; what a kind cannot express is an
// error there.
type routeTypes[O client.Object, S any] interface {
	name() string
	// object is a route with metadata m.
	object(m metav1.ObjectMeta) O
	// parts are the spec of a route, its parentRefs and their statuses.
	parts(rt O) (spec *S, refs []gatewayv1.ParentReference, statuses []gatewayv1.RouteParentStatus)
	convert(s *gatewayv1.HTTPRouteSpec) (*S, error)
	// rules are the weighted backends and request mirrors of each rule.
	rules(s *S) []ruleView
	// defaults fills in what the kind's CRD defaults.
	defaults(s *S)
}

// ruleView is what the router reads of one rule of any kind: its weighted backends and where
// it mirrors requests.
type ruleView struct {
	backends []gatewayv1.BackendRef
	mirrors  []gatewayv1.BackendObjectReference
}

// typedKind is the kind of routeTypes t, whose lists are copies of proto.
type typedKind[O client.Object, S any] struct {
	t     routeTypes[O, S]
	proto client.ObjectList
}

var _ kind = typedKind[*gatewayv1.HTTPRoute, gatewayv1.HTTPRouteSpec]{}

// typed returns the kind of t.
func typed[O client.Object, S any](t routeTypes[O, S], proto client.ObjectList) kind {
	return typedKind[O, S]{t: t, proto: proto}
}

func (k typedKind[O, S]) name() string { return k.t.name() }

func (k typedKind[O, S]) object(m metav1.ObjectMeta) client.Object { return k.t.object(m) }

func (k typedKind[O, S]) list() client.ObjectList {
	return k.proto.DeepCopyObject().(client.ObjectList)
}

func (k typedKind[O, S]) specOf(obj client.Object) any {
	s, _, _ := k.t.parts(obj.(O))
	return s
}

func (k typedKind[O, S]) setSpec(obj client.Object, spec any) {
	s, _, _ := k.t.parts(obj.(O))
	*s = *spec.(*S)
}

func (k typedKind[O, S]) parentsOf(obj client.Object) ([]gatewayv1.ParentReference, []gatewayv1.RouteParentStatus) {
	_, refs, statuses := k.t.parts(obj.(O))
	return refs, statuses
}

func (k typedKind[O, S]) build(s *gatewayv1.HTTPRouteSpec) (any, error) {
	out, err := k.t.convert(s)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (k typedKind[O, S]) read(spec any) []ruleView { return k.t.rules(spec.(*S)) }

// canonical applies the defaults to a copy of spec, made through JSON so that empty and absent
// lists are the same.
func (k typedKind[O, S]) canonical(spec any) ([]byte, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	s := new(S)
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	k.t.defaults(s)
	return json.Marshal(s)
}

// views are the ruleViews of rules, whatever their types: parts are a rule's backends and
// filters, ref a backend's weighted reference and mirror a filter's request mirror (nil for
// another filter).
func views[R, B, F any](rules []R, parts func(R) ([]B, []F), ref func(B) gatewayv1.BackendRef, mirror func(F) *gatewayv1.HTTPRequestMirrorFilter) []ruleView {
	out := make([]ruleView, len(rules))
	for i, r := range rules {
		backends, filters := parts(r)
		for _, b := range backends {
			out[i].backends = append(out[i].backends, ref(b))
		}
		for _, f := range filters {
			if m := mirror(f); m != nil {
				out[i].mirrors = append(out[i].mirrors, m.BackendRef)
			}
		}
	}
	return out
}

// sameSpec reports whether two specs of k are equal once defaulted.
func sameSpec(k kind, live, want any) bool {
	a, errA := k.canonical(live)
	b, errB := k.canonical(want)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// httpTypes are HTTPRoute's, the kind the others are made from.
type httpTypes struct{}

func (httpTypes) name() string { return "HTTPRoute" }

func (httpTypes) object(m metav1.ObjectMeta) *gatewayv1.HTTPRoute {
	return &gatewayv1.HTTPRoute{ObjectMeta: m}
}

func (httpTypes) convert(s *gatewayv1.HTTPRouteSpec) (*gatewayv1.HTTPRouteSpec, error) { return s, nil }

func (httpTypes) parts(rt *gatewayv1.HTTPRoute) (*gatewayv1.HTTPRouteSpec, []gatewayv1.ParentReference, []gatewayv1.RouteParentStatus) {
	return &rt.Spec, rt.Spec.ParentRefs, rt.Status.Parents
}

func (httpTypes) defaults(s *gatewayv1.HTTPRouteSpec) { setDefaults(s) }

func (httpTypes) rules(s *gatewayv1.HTTPRouteSpec) []ruleView {
	return views(s.Rules, func(r gatewayv1.HTTPRouteRule) ([]gatewayv1.HTTPBackendRef, []gatewayv1.HTTPRouteFilter) {
		return r.BackendRefs, r.Filters
	},
		func(b gatewayv1.HTTPBackendRef) gatewayv1.BackendRef { return b.BackendRef },
		func(f gatewayv1.HTTPRouteFilter) *gatewayv1.HTTPRequestMirrorFilter { return f.RequestMirror })
}
