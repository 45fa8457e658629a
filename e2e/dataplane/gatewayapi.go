package dataplane

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// parentStatus is what the data plane reports for one parentRef of an HTTPRoute.
type parentStatus struct {
	ref          gatewayv1.ParentReference
	resolvedRefs bool
	refsMessage  string
}

// gatewayStatus is what the data plane reports for one Gateway of its class.
type gatewayStatus struct {
	listeners []gatewayv1.SectionName
	attached  int32
}

// indexGateways returns the Gateways whose GatewayClass names the data plane's controller.
func (t *Table) indexGateways(s Snapshot) map[svcKey]bool {
	classes := map[string]bool{}
	for _, gc := range s.GatewayClasses {
		if servesClass(gc.Spec.ControllerName, s.ControllerName) {
			classes[gc.Name] = true
		}
	}
	ours := map[svcKey]bool{}
	for _, gw := range s.Gateways {
		if !classes[string(gw.Spec.GatewayClassName)] {
			continue
		}
		k := svcKey{Namespace: gw.Namespace, Name: gw.Name}
		ours[k] = true
		st := gatewayStatus{}
		for _, l := range gw.Spec.Listeners {
			st.listeners = append(st.listeners, l.Name)
		}
		t.gateways[k] = st
	}
	return ours
}

// attach returns the hosts an HTTPRoute serves and the status of each parent the data plane
// implements: a Gateway of its class (the route's hostnames, or every host when it names
// none) or a Service (the Service's own host, as in the Gateway API's mesh support).
func (t *Table) attach(hr *gatewayv1.HTTPRoute, ours map[svcKey]bool) ([]string, []parentStatus) {
	var hosts []string
	var status []parentStatus
	resolved, msg := t.backendsResolved(hr)
	for _, ref := range hr.Spec.ParentRefs {
		group := string(ptrOr(ref.Group, gatewayv1.GroupName))
		kind := string(ptrOr(ref.Kind, "Gateway"))
		k := svcKey{Namespace: string(ptrOr(ref.Namespace, gatewayv1.Namespace(hr.Namespace))), Name: string(ref.Name)}
		switch {
		case group == gatewayv1.GroupName && kind == "Gateway":
			if !ours[k] {
				continue
			}
			gs := t.gateways[k]
			gs.attached++
			t.gateways[k] = gs
			if len(hr.Spec.Hostnames) == 0 {
				hosts = append(hosts, "*")
			}
			for _, h := range hr.Spec.Hostnames {
				hosts = append(hosts, t.canonicalHost(string(h)))
			}
		case (group == "" || group == "core") && kind == "Service":
			hosts = append(hosts, k.host())
		default:
			continue
		}
		status = append(status, parentStatus{ref: ref, resolvedRefs: resolved, refsMessage: msg})
	}
	slices.Sort(hosts)
	return slices.Compact(hosts), status
}

// backendsResolved reports whether every backendRef of a route names an existing Service.
func (t *Table) backendsResolved(hr *gatewayv1.HTTPRoute) (bool, string) {
	for _, r := range hr.Spec.Rules {
		for _, b := range r.BackendRefs {
			k, ok := gatewayService(b.BackendObjectReference, hr.Namespace)
			if !ok {
				return false, fmt.Sprintf("backend %s is not a Service", b.Name)
			}
			if t.services[k] == nil {
				return false, fmt.Sprintf("service %s/%s not found", k.Namespace, k.Name)
			}
		}
	}
	return true, "all references resolved"
}

func gatewayService(ref gatewayv1.BackendObjectReference, namespace string) (svcKey, bool) {
	group := string(ptrOr(ref.Group, ""))
	kind := string(ptrOr(ref.Kind, "Service"))
	k := svcKey{Namespace: string(ptrOr(ref.Namespace, gatewayv1.Namespace(namespace))), Name: string(ref.Name)}
	return k, (group == "" || group == "core") && kind == "Service"
}

