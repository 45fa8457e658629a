package dataplane

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxIncludeDepth bounds a chain of HTTPProxy includes; a longer one is reported as a cycle.
const maxIncludeDepth = 16

// proxyRoute is one route of an HTTPProxy tree with the conditions of the includes above it,
// ready to be ranked as Contour orders the routes of a virtual host.
type proxyRoute struct {
	entry entry
	// rank: exact paths first, then regular expressions, then prefixes, longest first; among
	// equal paths, more header and query conditions first.
	kind       int
	pathLen    int
	conditions int
	order      int
}

// compileHTTPProxies turns the root HTTPProxies (those with a virtualhost) into entries by
// host, as Contour serves them: each root's routes, and the routes of the HTTPProxies it
// includes (recursively, in the namespace the include names or the including proxy's), under
// the include's conditions. For a host the oldest root wins. Routes are ordered as Contour
// sorts them; a route's services are weighted (all weights 0 share evenly), a service with
// mirror: true gets a copy of a share of the requests (its weight, or all of them), and every
// request an HTTPProxy routes is counted in Envoy's cluster statistics under the cluster name
// Contour gives a service, <namespace>_<service>_<port>.
func compileHTTPProxies(proxies []*contourv1.HTTPProxy) (map[string][]entry, []string) {
	byKey := map[svcKey]*contourv1.HTTPProxy{}
	var roots []*contourv1.HTTPProxy
	for _, p := range proxies {
		byKey[svcKey{Namespace: p.Namespace, Name: p.Name}] = p
		if p.Spec.VirtualHost != nil && p.Spec.VirtualHost.Fqdn != "" {
			roots = append(roots, p)
		}
	}
	sortByAge(roots, func(p *contourv1.HTTPProxy) *metav1.ObjectMeta { return &p.ObjectMeta })
	out := map[string][]entry{}
	var errs []string
	for _, root := range roots {
		host := strings.ToLower(strings.TrimSuffix(root.Spec.VirtualHost.Fqdn, "."))
		src := fmt.Sprintf("HTTPProxy %s/%s", root.Namespace, root.Name)
		if _, taken := out[host]; taken {
			errs = append(errs, fmt.Sprintf("%s: fqdn %q is already served by an older root HTTPProxy", src, host))
			continue
		}
		var routes []proxyRoute
		c := &proxyCompiler{byKey: byKey, routes: &routes}
		if err := c.walk(root, nil, nil); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", src, err))
			continue
		}
		slices.SortStableFunc(routes, func(a, b proxyRoute) int {
			return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(b.pathLen, a.pathLen),
				cmp.Compare(b.conditions, a.conditions), cmp.Compare(a.order, b.order))
		})
		es := make([]entry, len(routes))
		for i, r := range routes {
			es[i] = r.entry
		}
		out[host] = es
	}
	return out, errs
}

// proxyCompiler walks the include tree of one root HTTPProxy.
type proxyCompiler struct {
	byKey  map[svcKey]*contourv1.HTTPProxy
	routes *[]proxyRoute
}

// walk adds the routes of p under the conditions of the includes above it (visited, a chain of
// proxies, catches cycles).
func (c *proxyCompiler) walk(p *contourv1.HTTPProxy, inherited []contourv1.MatchCondition, visited []svcKey) error {
	key := svcKey{Namespace: p.Namespace, Name: p.Name}
	if slices.Contains(visited, key) || len(visited) >= maxIncludeDepth {
		return fmt.Errorf("include cycle through HTTPProxy %s/%s", p.Namespace, p.Name)
	}
	visited = append(visited, key)
	for i, r := range p.Spec.Routes {
		src := fmt.Sprintf("HTTPProxy %s/%s routes[%d]", p.Namespace, p.Name, i)
		conds := append(slices.Clone(inherited), r.Conditions...)
		pr, err := compileProxyRoute(src, p.Namespace, conds, r)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		pr.order = len(*c.routes)
		*c.routes = append(*c.routes, pr)
	}
	for _, inc := range p.Spec.Includes {
		k := svcKey{Namespace: cmp.Or(inc.Namespace, p.Namespace), Name: inc.Name}
		child := c.byKey[k]
		if child == nil {
			return fmt.Errorf("include of HTTPProxy %s/%s, which does not exist", k.Namespace, k.Name)
		}
		if err := c.walk(child, append(slices.Clone(inherited), inc.Conditions...), visited); err != nil {
			return err
		}
	}
	return nil
}

