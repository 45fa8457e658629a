package gatewayapi

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
)

const (
	fullWeight  = 100
	kindService = "Service"
)

// services are a Canary's Service names and port.
type services struct {
	apex, primary, canary, baseline string
	port                            int32
}

// servicesOf is c's Services on port p.
func servicesOf(c *siskinv1.Canary, p router.Port) services {
	apex, primary, canaryName := router.ServiceNames(c)
	return services{apex: apex, primary: primary, canary: canaryName, baseline: router.BaselineServiceName(c), port: p.Number}
}

// httpRouteSpec is the HTTPRoute spec that routes port p of c as d asks, with the CRD defaults
// applied.
func httpRouteSpec(c *siskinv1.Canary, p router.Port, d canary.DesiredRoute, mesh bool) (*gatewayv1.HTTPRouteSpec, error) {
	svc := servicesOf(c, p)
	spec, opts, err := frame(c, p, mesh)
	if err != nil {
		return nil, err
	}
	for _, rule := range router.HTTPRules(c, d) {
		r := opts.rule(rule.Match, backends(svc, rule.Backends))
		if rule.MirrorPercent > 0 {
			r.Filters = append(r.Filters, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterRequestMirror, RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{
				BackendRef: serviceRef(svc.canary, nil, &svc.port),
				Percent:    ptr.To(rule.MirrorPercent),
			}})
		}
		spec.Rules = append(spec.Rules, r)
	}
	setDefaults(spec)
	return spec, nil
}

// handBack is the HTTPRoute spec that sends all traffic of port p to the apex Service, with
// the user's parents, hostnames, matches, filters and timeouts but nothing of the rollout.
func handBack(c *siskinv1.Canary, p router.Port, mesh bool) (*gatewayv1.HTTPRouteSpec, error) {
	svc := servicesOf(c, p)
	spec, opts, err := frame(c, p, mesh)
	if err != nil {
		return nil, err
	}
	be := []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
		BackendObjectReference: serviceRef(svc.apex, nil, &svc.port), Weight: ptr.To[int32](fullWeight),
	}}}
	spec.Rules = []gatewayv1.HTTPRouteRule{opts.rule(c.Spec.Service.Match, be)}
	setDefaults(spec)
	return spec, nil
}

// frame is the HTTPRoute spec of port p with parents and hostnames and no rules, and the rule
// options. The route of an additional port attaches to the listeners of the same parents on
// that port: an HTTPRoute cannot match on the port, so each port needs a route of its own,
// bound by parentRef port (the Service port itself for a Service parent, GAMMA). With mesh, the
// only parent is the apex Service on that port, and the route has no hostnames.
func frame(c *siskinv1.Canary, p router.Port, mesh bool) (*gatewayv1.HTTPRouteSpec, *options, error) {
	s := c.Spec.Service
	if err := checkMatches("spec.service.match", s.Match); err != nil {
		return nil, nil, err
	}
	if router.IsABTest(c) {
		if err := checkMatches("spec.analysis.match", c.Spec.Analysis.Match); err != nil {
			return nil, nil, err
		}
	}
	opts, err := ruleOptions(c)
	if err != nil {
		return nil, nil, err
	}
	spec := &gatewayv1.HTTPRouteSpec{}
	if mesh {
		spec.ParentRefs = []gatewayv1.ParentReference{serviceParent(c, p)}
		return spec, opts, nil
	}
	for _, g := range s.GatewayRefs {
		ref := gatewayv1.ParentReference{
			Group:       (*gatewayv1.Group)(g.Group),
			Kind:        (*gatewayv1.Kind)(g.Kind),
			Namespace:   (*gatewayv1.Namespace)(g.Namespace),
			Name:        gatewayv1.ObjectName(g.Name),
			SectionName: (*gatewayv1.SectionName)(g.SectionName),
			Port:        g.Port,
		}
		if !p.Main {
			ref.SectionName, ref.Port = nil, ptr.To(p.Number)
		}
		spec.ParentRefs = append(spec.ParentRefs, ref)
	}
	for _, h := range s.Hosts {
		spec.Hostnames = append(spec.Hostnames, gatewayv1.Hostname(h))
	}
	return spec, opts, nil
}

func serviceRef(name string, namespace *string, port *int32) gatewayv1.BackendObjectReference {
	return gatewayv1.BackendObjectReference{
		Group:     ptr.To(gatewayv1.Group("")),
		Kind:      ptr.To(gatewayv1.Kind(kindService)),
		Name:      gatewayv1.ObjectName(name),
		Namespace: (*gatewayv1.Namespace)(namespace),
		Port:      port,
	}
}