// ranked is an entry with the Gateway API's precedence: exact path, then regular
// expression, then the longest prefix; then a method; then most header matches; then most
// query matches; then the oldest route and the order within it.
type ranked struct {
	entry
	pathKind, pathLen, headers, query int
	method                            bool
	order                             int
}

func slicesSortRanked(rs []ranked) {
	slices.SortStableFunc(rs, func(a, b ranked) int {
		return cmp.Or(
			cmp.Compare(b.pathKind, a.pathKind),
			cmp.Compare(b.pathLen, a.pathLen),
			boolCompare(b.method, a.method),
			cmp.Compare(b.headers, a.headers),
			cmp.Compare(b.query, a.query),
			cmp.Compare(a.order, b.order),
		)
	})
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// compileHTTPRoute turns an HTTPRoute's rules into ranked entries. Redirects, CORS,
// external auth, extension filters and retries are not modelled.
func compileHTTPRoute(hr *gatewayv1.HTTPRoute, order int) ([]ranked, []string) {
	var out []ranked
	var errs []string
	for i := range hr.Spec.Rules {
		rl := &hr.Spec.Rules[i]
		source := fmt.Sprintf("HTTPRoute %s/%s rules[%d]", hr.Namespace, hr.Name, i)
		if rl.Name != nil {
			source += " " + string(*rl.Name)
		}
		r, err := compileGatewayRule(rl, hr.Namespace, source)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", source, err))
			continue
		}
		matches := rl.Matches
		if len(matches) == 0 {
			matches = []gatewayv1.HTTPRouteMatch{{}}
		}
		for j := range matches {
			rm, rk, err := compileGatewayMatch(&matches[j])
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s matches[%d]: %v", source, j, err))
				continue
			}
			rk.entry = entry{match: rm, rule: r}
			rk.order = order
			out = append(out, rk)
		}
	}
	return out, errs
}

func compileGatewayRule(rl *gatewayv1.HTTPRouteRule, namespace, source string) (*rule, error) {
	r := &rule{source: source, failStatus: http.StatusInternalServerError}
	for _, br := range rl.BackendRefs {
		k, ok := gatewayService(br.BackendObjectReference, namespace)
		if !ok {
			// Traffic for a backend of an unsupported kind fails with 500, per the spec.
			k = svcKey{}
		}
		b := backend{svc: k, weight: ptrOr(br.Weight, 1)}
		if br.Port != nil {
			b.port = *br.Port
		}
		for _, f := range br.Filters {
			switch f.Type {
			case gatewayv1.HTTPRouteFilterRequestHeaderModifier:
				b.reqHeaders = gatewayHeaderOps(f.RequestHeaderModifier)
			case gatewayv1.HTTPRouteFilterResponseHeaderModifier:
				b.respHeaders = gatewayHeaderOps(f.ResponseHeaderModifier)
			}
		}
		r.backends = append(r.backends, b)
	}
	for _, f := range rl.Filters {
		switch f.Type {
		case gatewayv1.HTTPRouteFilterRequestHeaderModifier:
			r.reqHeaders = gatewayHeaderOps(f.RequestHeaderModifier)
		case gatewayv1.HTTPRouteFilterResponseHeaderModifier:
			r.respHeaders = gatewayHeaderOps(f.ResponseHeaderModifier)
		case gatewayv1.HTTPRouteFilterRequestMirror:
			if f.RequestMirror == nil {
				continue
			}
			k, ok := gatewayService(f.RequestMirror.BackendRef, namespace)
			if !ok {
				continue
			}
			m := mirror{svc: k, percent: 100}
			if p := f.RequestMirror.BackendRef.Port; p != nil {
				m.port = *p
			}
			switch fr := f.RequestMirror.Fraction; {
			case f.RequestMirror.Percent != nil:
				m.percent = float64(*f.RequestMirror.Percent)
			case fr != nil:
				den := ptrOr(fr.Denominator, 100)
				if den > 0 {
					m.percent = 100 * float64(fr.Numerator) / float64(den)
				}
			}
			r.mirrors = append(r.mirrors, m)
		case gatewayv1.HTTPRouteFilterURLRewrite:
			if f.URLRewrite == nil {
				continue
			}
			if f.URLRewrite.Hostname != nil {
				r.rewrite.host = string(*f.URLRewrite.Hostname)
			}
			if p := f.URLRewrite.Path; p != nil {
				switch p.Type {
				case gatewayv1.FullPathHTTPPathModifier:
					r.rewrite.fullPath = p.ReplaceFullPath
				case gatewayv1.PrefixMatchHTTPPathModifier:
					r.rewrite.prefix = p.ReplacePrefixMatch
				}
			}
		case gatewayv1.HTTPRouteFilterRequestRedirect:
			return nil, fmt.Errorf("RequestRedirect is not supported")
		}
	}
	if rl.Timeouts != nil && rl.Timeouts.Request != nil {
		d, err := time.ParseDuration(string(*rl.Timeouts.Request))
		if err != nil {
			return nil, fmt.Errorf("timeouts.request: %w", err)
		}
		r.timeout = d
	}
	return r, nil
}

