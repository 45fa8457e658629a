package gatewayapi

import (
	"errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// tcpTypes are TCPRoute's (gateway.networking.k8s.io/v1, in Gateway API's standard channel
// since v1.6): one rule that splits connections between its weighted backends, attached to the
// HTTPRoute's parents. It matches nothing, has no hostnames and no filters: a spec that needs
// them is an error.
type tcpTypes struct{}

func (tcpTypes) convert(s *gatewayv1.HTTPRouteSpec) (*gatewayv1.TCPRouteSpec, error) {
	switch {
	case len(s.Hostnames) > 0:
		return nil, errors.New("a TCPRoute has no hostnames: delete spec.service.hosts")
	case len(s.Rules) != 1:
		return nil, errors.New("a TCPRoute has one rule that matches no requests: it cannot route by header or cookie; delete analysis.match and analysis.sessionAffinity")
	}
	r := s.Rules[0]
	switch {
	case len(r.Filters) > 0:
		return nil, errors.New("a TCPRoute has no filters: delete spec.service.headers, rewrite and mirror, and analysis.mirror")
	case r.Timeouts != nil:
		return nil, errors.New("a TCPRoute has no request timeouts: delete spec.service.timeout and spec.service.backendTimeout")
	case !matchesEverything(r.Matches):
		return nil, errors.New("a TCPRoute matches no requests: delete spec.service.match")
	}
	rule := gatewayv1.TCPRouteRule{}
	for _, b := range r.BackendRefs {
		rule.BackendRefs = append(rule.BackendRefs, *b.BackendRef.DeepCopy())
	}
	out := &gatewayv1.TCPRouteSpec{CommonRouteSpec: *s.CommonRouteSpec.DeepCopy(), Rules: []gatewayv1.TCPRouteRule{rule}}
	tcpTypes{}.defaults(out)
	return out, nil
}

// matchesEverything reports whether HTTPRoute matches, defaulted, ask nothing of a request:
// none, or only ones with the path prefix / and nothing else.
func matchesEverything(ms []gatewayv1.HTTPRouteMatch) bool {
	for _, m := range ms {
		every := len(m.Headers) == 0 && len(m.QueryParams) == 0 && m.Method == nil &&
			(m.Path == nil || (ptr.Deref(m.Path.Type, gatewayv1.PathMatchPathPrefix) == gatewayv1.PathMatchPathPrefix && ptr.Deref(m.Path.Value, "/") == "/"))
		if !every {
			return false
		}
	}
	return true
}

func (tcpTypes) name() string { return "TCPRoute" }

func (tcpTypes) parts(rt *gatewayv1.TCPRoute) (*gatewayv1.TCPRouteSpec, []gatewayv1.ParentReference, []gatewayv1.RouteParentStatus) {
	return &rt.Spec, rt.Spec.ParentRefs, rt.Status.Parents
}

func (tcpTypes) object(m metav1.ObjectMeta) *gatewayv1.TCPRoute {
	return &gatewayv1.TCPRoute{ObjectMeta: m}
}

// rules has the backends of the one rule; a TCPRoute mirrors nothing.
func (tcpTypes) rules(s *gatewayv1.TCPRouteSpec) []ruleView {
	out := make([]ruleView, len(s.Rules))
	for i, r := range s.Rules {
		out[i].backends = r.BackendRefs
	}
	return out
}

// defaults fills in what the TCPRoute CRD defaults, so that a generated spec equals the stored
// one.
func (tcpTypes) defaults(s *gatewayv1.TCPRouteSpec) {
	parentDefaults(s.ParentRefs)
	for i := range s.Rules {
		for j := range s.Rules[i].BackendRefs {
			backendRefDefaults(&s.Rules[i].BackendRefs[j])
		}
	}
}
