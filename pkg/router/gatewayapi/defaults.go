package gatewayapi

import (
	"bytes"
	"encoding/json"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// setDefaults fills in what the HTTPRoute CRD defaults, so that a generated spec equals the
// stored one and a stored spec compares equal however it was written.
func setDefaults(s *gatewayv1.HTTPRouteSpec) {
	for i := range s.ParentRefs {
		p := &s.ParentRefs[i]
		if p.Group == nil {
			p.Group = ptr.To(gatewayv1.Group(gatewayv1.GroupName))
		}
		if p.Kind == nil {
			p.Kind = ptr.To(gatewayv1.Kind("Gateway"))
		}
	}
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
			b := &r.BackendRefs[j]
			backendDefaults(&b.BackendObjectReference)
			if b.Weight == nil {
				b.Weight = ptr.To[int32](1)
			}
			filterDefaults(b.Filters)
		}
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
		m := filters[i].RequestMirror
		if m == nil {
			continue
		}
		backendDefaults(&m.BackendRef)
		if m.Fraction != nil && m.Fraction.Denominator == nil {
			m.Fraction.Denominator = ptr.To[int32](100)
		}
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

// sameSpec reports whether two specs are equal once defaulted, comparing their JSON so that
// empty and absent lists are the same.
func sameSpec(live, want *gatewayv1.HTTPRouteSpec) bool {
	a, b := live.DeepCopy(), want.DeepCopy()
	setDefaults(a)
	setDefaults(b)
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
