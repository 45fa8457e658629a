package gatewayapi

import (
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// setDefaults fills in what the HTTPRoute CRD defaults, so that a generated spec equals the
// stored one and a stored spec compares equal however it was written.
func setDefaults(s *gatewayv1.HTTPRouteSpec) {
	parentDefaults(s.ParentRefs)
	for i := range s.Rules {
		r := &s.Rules[i]
		if len(r.Matches) == 0 {
			r.Matches = []gatewayv1.HTTPRouteMatch{{}}
		}
		for j := range r.Matches {
			matchDefaults(&r.Matches[j])
		}
		filterDefaults(r.Filters)
		for j := range r.BackendRefs {
			backendRefDefaults(&r.BackendRefs[j].BackendRef)
			filterDefaults(r.BackendRefs[j].Filters)
		}
	}
}

// parentDefaults fills in what every route CRD defaults in its parentRefs.
func parentDefaults(refs []gatewayv1.ParentReference) {
	for i := range refs {
		p := &refs[i]
		if p.Group == nil {
			p.Group = ptr.To(gatewayv1.Group(gatewayv1.GroupName))
		}
		if p.Kind == nil {
			p.Kind = ptr.To(gatewayv1.Kind("Gateway"))
		}
	}
}

// backendRefDefaults fills in what every route CRD defaults in a weighted backendRef.
func backendRefDefaults(b *gatewayv1.BackendRef) {
	backendDefaults(&b.BackendObjectReference)
	if b.Weight == nil {
		b.Weight = ptr.To[int32](1)
	}
}

func matchDefaults(m *gatewayv1.HTTPRouteMatch) {
	if m.Path == nil {
		m.Path = &gatewayv1.HTTPPathMatch{}
	}
	if m.Path.Type == nil {
		m.Path.Type = ptr.To(gatewayv1.PathMatchPathPrefix)
	}
	if m.Path.Value == nil {
		m.Path.Value = ptr.To("/")
	}
	for k := range m.Headers {
		if m.Headers[k].Type == nil {
			m.Headers[k].Type = ptr.To(gatewayv1.HeaderMatchExact)
		}
	}
	for k := range m.QueryParams {
		if m.QueryParams[k].Type == nil {
			m.QueryParams[k].Type = ptr.To(gatewayv1.QueryParamMatchExact)
		}
	}
}

func filterDefaults(filters []gatewayv1.HTTPRouteFilter) {
	for i := range filters {
		mirrorDefaults(filters[i].RequestMirror)
	}
}

func mirrorDefaults(m *gatewayv1.HTTPRequestMirrorFilter) {
	if m == nil {
		return
	}
	backendDefaults(&m.BackendRef)
	if m.Fraction != nil && m.Fraction.Denominator == nil {
		m.Fraction.Denominator = ptr.To[int32](100)
	}
}

func backendDefaults(b *gatewayv1.BackendObjectReference) {
	if b.Group == nil {
		b.Group = ptr.To(gatewayv1.Group(""))
	}
	if b.Kind == nil {
		b.Kind = ptr.To(gatewayv1.Kind(kindService))
	}
}
