package dataplane

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// compileVirtualService turns the http routes of a VirtualService into entries, in order:
// the first route with a matching match block wins, as in Istio. Gateways, subsets, retries,
// fault injection, redirects and direct responses are not modelled.
func compileVirtualService(vs *networkingv1.VirtualService) ([]entry, []string) {
	var out []entry
	var errs []string
	for i, hr := range vs.Spec.Http {
		if hr == nil {
			continue
		}
		source := fmt.Sprintf("VirtualService %s/%s http[%d]", vs.Namespace, vs.Name, i)
		if hr.Name != "" {
			source += " " + hr.Name
		}
		r, err := compileIstioRoute(hr, vs.Namespace, source)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", source, err))
			continue
		}
		if len(hr.Match) == 0 {
			out = append(out, entry{rule: r})
			continue
		}
		for j, m := range hr.Match {
			rm, err := compileIstioMatch(m)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s match[%d]: %v", source, j, err))
				continue
			}
			out = append(out, entry{match: rm, rule: r})
		}
	}
	return out, errs
}

func compileIstioRoute(hr *networkingv1alpha3.HTTPRoute, namespace, source string) (*rule, error) {
	r := &rule{source: source, failStatus: http.StatusServiceUnavailable}
	for _, d := range hr.Route {
		if d == nil || d.Destination == nil {
			continue
		}
		b := backend{svc: istioService(d.Destination.Host, namespace), weight: d.Weight}
		if d.Destination.Port != nil {
			b.port = int32(d.Destination.Port.Number)
		}
		if d.Headers != nil {
			b.reqHeaders = istioHeaderOps(d.Headers.Request)
			b.respHeaders = istioHeaderOps(d.Headers.Response)
		}
		r.backends = append(r.backends, b)
	}
	// A lone destination takes all traffic whatever its weight says.
	if len(r.backends) == 1 && r.backends[0].weight == 0 {
		r.backends[0].weight = 100
	}
	if len(r.backends) == 0 {
		return nil, fmt.Errorf("no route destination (redirect, direct response and delegate are not supported)")
	}
	if hr.Mirror != nil {
		pct := 100.0
		switch {
		case hr.MirrorPercentage != nil:
			pct = hr.MirrorPercentage.Value
		case hr.MirrorPercent != nil: //nolint:staticcheck // deprecated, but Istio still honours it
			pct = float64(hr.MirrorPercent.Value) //nolint:staticcheck // as above
		}
		r.mirrors = append(r.mirrors, istioMirror(hr.Mirror, namespace, pct))
	}
	for _, m := range hr.Mirrors {
		if m == nil || m.Destination == nil {
			continue
		}
		pct := 100.0
		if m.Percentage != nil {
			pct = m.Percentage.Value
		}
		r.mirrors = append(r.mirrors, istioMirror(m.Destination, namespace, pct))
	}
	if hr.Headers != nil {
		r.reqHeaders = istioHeaderOps(hr.Headers.Request)
		r.respHeaders = istioHeaderOps(hr.Headers.Response)
	}
	if hr.Rewrite != nil {
		if hr.Rewrite.Uri != "" {
			u := hr.Rewrite.Uri
			r.rewrite.prefix = &u
		}
		r.rewrite.host = hr.Rewrite.Authority
	}
	if hr.Timeout != nil {
		r.timeout = hr.Timeout.AsDuration()
	}
	return r, nil
}

func istioMirror(d *networkingv1alpha3.Destination, namespace string, pct float64) mirror {
	m := mirror{svc: istioService(d.Host, namespace), percent: pct}
	if d.Port != nil {
		m.port = int32(d.Port.Number)
	}
	return m
}

// istioService resolves a destination host: a short name is a Service in the
// VirtualService's namespace; <svc>.<ns>[.svc[.cluster.local]] names one anywhere.
func istioService(host, namespace string) svcKey {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	host = strings.TrimSuffix(host, "."+clusterDomain)
	host = strings.TrimSuffix(host, ".svc")
	name, ns, ok := strings.Cut(host, ".")
	if !ok {
		return svcKey{Namespace: namespace, Name: host}
	}
	return svcKey{Namespace: ns, Name: name}
}

func istioHeaderOps(o *networkingv1alpha3.Headers_HeaderOperations) headerOps {
	var h headerOps
	if o == nil {
		return h
	}
	for _, k := range sortedKeys(o.Set) {
		h.set = append(h.set, [2]string{k, o.Set[k]})
	}
	for _, k := range sortedKeys(o.Add) {
		h.add = append(h.add, [2]string{k, o.Add[k]})
	}
	h.remove = append(h.remove, o.Remove...)
	return h
}

func compileIstioMatch(m *networkingv1alpha3.HTTPMatchRequest) (*requestMatch, error) {
	rm := &requestMatch{port: int(m.Port)}
	var err error
	if m.Uri != nil {
		if rm.path, err = istioString(m.Uri); err != nil {
			return nil, fmt.Errorf("uri: %w", err)
		}
		if m.IgnoreUriCase {
			rm.path.ignoreCase = true
			rm.path.value = strings.ToLower(rm.path.value)
			if rm.path.re != nil {
				if rm.path.re, err = regexp.Compile("(?i)" + rm.path.re.String()); err != nil {
					return nil, err
				}
			}
		}
	}
	if m.Method != nil {
		sm, err := istioString(m.Method)
		if err != nil {
			return nil, fmt.Errorf("method: %w", err)
		}
		rm.method = sm.value
	}
	if m.Authority != nil {
		if rm.authority, err = istioString(m.Authority); err != nil {
			return nil, fmt.Errorf("authority: %w", err)
		}
	}
	add := func(into *[]kvMatch, what string, ms map[string]*networkingv1alpha3.StringMatch, invert bool) error {
		for _, k := range sortedKeys(ms) {
			sm, err := istioString(ms[k])
			if err != nil {
				return fmt.Errorf("%s %s: %w", what, k, err)
			}
			*into = append(*into, kvMatch{name: k, m: *sm, invert: invert})
		}
		return nil
	}
	if err := add(&rm.headers, "header", m.Headers, false); err != nil {
		return nil, err
	}
	if err := add(&rm.headers, "withoutHeaders", m.WithoutHeaders, true); err != nil {
		return nil, err
	}
	if err := add(&rm.query, "queryParams", m.QueryParams, false); err != nil {
		return nil, err
	}
	return rm, nil
}

// istioString compiles an Istio StringMatch; an empty one matches anything present.
func istioString(sm *networkingv1alpha3.StringMatch) (*strMatch, error) {
	if sm == nil {
		return &strMatch{kind: matchPresent}, nil
	}
	switch v := sm.MatchType.(type) {
	case *networkingv1alpha3.StringMatch_Exact:
		return &strMatch{kind: matchExact, value: v.Exact}, nil
	case *networkingv1alpha3.StringMatch_Prefix:
		return &strMatch{kind: matchPrefix, value: v.Prefix}, nil
	case *networkingv1alpha3.StringMatch_Regex:
		m, err := newRegex(matchRegex, v.Regex)
		return &m, err
	}
	return &strMatch{kind: matchPresent}, nil
}
