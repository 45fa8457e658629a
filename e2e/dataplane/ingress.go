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

	"github.com/prometheus/client_golang/prometheus"
	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IngressController is the IngressClass spec.controller the data plane implements: it serves
// the Ingresses of such a class as ingress-nginx does.
const IngressController = "k8s.io/ingress-nginx"

// Annotations of Ingresses that the data plane reads, as ingress-nginx documents them.
const (
	ingressClassAnnotation   = "kubernetes.io/ingress.class"
	defaultClassAnnotation   = "ingressclass.kubernetes.io/is-default-class"
	nginxAnnotation          = "nginx.ingress.kubernetes.io/"
	canaryAnnotation         = nginxAnnotation + "canary"
	canaryWeightAnnotation   = nginxAnnotation + "canary-weight"
	canaryTotalAnnotation    = nginxAnnotation + "canary-weight-total"
	canaryHeaderAnnotation   = nginxAnnotation + "canary-by-header"
	canaryValueAnnotation    = nginxAnnotation + "canary-by-header-value"
	canaryPatternAnnotation  = nginxAnnotation + "canary-by-header-pattern"
	canaryCookieAnnotation   = nginxAnnotation + "canary-by-cookie"
	defaultCanaryWeightTotal = 100
)

// ingressRoute is what a location compiled from an Ingress path knows beyond its rule: the
// Ingress that serves it, for the metrics, and the canary Ingress of the same host and path.
type ingressRoute struct {
	namespace, name, path string
	canary                *canaryPolicy
}

// canaryPolicy is a canary Ingress merged into the location of its main Ingress, as
// ingress-nginx merges it into an alternative backend.
type canaryPolicy struct {
	name          string // the canary Ingress
	source        string
	backend       backend
	header        string
	headerValue   string
	headerPattern *regexp.Regexp
	cookie        string
	weight        int
	weightTotal   int
}

// routes reports whether a request goes to the canary, by ingress-nginx's order: the header
// (with canary-by-header-value or -pattern: that value or a match; without: "always", and
// "never" excludes the request), then the cookie ("always" or "never"), then the weight. A
// header or cookie with another value decides nothing.
func (p *canaryPolicy) routes(r *http.Request, random func() float64) bool {
	if p.header != "" {
		if v := r.Header.Get(p.header); v != "" {
			switch {
			case p.headerValue != "":
				if v == p.headerValue {
					return true
				}
			case p.headerPattern != nil:
				if p.headerPattern.MatchString(v) {
					return true
				}
			case v == "always":
				return true
			case v == "never":
				return false
			}
		}
	}
	if p.cookie != "" {
		if c, err := r.Cookie(p.cookie); err == nil {
			switch c.Value {
			case "always":
				return true
			case "never":
				return false
			}
		}
	}
	// ingress-nginx draws an integer in [1, total] and routes it to the canary when it is at
	// most the weight.
	return p.weight > 0 && int(random()*float64(p.weightTotal))+1 <= p.weight
}

// ingressLabels are the labels of ingress-nginx's request metrics that a decision fixes.
type ingressLabels struct {
	namespace, ingress, path string
	// canary is the upstream of the canary backend ("<namespace>-<service>-<port>") for a
	// request the canary Ingress routed, "" otherwise.
	canary string
}

// location is one path of the main Ingresses of a host.
type location struct {
	key     string // host and path: where a canary Ingress is merged
	host    string
	exact   bool
	pathLen int
	entry   entry
}

// ingressClasses returns the names of the IngressClasses of the data plane's controller, and
// whether one of them is the default class.
func ingressClasses(classes []*knetworkingv1.IngressClass) (map[string]bool, bool) {
	ours := map[string]bool{}
	deflt := false
	for _, c := range classes {
		if c.Spec.Controller != IngressController {
			continue
		}
		ours[c.Name] = true
		deflt = deflt || c.Annotations[defaultClassAnnotation] == "true"
	}
	return ours, deflt
}

// servedIngress reports whether ingress-nginx would serve an Ingress: its class (spec or the
// older annotation) is one of ours, or it names none and one of ours is the default class.
func servedIngress(ing *knetworkingv1.Ingress, ours map[string]bool, deflt bool) bool {
	class := ing.Annotations[ingressClassAnnotation]
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	if class == "" {
		return deflt
	}
	return ours[class]
}

