package dataplane

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// traefikBuckets are Traefik's default Prometheus buckets for request durations, in seconds.
var traefikBuckets = []float64{0.1, 0.3, 1.2, 5}

// traefikMetricLabels are the labels of Traefik's service metrics.
var traefikMetricLabels = []string{"service", "code", "method", "protocol"}

// traefikMetrics are Traefik's service metrics as its Prometheus endpoint exposes them
// (traefik_service_requests_total and traefik_service_request_duration_seconds), for the
// requests that Traefik sent to the servers of a load-balancer service. Traefik records them
// on such leaf services only, named as its Kubernetes CRD provider names them (for example
// <namespace>-<service>-<port>@kubernetescrd), never on a weighted or mirroring TraefikService
// itself. They are defined here once; every router that stands in for Traefik records through
// metrics.recordTraefik.
type traefikMetrics struct{ requestMetrics }

func newTraefikMetrics(reg prometheus.Registerer) traefikMetrics {
	return traefikMetrics{newRequestMetrics(reg, traefikMetricLabels,
		prometheus.CounterOpts{Name: "traefik_service_requests_total", Help: "Requests processed by a service, as Traefik counts them."},
		prometheus.HistogramOpts{
			Name:    "traefik_service_request_duration_seconds",
			Help:    "Request processing duration on a service in seconds, as Traefik measures it.",
			Buckets: traefikBuckets,
		})}
}

// recordTraefik counts one request that Traefik sent to service (its qualified name, such as
// test-podinfo-canary-9898@kubernetescrd) and that was answered with code after d. A client
// that went away before the answer (code 0 or less) is Traefik's 499.
func (m *metrics) recordTraefik(service, method string, code int, d time.Duration) {
	if code <= 0 {
		code = 499
	}
	m.traefik.observe(prometheus.Labels{"service": service, "code": strconv.Itoa(code), "method": method, "protocol": "http"}, d.Seconds())
}

// Traefik's kinds the data plane routes by, read as unstructured (Traefik's Go types cannot be
// imported by another module): IngressRoutes and the TraefikServices they name.
var (
	IngressRouteGVK   = schema.GroupVersionKind{Group: "traefik.io", Version: "v1alpha1", Kind: "IngressRoute"}
	TraefikServiceGVK = schema.GroupVersionKind{Group: "traefik.io", Version: "v1alpha1", Kind: "TraefikService"}
)

// traefikProvider is the suffix Traefik's Kubernetes CRD provider gives the names of its
// services.
const traefikProvider = "@kubernetescrd"

// maxTraefikDepth bounds the nesting of TraefikServices, so that a cycle is an error.
const maxTraefikDepth = 10

// traefikLeaf is a Kubernetes Service a request can end at, with its share of the requests of
// the route and the name Traefik gives it in its metrics.
type traefikLeaf struct {
	svc   svcKey
	port  int32
	share float64
	label string
}

// traefikRoute is what one service reference of an IngressRoute resolves to: weighted leaves
// and, for a mirroring TraefikService, the mirrors.
type traefikRoute struct {
	leaves  []traefikLeaf
	mirrors []mirror
}

// compileIngressRoutes turns IngressRoutes into entries by host, as Traefik's Kubernetes CRD
// provider routes them: each route's match is a rule of Host(`...`) (one or more hosts) and
// PathPrefix(`...`) conditions joined by &&; the other matchers, ||, entryPoints, middlewares
// and TLS are not modelled, and a route whose rule uses them is reported and skipped. A route
// without Host serves every host. Routes are tried by priority, Traefik's default being the
// length of the rule. Services are Kubernetes Services (by port number or name) or
// TraefikServices: weighted (recursively) or mirroring (at the top of the route only); several
// services of one route are weighted as Traefik does.
func (t *Table) compileIngressRoutes(s Snapshot) (map[string][]entry, []string) {
	tss := map[svcKey]*unstructured.Unstructured{}
	for _, ts := range s.TraefikServices {
		tss[svcKey{Namespace: ts.GetNamespace(), Name: ts.GetName()}] = ts
	}
	type prioritized struct {
		entry    entry
		priority int64
	}
	byHost := map[string][]prioritized{}
	var errs []string
	irs := append([]*unstructured.Unstructured(nil), s.IngressRoutes...)
	sortByAge(irs, func(u *unstructured.Unstructured) *metav1.ObjectMeta {
		return &metav1.ObjectMeta{Namespace: u.GetNamespace(), Name: u.GetName(), CreationTimestamp: u.GetCreationTimestamp()}
	})
	for _, ir := range irs {
		routes, _, _ := unstructured.NestedSlice(ir.Object, "spec", "routes")
		for i, r := range routes {
			src := fmt.Sprintf("IngressRoute %s/%s route %d", ir.GetNamespace(), ir.GetName(), i)
			route, _ := r.(map[string]any)
			match, _ := route["match"].(string)
			hosts, prefix, err := parseTraefikRule(match)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", src, err))
				continue
			}
			services, _, _ := unstructured.NestedSlice(route, "services")
			tr, err := t.traefikRouteServices(ir.GetNamespace(), traefikRouterName(ir.GetNamespace(), ir.GetName(), match), services, tss)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", src, err))
				continue
			}
			e := entry{rule: &rule{source: src, mirrors: tr.mirrors, failStatus: http.StatusServiceUnavailable}}
			for _, l := range tr.leaves {
				e.rule.backends = append(e.rule.backends, backend{svc: l.svc, port: l.port, weight: int32(math.Round(l.share * traefikShareScale)), traefik: l.label})
			}
			if prefix != "" {
				e.match = &requestMatch{path: &strMatch{kind: matchPrefix, value: prefix}}
			}
			priority := int64(len(match))
			if p, found, _ := unstructured.NestedInt64(route, "priority"); found && p != 0 {
				priority = p
			}
			for _, h := range hosts {
				byHost[h] = append(byHost[h], prioritized{entry: e, priority: priority})
			}
		}
	}
	out := map[string][]entry{}
	for host, ps := range byHost {
		slices.SortStableFunc(ps, func(a, b prioritized) int { return cmp.Compare(b.priority, a.priority) })
		for _, p := range ps {
			out[host] = append(out[host], p.entry)
		}
	}
	return out, errs
}

