package dataplane

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SkipperClass is the Ingress class the data plane serves as Skipper does with its default
// -kubernetes-ingress-class: an Ingress whose spec.ingressClassName (or older
// kubernetes.io/ingress.class annotation) is "skipper". Skipper needs no IngressClass object,
// and Ingresses without a class are left to ingress-nginx's default class (ingress.go).
const SkipperClass = "skipper"

// Skipper's Ingress annotations the data plane reads.
const (
	skipperWeightsAnnotation   = "zalando.org/backend-weights"
	skipperPredicateAnnotation = "zalando.org/skipper-predicate"
)

// skipperRouteIDSanitizer is what Skipper replaces with an underscore in the parts of a route
// ID: every character other than a letter, digit or underscore.
var skipperRouteIDSanitizer = regexp.MustCompile(`\W`)

// skipperRouteID is the ID Skipper's Kubernetes data client gives the route of an Ingress
// path's backend: kube_<namespace>__<ingress>__<host>__<path>__<service>.
func skipperRouteID(namespace, ingress, host, path, service string) string {
	parts := []string{namespace, ingress, host, path, service}
	for i, p := range parts {
		parts[i] = skipperRouteIDSanitizer.ReplaceAllString(p, "_")
	}
	return "kube_" + strings.Join(parts, "__")
}

// skipperMetricLabels are the labels of Skipper's serve route metric (-metrics-flavour=prometheus
// with -serve-route-metrics).
var skipperMetricLabels = []string{"code", "method", "route"}

// skipperMetrics is Skipper's skipper_serve_route_duration_seconds histogram, by route ID: its
// _count is what Skipper's request counts and success rates read (Skipper exposes no separate
// counter). Skipper's buckets are the Prometheus client's defaults.
type skipperMetrics struct{ duration *prometheus.HistogramVec }

func newSkipperMetrics(reg prometheus.Registerer) skipperMetrics {
	m := skipperMetrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "skipper_serve_route_duration_seconds",
		Help:    "Duration in seconds of serving a route, as Skipper measures it.",
		Buckets: prometheus.DefBuckets,
	}, skipperMetricLabels)}
	reg.MustRegister(m.duration)
	return m
}

// recordSkipper counts one request that Skipper served by the route of ID route, answered with
// code after d. A client that went away before the answer (code 0 or less) is Skipper's 499.
func (m *metrics) recordSkipper(route, method string, code int, d time.Duration) {
	if code <= 0 {
		code = 499
	}
	m.skipper.duration.With(prometheus.Labels{"code": strconv.Itoa(code), "method": method, "route": route}).Observe(d.Seconds())
}

// skipperPredicates is what the data plane models of an Ingress's zalando.org/skipper-predicate:
// the sum of its Weight(N) predicates, which ranks its routes above those of the same host and
// path with less weight, and whether it has False(), which disables them.
type skipperPredicates struct {
	weight   int
	disabled bool
}

