package gatewayapi

import (
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// grpcTypes are GRPCRoute's (gateway.networking.k8s.io/v1): the HTTPRoute's parents,
// hostnames, weights, header matches, header modifiers and request mirrors, with a path match
// turned into a gRPC method match. What a GRPCRoute has no field for (query parameters, HTTP
// methods, rewrites, timeouts, Set-Cookie on a backend) is an error.
type grpcTypes struct{}

func (grpcTypes) name() string { return "GRPCRoute" }

func (grpcTypes) object(m metav1.ObjectMeta) *gatewayv1.GRPCRoute {
	return &gatewayv1.GRPCRoute{ObjectMeta: m}
}

func (grpcTypes) parts(rt *gatewayv1.GRPCRoute) (*gatewayv1.GRPCRouteSpec, []gatewayv1.ParentReference, []gatewayv1.RouteParentStatus) {
	return &rt.Spec, rt.Spec.ParentRefs, rt.Status.Parents
}

func (grpcTypes) convert(s *gatewayv1.HTTPRouteSpec) (*gatewayv1.GRPCRouteSpec, error) {
	out := &gatewayv1.GRPCRouteSpec{CommonRouteSpec: *s.CommonRouteSpec.DeepCopy(), Hostnames: s.Hostnames}
	for _, r := range s.Rules {
		if r.Timeouts != nil {
			return nil, errors.New("a GRPCRoute has no timeouts: delete spec.service.timeout and spec.service.backendTimeout, or set them in the Gateway implementation's own policy")
		}
		rule := gatewayv1.GRPCRouteRule{}
		for _, m := range r.Matches {
			gm, err := grpcMatch(m)
			if err != nil {
				return nil, err
			}
			rule.Matches = append(rule.Matches, gm)
		}
		if allEmpty(rule.Matches) {
			rule.Matches = nil
		}
		for _, f := range r.Filters {
			gf, err := grpcFilter(f)
			if err != nil {
				return nil, err
			}
			rule.Filters = append(rule.Filters, gf)
		}
		for _, b := range r.BackendRefs {
			if len(b.Filters) > 0 {
				return nil, errors.New("a GRPCRoute cannot set cookies on a backend's responses (gRPC clients keep no cookies): delete analysis.sessionAffinity")
			}
			rule.BackendRefs = append(rule.BackendRefs, gatewayv1.GRPCBackendRef{BackendRef: *b.BackendRef.DeepCopy()})
		}
		out.Rules = append(out.Rules, rule)
	}
	grpcTypes{}.defaults(out)
	return out, nil
}

func (grpcTypes) rules(s *gatewayv1.GRPCRouteSpec) []ruleView {
	return views(s.Rules, func(r gatewayv1.GRPCRouteRule) ([]gatewayv1.GRPCBackendRef, []gatewayv1.GRPCRouteFilter) {
		return r.BackendRefs, r.Filters
	},
		func(b gatewayv1.GRPCBackendRef) gatewayv1.BackendRef { return b.BackendRef },
		func(f gatewayv1.GRPCRouteFilter) *gatewayv1.HTTPRequestMirrorFilter { return f.RequestMirror })
}

// grpcMatch is the GRPCRoute match of an HTTPRoute match: its headers, and its path as a gRPC
// method (/<service>/<method>): an exact path names a method of a service, a prefix
// /<service>/ every method of the service, and the prefix / every call.
func grpcMatch(m gatewayv1.HTTPRouteMatch) (gatewayv1.GRPCRouteMatch, error) {
	var out gatewayv1.GRPCRouteMatch
	switch {
	case len(m.QueryParams) > 0:
		return out, errors.New("a GRPCRoute cannot match query parameters (gRPC calls have none): delete queryParams from spec.service.match and analysis.match")
	case m.Method != nil:
		return out, errors.New("a GRPCRoute cannot match HTTP methods (every gRPC call is a POST): delete method from spec.service.match and analysis.match")
	}
	method, err := grpcMethod(m.Path)
	if err != nil {
		return out, err
	}
	out.Method = method
	for _, h := range m.Headers {
		t := gatewayv1.GRPCHeaderMatchExact
		if ptr.Deref(h.Type, gatewayv1.HeaderMatchExact) == gatewayv1.HeaderMatchRegularExpression {
			t = gatewayv1.GRPCHeaderMatchRegularExpression
		}
		out.Headers = append(out.Headers, gatewayv1.GRPCHeaderMatch{Type: ptr.To(t), Name: gatewayv1.GRPCHeaderName(h.Name), Value: h.Value})
	}
	return out, nil
}

// grpcMethod is the gRPC method match of a path match; nil matches every call.
func grpcMethod(p *gatewayv1.HTTPPathMatch) (*gatewayv1.GRPCMethodMatch, error) {
	if p == nil {
		return nil, nil
	}
	value := ptr.Deref(p.Value, "/")
	service, method, _ := strings.Cut(strings.TrimPrefix(value, "/"), "/")
	exact := ptr.To(gatewayv1.GRPCMethodMatchExact)
	switch ptr.Deref(p.Type, gatewayv1.PathMatchPathPrefix) {
	case gatewayv1.PathMatchPathPrefix:
		switch {
		case value == "/":
			return nil, nil
		case service != "" && method == "":
			return &gatewayv1.GRPCMethodMatch{Type: exact, Service: ptr.To(service)}, nil
		}
	case gatewayv1.PathMatchExact:
		if service != "" && method != "" && !strings.Contains(method, "/") {
			return &gatewayv1.GRPCMethodMatch{Type: exact, Service: ptr.To(service), Method: ptr.To(method)}, nil
		}
	}
	return nil, fmt.Errorf("a GRPCRoute matches a gRPC method, not the path %q: write uri {exact: /<service>/<method>} for one method, {prefix: /<service>/} for every method of a service", value)
}

func allEmpty(ms []gatewayv1.GRPCRouteMatch) bool {
	for _, m := range ms {
		if m.Method != nil || len(m.Headers) > 0 {
			return false
		}
	}
	return true
}

// grpcFilter is the GRPCRoute filter of an HTTPRoute filter; a GRPCRoute has no URL rewrite.
func grpcFilter(f gatewayv1.HTTPRouteFilter) (gatewayv1.GRPCRouteFilter, error) {
	f = *f.DeepCopy()
	switch f.Type {
	case gatewayv1.HTTPRouteFilterRequestHeaderModifier:
		return gatewayv1.GRPCRouteFilter{Type: gatewayv1.GRPCRouteFilterRequestHeaderModifier, RequestHeaderModifier: f.RequestHeaderModifier}, nil
	case gatewayv1.HTTPRouteFilterResponseHeaderModifier:
		return gatewayv1.GRPCRouteFilter{Type: gatewayv1.GRPCRouteFilterResponseHeaderModifier, ResponseHeaderModifier: f.ResponseHeaderModifier}, nil
	case gatewayv1.HTTPRouteFilterRequestMirror:
		return gatewayv1.GRPCRouteFilter{Type: gatewayv1.GRPCRouteFilterRequestMirror, RequestMirror: f.RequestMirror}, nil
	}
	return gatewayv1.GRPCRouteFilter{}, fmt.Errorf("a GRPCRoute has no %s filter: delete spec.service.rewrite", f.Type)
}

// defaults fills in what the GRPCRoute CRD defaults, so that a generated spec equals the
// stored one.
func (grpcTypes) defaults(s *gatewayv1.GRPCRouteSpec) {
	parentDefaults(s.ParentRefs)
	for i := range s.Rules {
		r := &s.Rules[i]
		for j := range r.Matches {
			m := &r.Matches[j]
			if m.Method != nil && m.Method.Type == nil {
				m.Method.Type = ptr.To(gatewayv1.GRPCMethodMatchExact)
			}
			for k := range m.Headers {
				if m.Headers[k].Type == nil {
					m.Headers[k].Type = ptr.To(gatewayv1.GRPCHeaderMatchExact)
				}
			}
		}
		for j := range r.Filters {
			mirrorDefaults(r.Filters[j].RequestMirror)
		}
		for j := range r.BackendRefs {
			backendRefDefaults(&r.BackendRefs[j].BackendRef)
			for k := range r.BackendRefs[j].Filters {
				mirrorDefaults(r.BackendRefs[j].Filters[k].RequestMirror)
			}
		}
	}
}