// traefikShareScale turns a leaf's share of the requests into a backend weight.
const traefikShareScale = 1_000_000

// traefikRule matches one matcher of a rule: Host or PathPrefix with backquoted or quoted
// arguments.
var traefikRule = regexp.MustCompile("^(Host|PathPrefix)\\(\\s*((?:[`\"][^`\"]*[`\"]\\s*,?\\s*)+)\\)$")

// traefikArg is one argument of a matcher.
var traefikArg = regexp.MustCompile("[`\"]([^`\"]*)[`\"]")

// parseTraefikRule reads the hosts ("*" for none) and the path prefix of a rule of Host and
// PathPrefix matchers joined by &&.
func parseTraefikRule(rule string) (hosts []string, prefix string, err error) {
	if strings.Contains(rule, "||") || strings.Contains(rule, "!") {
		return nil, "", fmt.Errorf("rule %q: only Host and PathPrefix joined by && are modelled", rule)
	}
	for part := range strings.SplitSeq(rule, "&&") {
		m := traefikRule.FindStringSubmatch(strings.TrimSpace(part))
		if m == nil {
			return nil, "", fmt.Errorf("rule %q: only Host and PathPrefix joined by && are modelled", rule)
		}
		var args []string
		for _, a := range traefikArg.FindAllStringSubmatch(m[2], -1) {
			args = append(args, a[1])
		}
		switch m[1] {
		case "Host":
			if hosts != nil {
				return nil, "", fmt.Errorf("rule %q has Host twice", rule)
			}
			for _, h := range args {
				hosts = append(hosts, strings.ToLower(strings.TrimSuffix(h, ".")))
			}
		case "PathPrefix":
			if prefix != "" || len(args) != 1 {
				return nil, "", fmt.Errorf("rule %q: one PathPrefix of one path is modelled", rule)
			}
			prefix = args[0]
		}
	}
	if hosts == nil {
		hosts = []string{"*"}
	}
	return hosts, prefix, nil
}

// traefikRouterName is the name Traefik's Kubernetes CRD provider (without safeNaming) gives
// the router of an IngressRoute's route, and the service of a route with one Kubernetes Service:
// <namespace>-<ingressroute>-<the first 10 bytes of the rule's SHA-256, in hex>.
func traefikRouterName(namespace, name, rule string) string {
	sum := sha256.Sum256([]byte(rule))
	return fmt.Sprintf("%s-%s-%x", namespace, name, sum[:10])
}

// traefikRouteServices resolves the services of one route. One Kubernetes Service is named
// after the router; several services are weighted, each Kubernetes Service among them named
// <namespace>-<service>-<port>.
func (t *Table) traefikRouteServices(namespace, routerName string, services []any, tss map[svcKey]*unstructured.Unstructured) (traefikRoute, error) {
	switch len(services) {
	case 0:
		return traefikRoute{}, errors.New("the route has no services")
	case 1:
		ref, _ := services[0].(map[string]any)
		tr, err := t.traefikRef(namespace, ref, tss, 0)
		if kind, _ := ref["kind"].(string); err == nil && kind != "TraefikService" {
			for i := range tr.leaves {
				tr.leaves[i].label = routerName + traefikProvider
			}
		}
		return tr, err
	}
	leaves, err := t.traefikWeighted(namespace, services, tss, 0)
	return traefikRoute{leaves: leaves}, err
}