func gatewayHeaderOps(f *gatewayv1.HTTPHeaderFilter) headerOps {
	var h headerOps
	if f == nil {
		return h
	}
	for _, kv := range f.Set {
		h.set = append(h.set, [2]string{string(kv.Name), kv.Value})
	}
	for _, kv := range f.Add {
		h.add = append(h.add, [2]string{string(kv.Name), kv.Value})
	}
	h.remove = append(h.remove, f.Remove...)
	return h
}

func compileGatewayMatch(m *gatewayv1.HTTPRouteMatch) (*requestMatch, ranked, error) {
	rm := &requestMatch{}
	var rk ranked
	pathType := gatewayv1.PathMatchPathPrefix
	pathValue := "/"
	if m.Path != nil {
		pathType = ptrOr(m.Path.Type, pathType)
		pathValue = ptrOr(m.Path.Value, pathValue)
	}
	switch pathType {
	case gatewayv1.PathMatchExact:
		rm.path = &strMatch{kind: matchExact, value: pathValue}
		rk.pathKind = 3
	case gatewayv1.PathMatchRegularExpression:
		sm, err := newRegex(matchRegex, pathValue)
		if err != nil {
			return nil, rk, fmt.Errorf("path: %w", err)
		}
		rm.path = &sm
		rk.pathKind = 2
	default:
		rm.path = &strMatch{kind: matchPathPrefix, value: pathValue}
		rk.pathKind = 1
	}
	rk.pathLen = len(pathValue)
	if m.Method != nil {
		rm.method = string(*m.Method)
		rk.method = true
	}
	for _, h := range m.Headers {
		sm, err := gatewayString(h.Type == nil || *h.Type == gatewayv1.HeaderMatchExact, h.Value)
		if err != nil {
			return nil, rk, fmt.Errorf("header %s: %w", h.Name, err)
		}
		rm.headers = append(rm.headers, kvMatch{name: strings.ToLower(string(h.Name)), m: sm})
	}
	for _, q := range m.QueryParams {
		sm, err := gatewayString(q.Type == nil || *q.Type == gatewayv1.QueryParamMatchExact, q.Value)
		if err != nil {
			return nil, rk, fmt.Errorf("query %s: %w", q.Name, err)
		}
		rm.query = append(rm.query, kvMatch{name: string(q.Name), m: sm})
	}
	rk.headers, rk.query = len(rm.headers), len(rm.query)
	return rm, rk, nil
}

func gatewayString(exact bool, value string) (strMatch, error) {
	if exact {
		return strMatch{kind: matchExact, value: value}, nil
	}
	return newRegex(matchRegex, value)
}