// compileIngresses turns the Ingresses the data plane serves into entries by host: the paths of
// the main Ingresses (for a host and path, the oldest Ingress wins), exact paths first, then the
// longest prefix, as nginx picks a location; each canary Ingress (annotation canary "true") is
// merged into the location of the same host and path. Default backends, regular-expression
// paths (use-regex), rewrites and the other annotations are not modelled.
func (t *Table) compileIngresses(s Snapshot) (map[string][]entry, []string) {
	ours, deflt := ingressClasses(s.IngressClasses)
	var mains, canaries []*knetworkingv1.Ingress
	for _, ing := range s.Ingresses {
		if !servedIngress(ing, ours, deflt) {
			continue
		}
		if ing.Annotations[canaryAnnotation] == "true" {
			canaries = append(canaries, ing)
		} else {
			mains = append(mains, ing)
		}
	}
	ingressMeta := func(i *knetworkingv1.Ingress) *metav1.ObjectMeta { return &i.ObjectMeta }
	sortByAge(mains, ingressMeta)
	sortByAge(canaries, ingressMeta)

	var errs []string
	byKey := map[string]*location{}
	var locs []*location
	for _, ing := range mains {
		for _, p := range ingressPaths(ing) {
			src := fmt.Sprintf("Ingress %s/%s", ing.Namespace, ing.Name)
			if old := byKey[p.key]; old != nil {
				errs = append(errs, fmt.Sprintf("%s: host %q path %q is already served by %s", src, p.host, p.path.Path, old.entry.rule.source))
				continue
			}
			b, err := t.ingressBackend(p.path.Backend, ing.Namespace)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s path %q: %v", src, p.path.Path, err))
				continue
			}
			rm, exact := ingressMatch(p.path)
			loc := &location{key: p.key, host: p.host, exact: exact, pathLen: len(p.path.Path), entry: entry{match: rm, rule: &rule{
				source:     src,
				backends:   []backend{b},
				failStatus: http.StatusServiceUnavailable,
				ingress:    &ingressRoute{namespace: ing.Namespace, name: ing.Name, path: p.path.Path},
			}}}
			byKey[p.key] = loc
			locs = append(locs, loc)
		}
	}
	for _, ing := range canaries {
		src := fmt.Sprintf("Ingress %s/%s (canary)", ing.Namespace, ing.Name)
		policy, err := canaryOf(ing)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", src, err))
			continue
		}
		for _, p := range ingressPaths(ing) {
			loc := byKey[p.key]
			switch {
			case loc == nil || loc.entry.rule.ingress.namespace != ing.Namespace:
				errs = append(errs, fmt.Sprintf("%s: no main Ingress in its namespace serves host %q path %q", src, p.host, p.path.Path))
				continue
			case loc.entry.rule.ingress.canary != nil:
				errs = append(errs, fmt.Sprintf("%s: host %q path %q already has the canary %s", src, p.host, p.path.Path, loc.entry.rule.ingress.canary.source))
				continue
			}
			b, err := t.ingressBackend(p.path.Backend, ing.Namespace)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s path %q: %v", src, p.path.Path, err))
				continue
			}
			cp := *policy
			cp.backend, cp.source = b, src
			loc.entry.rule.ingress.canary = &cp
		}
	}
	slices.SortStableFunc(locs, func(a, b *location) int {
		return cmp.Or(boolCompare(b.exact, a.exact), cmp.Compare(b.pathLen, a.pathLen))
	})
	out := map[string][]entry{}
	for _, l := range locs {
		out[l.host] = append(out[l.host], l.entry)
	}
	return out, errs
}

// ingressPath is one path of one rule of an Ingress, with its host.
type ingressPath struct {
	key, host string
	path      knetworkingv1.HTTPIngressPath
}

// ingressPaths lists the paths of an Ingress; a rule without a host serves every host.
func ingressPaths(ing *knetworkingv1.Ingress) []ingressPath {
	var out []ingressPath
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		host := strings.ToLower(strings.TrimSuffix(r.Host, "."))
		if host == "" {
			host = "*"
		}
		for _, p := range r.HTTP.Paths {
			if p.Path == "" {
				p.Path = "/"
			}
			out = append(out, ingressPath{key: host + " " + p.Path, host: host, path: p})
		}
	}
	return out
}