// traefikRef resolves one service reference: a Kubernetes Service, or a TraefikService.
func (t *Table) traefikRef(namespace string, ref map[string]any, tss map[svcKey]*unstructured.Unstructured, depth int) (traefikRoute, error) {
	name, _ := ref["name"].(string)
	ns := cmp.Or(stringOf(ref, "namespace"), namespace)
	switch kind, _ := ref["kind"].(string); kind {
	case "", "Service":
		l, err := t.traefikLeaf(ns, name, ref["port"])
		return traefikRoute{leaves: []traefikLeaf{l}}, err
	case "TraefikService":
	default:
		return traefikRoute{}, fmt.Errorf("service %s/%s has kind %q, not Service or TraefikService", ns, name, kind)
	}
	if depth >= maxTraefikDepth {
		return traefikRoute{}, fmt.Errorf("TraefikService %s/%s is nested more than %d deep (a cycle?)", ns, name, maxTraefikDepth)
	}
	ts := tss[svcKey{Namespace: ns, Name: name}]
	if ts == nil {
		return traefikRoute{}, fmt.Errorf("TraefikService %s/%s not found", ns, name)
	}
	if services, found, _ := unstructured.NestedSlice(ts.Object, "spec", "weighted", "services"); found {
		leaves, err := t.traefikWeighted(ns, services, tss, depth+1)
		return traefikRoute{leaves: leaves}, err
	}
	m, found, _ := unstructured.NestedMap(ts.Object, "spec", "mirroring")
	if !found {
		return traefikRoute{}, fmt.Errorf("TraefikService %s/%s is neither weighted nor mirroring (the kinds modelled)", ns, name)
	}
	if depth > 0 {
		return traefikRoute{}, fmt.Errorf("TraefikService %s/%s: a mirroring TraefikService is modelled only as the service of a route", ns, name)
	}
	main, err := t.traefikRef(ns, m, tss, depth+1)
	if err != nil || len(main.mirrors) > 0 {
		return traefikRoute{}, cmp.Or(err, fmt.Errorf("TraefikService %s/%s mirrors a mirroring service", ns, name))
	}
	mirrors, _, _ := unstructured.NestedSlice(m, "mirrors")
	for _, mr := range mirrors {
		ref, _ := mr.(map[string]any)
		if kind := stringOf(ref, "kind"); kind != "" && kind != "Service" {
			return traefikRoute{}, fmt.Errorf("TraefikService %s/%s: only Kubernetes Services are modelled as mirrors", ns, name)
		}
		l, err := t.traefikLeaf(cmp.Or(stringOf(ref, "namespace"), ns), stringOf(ref, "name"), ref["port"])
		if err != nil {
			return traefikRoute{}, err
		}
		percent, _, _ := unstructured.NestedInt64(ref, "percent")
		main.mirrors = append(main.mirrors, mirror{svc: l.svc, port: l.port, percent: float64(percent), traefik: l.label})
	}
	return main, nil
}

// traefikWeighted resolves weighted services: each gets its weight's share of the requests
// (Traefik's default weight is 1), split among its own leaves. Every weight 0 routes nothing.
func (t *Table) traefikWeighted(namespace string, services []any, tss map[svcKey]*unstructured.Unstructured, depth int) ([]traefikLeaf, error) {
	var total int64
	weights := make([]int64, len(services))
	for i, s := range services {
		weights[i] = 1
		if w, found, _ := unstructured.NestedInt64(s.(map[string]any), "weight"); found {
			weights[i] = max(w, 0)
		}
		total += weights[i]
	}
	var out []traefikLeaf
	for i, s := range services {
		tr, err := t.traefikRef(namespace, s.(map[string]any), tss, depth)
		if err != nil {
			return nil, err
		}
		if len(tr.mirrors) > 0 {
			return nil, errors.New("a mirroring TraefikService is modelled only as the service of a route")
		}
		for _, l := range tr.leaves {
			if total > 0 {
				l.share *= float64(weights[i]) / float64(total)
			} else {
				l.share = 0
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// traefikLeaf is a Kubernetes Service on a port given by number or name, named as Traefik
// names a weighted or mirrored Kubernetes Service: <namespace>-<service>-<port as written>.
func (t *Table) traefikLeaf(ns, name string, port any) (traefikLeaf, error) {
	l := traefikLeaf{svc: svcKey{Namespace: ns, Name: name}, share: 1}
	written := ""
	switch p := port.(type) {
	case int64:
		l.port, written = int32(p), strconv.FormatInt(p, 10)
	case float64:
		l.port, written = int32(p), strconv.FormatInt(int64(p), 10)
	case string:
		written = p
		if n, err := strconv.Atoi(p); err == nil {
			l.port = int32(n)
			break
		}
		if svc := t.services[l.svc]; svc != nil {
			for _, sp := range svc.ports {
				if sp.name == p {
					l.port = sp.port
				}
			}
		}
	}
	if name == "" || written == "" {
		return l, fmt.Errorf("service %q needs a name and a port", ns+"/"+name)
	}
	l.label = fmt.Sprintf("%s-%s-%s%s", ns, name, written, traefikProvider)
	return l, nil
}

func stringOf(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// traefikObject is an empty object of one of Traefik's kinds, for the watches.
func traefikObject(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// listTraefik lists the objects of one of Traefik's kinds from the cache.
func listTraefik(ctx context.Context, c client.Reader, gvk schema.GroupVersionKind) ([]*unstructured.Unstructured, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := c.List(ctx, l); err != nil {
		return nil, fmt.Errorf("list %s: %w", gvk.Kind, err)
	}
	return pointers(l.Items), nil
}