// compileProxyRoute compiles one route under conds: the prefixes of the includes and the
// route concatenate, as Contour joins them; header and query conditions all hold.
func compileProxyRoute(src, namespace string, conds []contourv1.MatchCondition, r contourv1.Route) (proxyRoute, error) {
	m := &requestMatch{}
	prefix, exact, regex := "", "", ""
	headers := 0
	for _, cnd := range conds {
		switch {
		case cnd.Prefix != "":
			prefix = strings.TrimSuffix(prefix, "/") + cnd.Prefix
		case cnd.Exact != "":
			exact = strings.TrimSuffix(prefix, "/") + cnd.Exact
		case cnd.Regex != "":
			regex = regexp.QuoteMeta(strings.TrimSuffix(prefix, "/")) + cnd.Regex
		case cnd.Header != nil:
			h, err := proxyHeader(cnd.Header)
			if err != nil {
				return proxyRoute{}, err
			}
			m.headers = append(m.headers, h)
			headers++
		case cnd.QueryParameter != nil:
			q, err := proxyQuery(cnd.QueryParameter)
			if err != nil {
				return proxyRoute{}, err
			}
			m.query = append(m.query, q)
			headers++
		}
	}
	pr := proxyRoute{kind: 2, conditions: headers}
	switch {
	case exact != "":
		pr.kind, pr.pathLen = 0, len(exact)
		m.path = &strMatch{kind: matchExact, value: exact}
	case regex != "":
		sm, err := newRegex(matchRegex, regex)
		if err != nil {
			return proxyRoute{}, fmt.Errorf("path regex %q: %w", regex, err)
		}
		pr.kind, pr.pathLen = 1, len(regex)
		m.path = &sm
	default:
		prefix = cmp.Or(prefix, "/")
		pr.pathLen = len(prefix)
		m.path = &strMatch{kind: matchPrefix, value: prefix}
	}
	rl := &rule{source: src, failStatus: http.StatusServiceUnavailable}
	var total int64
	for _, s := range r.Services {
		if !s.Mirror {
			total += s.Weight
		}
	}
	for _, s := range r.Services {
		k := svcKey{Namespace: namespace, Name: s.Name}
		cluster := envoyCluster(k, s.Port)
		if s.Mirror {
			percent := float64(100)
			if s.Weight > 0 && s.Weight < 100 {
				percent = float64(s.Weight)
			}
			rl.mirrors = append(rl.mirrors, mirror{svc: k, port: int32(s.Port), percent: percent, envoy: cluster})
			continue
		}
		w := int32(s.Weight)
		if total == 0 {
			w = 1 // no weights at all: Contour shares evenly
		}
		rl.backends = append(rl.backends, backend{svc: k, port: int32(s.Port), weight: w, envoy: cluster})
	}
	if len(rl.backends) == 0 {
		return proxyRoute{}, fmt.Errorf("a route needs a service that is not a mirror")
	}
	if r.TimeoutPolicy != nil && r.TimeoutPolicy.Response != "" && r.TimeoutPolicy.Response != "infinity" {
		d, err := time.ParseDuration(r.TimeoutPolicy.Response)
		if err != nil {
			return proxyRoute{}, fmt.Errorf("timeoutPolicy.response: %w", err)
		}
		rl.timeout = d
	}
	rl.reqHeaders = proxyHeaderOps(r.RequestHeadersPolicy)
	rl.respHeaders = proxyHeaderOps(r.ResponseHeadersPolicy)
	pr.entry = entry{match: m, rule: rl}
	return pr, nil
}

// proxyHeader compiles a header condition. A negative condition (notexact, notcontains,
// notpresent) holds for a request without the header too.
func proxyHeader(h *contourv1.HeaderMatchCondition) (kvMatch, error) {
	kv := kvMatch{name: h.Name}
	var err error
	switch {
	case h.Present:
		kv.m = strMatch{kind: matchPresent}
	case h.NotPresent:
		kv.m, kv.invert = strMatch{kind: matchPresent}, true
	case h.Exact != "":
		kv.m = strMatch{kind: matchExact, value: h.Exact}
	case h.NotExact != "":
		kv.m, kv.invert = strMatch{kind: matchExact, value: h.NotExact}, true
	case h.Contains != "":
		kv.m, err = newRegex(matchRegex, ".*"+regexp.QuoteMeta(h.Contains)+".*")
	case h.NotContains != "":
		kv.m, err = newRegex(matchRegex, ".*"+regexp.QuoteMeta(h.NotContains)+".*")
		kv.invert = true
	case h.Regex != "":
		kv.m, err = newRegex(matchRegex, h.Regex)
	default:
		return kv, fmt.Errorf("header condition %s has no test", h.Name)
	}
	if err != nil {
		return kv, fmt.Errorf("header condition %s: %w", h.Name, err)
	}
	if h.IgnoreCase && kv.m.kind == matchExact {
		kv.m.ignoreCase, kv.m.value = true, strings.ToLower(kv.m.value)
	}
	return kv, nil
}

// proxyQuery compiles a query parameter condition.
func proxyQuery(q *contourv1.QueryParameterMatchCondition) (kvMatch, error) {
	kv := kvMatch{name: q.Name}
	var err error
	switch {
	case q.Exact != "":
		kv.m = strMatch{kind: matchExact, value: q.Exact}
	case q.Prefix != "":
		kv.m = strMatch{kind: matchPrefix, value: q.Prefix}
	case q.Suffix != "":
		kv.m, err = newRegex(matchRegex, ".*"+regexp.QuoteMeta(q.Suffix))
	case q.Contains != "":
		kv.m, err = newRegex(matchRegex, ".*"+regexp.QuoteMeta(q.Contains)+".*")
	case q.Regex != "":
		kv.m, err = newRegex(matchRegex, q.Regex)
	case q.Present:
		kv.m = strMatch{kind: matchPresent}
	default:
		return kv, fmt.Errorf("query parameter condition %s has no test", q.Name)
	}
	if err != nil {
		return kv, fmt.Errorf("query parameter condition %s: %w", q.Name, err)
	}
	return kv, nil
}

// proxyHeaderOps converts a headers policy: set replaces a header, remove deletes it.
func proxyHeaderOps(p *contourv1.HeadersPolicy) headerOps {
	var ops headerOps
	if p == nil {
		return ops
	}
	for _, h := range p.Set {
		ops.set = append(ops.set, [2]string{h.Name, h.Value})
	}
	ops.remove = slices.Clone(p.Remove)
	return ops
}

// envoyCluster is the name Contour gives the Envoy cluster of a service port, as its
// statistics label it.
func envoyCluster(svc svcKey, port int) string {
	return svc.Namespace + "_" + svc.Name + "_" + strconv.Itoa(port)
}