// ingressMatch matches an Ingress path: Exact is the whole path, Prefix whole path elements,
// and ImplementationSpecific a plain prefix, as an nginx location.
func ingressMatch(p knetworkingv1.HTTPIngressPath) (*requestMatch, bool) {
	switch ptrOr(p.PathType, knetworkingv1.PathTypeImplementationSpecific) {
	case knetworkingv1.PathTypeExact:
		return &requestMatch{path: &strMatch{kind: matchExact, value: p.Path}}, true
	case knetworkingv1.PathTypePrefix:
		return &requestMatch{path: &strMatch{kind: matchPathPrefix, value: p.Path}}, false
	}
	return &requestMatch{path: &strMatch{kind: matchPrefix, value: p.Path}}, false
}

// ingressBackend resolves an Ingress backend to a Service port (a named port by the Service's
// ports).
func (t *Table) ingressBackend(ib knetworkingv1.IngressBackend, namespace string) (backend, error) {
	if ib.Service == nil {
		return backend{}, fmt.Errorf("only Service backends are supported")
	}
	b := backend{svc: svcKey{Namespace: namespace, Name: ib.Service.Name}, port: ib.Service.Port.Number, weight: 100}
	if name := ib.Service.Port.Name; name != "" && b.port == 0 {
		if svc := t.services[b.svc]; svc != nil {
			for _, p := range svc.ports {
				if p.name == name {
					b.port = p.port
				}
			}
		}
	}
	return b, nil
}

// canaryOf reads the canary annotations of an Ingress. An unreadable weight counts as 0, as
// ingress-nginx ignores an annotation it cannot parse.
func canaryOf(ing *knetworkingv1.Ingress) (*canaryPolicy, error) {
	a := ing.Annotations
	p := &canaryPolicy{
		name:        ing.Name,
		header:      a[canaryHeaderAnnotation],
		headerValue: a[canaryValueAnnotation],
		cookie:      a[canaryCookieAnnotation],
		weightTotal: defaultCanaryWeightTotal,
	}
	if w, err := strconv.Atoi(a[canaryWeightAnnotation]); err == nil {
		p.weight = w
	}
	if tot, err := strconv.Atoi(a[canaryTotalAnnotation]); err == nil && tot > 0 {
		p.weightTotal = tot
	}
	if expr := a[canaryPatternAnnotation]; expr != "" && p.headerValue == "" {
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", canaryPatternAnnotation, err)
		}
		p.headerPattern = re
	}
	return p, nil
}

// chooseIngress picks the backend of an Ingress location: the canary's when its policy routes
// the request there, the main Ingress's otherwise; it fills the decision's ingress labels.
func chooseIngress(d *Decision, ir *ingressRoute, r *http.Request, main backend, random func() float64) backend {
	d.ingress = &ingressLabels{namespace: ir.namespace, ingress: ir.name, path: ir.path}
	c := ir.canary
	if c == nil || !c.routes(r, random) {
		return main
	}
	d.Rule = c.source
	d.ingress.ingress = c.name
	d.ingress.canary = fmt.Sprintf("%s-%s-%d", c.backend.svc.Namespace, c.backend.svc.Name, c.backend.port)
	return c.backend
}

// canaryView renders a location's canary for /routes.
func (ir *ingressRoute) canaryView() *CanaryView {
	c := ir.canary
	if c == nil {
		return nil
	}
	v := &CanaryView{
		Ingress: c.name, Service: c.backend.svc.Namespace + "/" + c.backend.svc.Name, Port: c.backend.port,
		Weight: c.weight, WeightTotal: c.weightTotal,
		Header: c.header, HeaderValue: c.headerValue, Cookie: c.cookie,
	}
	if c.headerPattern != nil {
		v.HeaderPattern = c.headerPattern.String()
	}
	return v
}

// ingressBuckets are ingress-nginx's request duration buckets (the Prometheus client's
// defaults), in seconds.
var ingressBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// ingressMetricLabels are the labels of ingress-nginx's per-request metrics that the data plane
// knows (not the controller's own namespace, class and pod).
var ingressMetricLabels = []string{"namespace", "ingress", "service", "status", "method", "path", "canary"}

// observeIngress counts a request an Ingress routed, as ingress-nginx does: a client that went
// away before the answer (code 0) is nginx's 499.
func (m *metrics) observeIngress(l *ingressLabels, svc svcKey, method string, code int, d time.Duration) {
	if code == 0 {
		code = 499
	}
	m.ingress.observe(prometheus.Labels{
		"namespace": l.namespace, "ingress": l.ingress, "service": svc.Name, "status": strconv.Itoa(code),
		"method": method, "path": l.path, "canary": l.canary,
	}, d.Seconds())
}