// backends are the Services of bs with their weights and Set-Cookie headers.
func backends(svc services, bs []router.Backend) []gatewayv1.HTTPBackendRef {
	out := make([]gatewayv1.HTTPBackendRef, len(bs))
	for i, b := range bs {
		name := svc.primary
		switch {
		case b.Canary:
			name = svc.canary
		case b.Baseline:
			name = svc.baseline
		}
		out[i] = gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: serviceRef(name, nil, &svc.port), Weight: ptr.To(b.Weight),
		}}
		if b.SetCookie != "" {
			out[i].Filters = addResponseHeader(router.SetCookieHeader, b.SetCookie)
		}
	}
	return out
}

func addResponseHeader(name, value string) []gatewayv1.HTTPRouteFilter {
	return []gatewayv1.HTTPRouteFilter{{
		Type:                   gatewayv1.HTTPRouteFilterResponseHeaderModifier,
		ResponseHeaderModifier: &gatewayv1.HTTPHeaderFilter{Add: []gatewayv1.HTTPHeader{{Name: gatewayv1.HTTPHeaderName(name), Value: value}}},
	}}
}

// options are the parts of every rule that come from spec.service.
type options struct {
	filters  []gatewayv1.HTTPRouteFilter
	timeouts *gatewayv1.HTTPRouteTimeouts
}

func (o *options) rule(match []siskinv1.HTTPMatchRequest, backends []gatewayv1.HTTPBackendRef) gatewayv1.HTTPRouteRule {
	r := gatewayv1.HTTPRouteRule{Matches: httpMatches(match), BackendRefs: backends}
	for _, f := range o.filters {
		r.Filters = append(r.Filters, *f.DeepCopy())
	}
	if o.timeouts != nil {
		r.Timeouts = o.timeouts.DeepCopy()
	}
	return r
}

func ruleOptions(c *siskinv1.Canary) (*options, error) {
	s := c.Spec.Service
	o := &options{}
	if h := s.Headers; h != nil {
		if f := headerFilter(h.Request); f != nil {
			o.filters = append(o.filters, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: f})
		}
		if f := headerFilter(h.Response); f != nil {
			o.filters = append(o.filters, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: f})
		}
	}
	if rw := s.Rewrite; rw != nil && (rw.URI != "" || rw.Authority != "") {
		f := &gatewayv1.HTTPURLRewriteFilter{}
		if rw.Authority != "" {
			f.Hostname = ptr.To(gatewayv1.PreciseHostname(rw.Authority))
		}
		if rw.URI != "" {
			f.Path = &gatewayv1.HTTPPathModifier{Type: gatewayv1.HTTPPathModifierType(rw.Type)}
			if f.Path.Type == gatewayv1.FullPathHTTPPathModifier {
				f.Path.ReplaceFullPath = ptr.To(rw.URI)
			} else {
				f.Path.Type = gatewayv1.PrefixMatchHTTPPathModifier
				f.Path.ReplacePrefixMatch = ptr.To(rw.URI)
			}
		}
		o.filters = append(o.filters, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterURLRewrite, URLRewrite: f})
	}
	for _, m := range s.Mirror {
		o.filters = append(o.filters, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterRequestMirror, RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{
			BackendRef: serviceRef(m.BackendRef.Name, m.BackendRef.Namespace, m.BackendRef.Port),
			Percent:    m.Percent,
		}})
	}
	request, err := gatewayDuration("spec.service.timeout", s.Timeout)
	if err != nil {
		return nil, err
	}
	backend, err := gatewayDuration("spec.service.backendTimeout", s.BackendTimeout)
	if err != nil {
		return nil, err
	}
	if request != nil || backend != nil {
		o.timeouts = &gatewayv1.HTTPRouteTimeouts{Request: request, BackendRequest: backend}
	}
	return o, nil
}

func headerFilter(h *siskinv1.HeaderOperations) *gatewayv1.HTTPHeaderFilter {
	if h == nil || len(h.Set)+len(h.Add)+len(h.Remove) == 0 {
		return nil
	}
	f := &gatewayv1.HTTPHeaderFilter{Set: headers(h.Set), Add: headers(h.Add)}
	if len(h.Remove) > 0 {
		f.Remove = slices.Clone(h.Remove)
	}
	return f
}

func headers(m map[string]string) []gatewayv1.HTTPHeader {
	var out []gatewayv1.HTTPHeader
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, gatewayv1.HTTPHeader{Name: gatewayv1.HTTPHeaderName(k), Value: m[k]})
	}
	return out
}

// gatewayDuration converts a duration of the Canary spec (Go syntax, decimals allowed) to the
// Gateway API form (at most four integer parts of h, m, s, ms), rounded to the millisecond.
func gatewayDuration(field, s string) (*gatewayv1.Duration, error) {
	if s == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", field, err)
	}
	d = d.Round(time.Millisecond)
	if d <= 0 {
		return ptr.To(gatewayv1.Duration("0s")), nil
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	return ptr.To(gatewayv1.Duration(b.String())), nil
}