// skipperPredicate is one predicate of an eskip predicate list: a name and its arguments.
var skipperPredicate = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*(.*?)\s*\)$`)

// parseSkipperPredicates reads the predicates of an Ingress: Weight(N), False() and True()
// are modelled; any other predicate (Header, Cookie, Method, ...) is an error, since the data
// plane cannot match it.
func parseSkipperPredicates(s string) (skipperPredicates, error) {
	var out skipperPredicates
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, p := range splitSkipperAnd(s) {
		p = strings.TrimSpace(p)
		m := skipperPredicate.FindStringSubmatch(p)
		if m == nil {
			return out, fmt.Errorf("%s: predicate %q is not of the form Name(args)", skipperPredicateAnnotation, p)
		}
		switch m[1] {
		case "Weight":
			n, err := strconv.Atoi(m[2])
			if err != nil {
				return out, fmt.Errorf("%s: Weight(%s): the argument must be an integer", skipperPredicateAnnotation, m[2])
			}
			out.weight += n
		case "False":
			out.disabled = true
		case "True":
		default:
			return out, fmt.Errorf("%s: predicate %s is not modelled (only Weight, True and False are)", skipperPredicateAnnotation, m[1])
		}
	}
	return out, nil
}

// splitSkipperAnd splits an eskip predicate list at each && outside a quoted string or a
// /regular expression/ (with backslash escapes inside them).
func splitSkipperAnd(s string) []string {
	var (
		out   []string
		quote byte
		start int
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '/':
			quote = c
		case c == '&' && i+1 < len(s) && s[i+1] == '&':
			out = append(out, s[start:i])
			start = i + 2
			i++
		}
	}
	return append(out, s[start:])
}

// servedBySkipper reports whether an Ingress is of Skipper's class.
func servedBySkipper(ing *knetworkingv1.Ingress) bool {
	class := ing.Annotations[ingressClassAnnotation]
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	return class == SkipperClass
}

// skipperLocation is the route group of one Ingress for one host and path: each backend Service
// of that path is a route of its own, and the backends share the requests by the Ingress's
// backend weights.
type skipperLocation struct {
	host    string
	exact   bool
	pathLen int
	weight  int
	entry   entry
}

// compileSkipperIngresses turns the Ingresses of Skipper's class into entries by host, as
// Skipper's Kubernetes data client routes them: the paths of one Ingress with the same host and
// path are one group of routes whose backends split the requests by zalando.org/backend-weights
// (a JSON object of weights by Service name; a backend the object leaves out gets 0, all of
// them equal shares when the Ingress has no weights or all are 0); an Ingress whose
// zalando.org/skipper-predicate has False() routes nothing, and the sum of its Weight(N)
// predicates ranks its routes above those of the same host and path with less. Exact paths come
// first, then longer paths, then heavier routes, then older Ingresses. Paths are Exact (the
// whole path), Prefix (whole path elements) or ImplementationSpecific (a plain prefix, as
// Skipper's default path mode reads a path without regular expression characters). Default
// backends, TLS, filters and predicates other than Weight, True and False are not modelled: an
// Ingress with another predicate is reported and skipped.
func (t *Table) compileSkipperIngresses(s Snapshot) (map[string][]entry, []string) {
	var ings []*knetworkingv1.Ingress
	for _, ing := range s.Ingresses {
		if servedBySkipper(ing) {
			ings = append(ings, ing)
		}
	}
	sortByAge(ings, func(i *knetworkingv1.Ingress) *metav1.ObjectMeta { return &i.ObjectMeta })
	var (
		errs []string
		locs []*skipperLocation
	)
	for _, ing := range ings {
		src := fmt.Sprintf("Ingress %s/%s (skipper)", ing.Namespace, ing.Name)
		preds, err := parseSkipperPredicates(ing.Annotations[skipperPredicateAnnotation])
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", src, err))
			continue
		}
		var weights map[string]float64
		if a := ing.Annotations[skipperWeightsAnnotation]; a != "" {
			if err := json.Unmarshal([]byte(a), &weights); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %s: %v", src, skipperWeightsAnnotation, err))
				continue
			}
		}
		if preds.disabled {
			continue
		}
		byKey := map[string]*skipperLocation{}
		for _, p := range ingressPaths(ing) {
			b, err := t.ingressBackend(p.path.Backend, ing.Namespace)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s path %q: %v", src, p.path.Path, err))
				continue
			}
			host := p.host
			if host == "*" {
				host = ""
			}
			b.skipper = skipperRouteID(ing.Namespace, ing.Name, host, p.path.Path, b.svc.Name)
			loc := byKey[p.key]
			if loc == nil {
				rm, exact := ingressMatch(p.path)
				loc = &skipperLocation{host: p.host, exact: exact, pathLen: len(p.path.Path), weight: preds.weight, entry: entry{match: rm, rule: &rule{
					source:     src,
					failStatus: http.StatusServiceUnavailable,
				}}}
				byKey[p.key] = loc
				locs = append(locs, loc)
			}
			loc.entry.rule.backends = append(loc.entry.rule.backends, b)
		}
		for _, loc := range byKey {
			skipperWeigh(loc.entry.rule.backends, weights)
		}
	}
	slices.SortStableFunc(locs, func(a, b *skipperLocation) int {
		return cmp.Or(boolCompare(b.exact, a.exact), cmp.Compare(b.pathLen, a.pathLen), cmp.Compare(b.weight, a.weight))
	})
	out := map[string][]entry{}
	for _, l := range locs {
		out[l.host] = append(out[l.host], l.entry)
	}
	return out, errs
}

// skipperWeightScale turns a backend's share of the requests into a backend weight.
const skipperWeightScale = 1_000_000

// skipperWeigh gives the backends of one route group their shares by weights (by Service
// name): a Service left out gets 0; without weights for any of them, or when they add up to 0,
// each gets the same share.
func skipperWeigh(bs []backend, weights map[string]float64) {
	var total float64
	for _, b := range bs {
		total += max(weights[b.svc.Name], 0)
	}
	for i := range bs {
		bs[i].weight = 1
		if total > 0 {
			bs[i].weight = int32(max(weights[bs[i].svc.Name], 0) / total * skipperWeightScale)
		}
	}
}
