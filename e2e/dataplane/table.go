// Package dataplane is a test double of a service mesh, a Gateway API gateway and ingress-nginx
// for Siskin's local environment. One HTTP listener routes real requests by their Host (or the
// absolute URL of a proxy request) the way Istio, Gateway API implementations and ingress-nginx
// do: by the live Istio VirtualServices and HTTPRoutes (weights, header, cookie and query
// matches, mirroring, header rewrites such as session-affinity cookies) and the Ingresses of an
// ingress-nginx IngressClass (with their canary Ingresses: weight, header, cookie), to the pod
// IPs of the destination Services' EndpointSlices, round-robin. A Service that no route names
// is reached directly. It exports Istio's standard metrics (istio_requests_total,
// istio_request_duration_milliseconds with reporter="destination") for every request, and
// ingress-nginx's (nginx_ingress_controller_requests,
// nginx_ingress_controller_request_duration_seconds) for those an Ingress routed, so that
// Siskin's built-in queries work against it. It also routes by Traefik's IngressRoutes and the
// TraefikServices they name, and counts what they routed in Traefik's service metrics
// (traefik.go); and it routes by the Ingresses of class skipper as Skipper does, counted in
// skipper_serve_route_duration_seconds by Skipper's route IDs (skipper.go).
//
// The routing table is built by Build, a pure function of the objects read from the API
// server, and replaced whole when they change; Table.Route decides where a request goes.
package dataplane

import (
	"cmp"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// clusterDomain is the suffix of every Service's fully qualified host.
const clusterDomain = "svc.cluster.local"

// svcKey names a Service.
type svcKey struct{ Namespace, Name string }

func (k svcKey) host() string { return k.Name + "." + k.Namespace + "." + clusterDomain }

// Endpoint is one ready backend address of a Service port.
type Endpoint struct {
	// Addr is podIP:port.
	Addr string `json:"addr"`
	// Pod is the pod name, if the EndpointSlice names it.
	Pod string `json:"pod,omitempty"`
	// Workload is the Deployment (or other owner) of the pod: destination_workload.
	Workload string `json:"workload"`
}

// servicePort is one port of a Service with its ready endpoints.
type servicePort struct {
	name      string
	port      int32
	endpoints []Endpoint
	next      *atomic.Uint64
}

// service is a Service with its ports.
type service struct {
	key   svcKey
	ports []*servicePort
}

// port returns the port numbered want, or when want is 0 or absent and there is only one
// port, that one; with several ports and no match it returns the first.
func (s *service) port(want int32) *servicePort {
	if len(s.ports) == 0 {
		return nil
	}
	for _, p := range s.ports {
		if p.port == want {
			return p
		}
	}
	return s.ports[0]
}

// matchKind is how a string is compared.
type matchKind int

const (
	matchExact matchKind = iota
	matchPrefix
	matchPathPrefix // Gateway API PathPrefix: whole path elements
	matchRegex
	matchPresent // header present, any value
)

// strMatch compares one string.
type strMatch struct {
	kind       matchKind
	value      string
	re         *regexp.Regexp
	ignoreCase bool
}

func (m *strMatch) match(s string) bool {
	if m.ignoreCase {
		s = strings.ToLower(s)
	}
	switch m.kind {
	case matchExact:
		return s == m.value
	case matchPrefix:
		return strings.HasPrefix(s, m.value)
	case matchPathPrefix:
		v := strings.TrimSuffix(m.value, "/")
		return v == "" || s == v || strings.HasPrefix(s, v+"/")
	case matchRegex:
		return m.re != nil && m.re.MatchString(s)
	case matchPresent:
		return true
	}
	return false
}

func (m *strMatch) String() string {
	name := [...]string{"exact", "prefix", "pathPrefix", "regex", "present"}[m.kind]
	return name + ":" + m.value
}

// newRegex compiles a regular expression that must match the whole string, as Envoy's do.
func newRegex(kind matchKind, expr string) (strMatch, error) {
	re, err := regexp.Compile("^(?:" + expr + ")$")
	return strMatch{kind: kind, value: expr, re: re}, err
}

// kvMatch matches a header or query parameter.
type kvMatch struct {
	name   string
	m      strMatch
	invert bool // Istio withoutHeaders
}

// requestMatch is one set of conditions that must all hold.
type requestMatch struct {
	path      *strMatch
	method    string
	authority *strMatch
	port      int
	headers   []kvMatch
	query     []kvMatch
}

func (m *requestMatch) matches(r *http.Request, port int) bool {
	if m.path != nil && !m.path.match(r.URL.Path) {
		return false
	}
	if m.method != "" && !strings.EqualFold(m.method, r.Method) {
		return false
	}
	if m.authority != nil && !m.authority.match(r.Host) {
		return false
	}
	if m.port != 0 && m.port != port {
		return false
	}
	for _, h := range m.headers {
		vals := r.Header.Values(h.name)
		if strings.EqualFold(h.name, "host") || strings.EqualFold(h.name, ":authority") {
			vals = []string{r.Host}
		}
		ok := len(vals) > 0 && h.m.match(joinHeader(h.name, vals))
		if ok == h.invert {
			return false
		}
	}
	if len(m.query) > 0 {
		q := r.URL.Query()
		for _, p := range m.query {
			vals, present := q[p.name]
			if !present || !p.m.match(firstOr(vals, "")) {
				return false
			}
		}
	}
	return true
}

// joinHeader joins repeated header values the way a proxy sees them: cookies with "; ".
func joinHeader(name string, vals []string) string {
	if strings.EqualFold(name, "cookie") {
		return strings.Join(vals, "; ")
	}
	return strings.Join(vals, ",")
}

func firstOr(v []string, def string) string {
	if len(v) == 0 {
		return def
	}
	return v[0]
}

// describe renders the match for /routes.
func (m *requestMatch) describe() map[string]string {
	out := map[string]string{}
	if m.path != nil {
		out["path"] = m.path.String()
	}
	if m.method != "" {
		out["method"] = m.method
	}
	if m.authority != nil {
		out["authority"] = m.authority.String()
	}
	if m.port != 0 {
		out["port"] = strconv.Itoa(m.port)
	}
	for _, h := range m.headers {
		k := "header:" + h.name
		if h.invert {
			k = "withoutHeader:" + h.name
		}
		out[k] = h.m.String()
	}
	for _, q := range m.query {
		out["query:"+q.name] = q.m.String()
	}
	return out
}

// headerOps edits request or response headers.
type headerOps struct {
	set    [][2]string
	add    [][2]string
	remove []string
}

func (o *headerOps) apply(h http.Header) {
	for _, kv := range o.set {
		h.Set(kv[0], kv[1])
	}
	for _, kv := range o.add {
		h.Add(kv[0], kv[1])
	}
	for _, k := range o.remove {
		h.Del(k)
	}
}

// backend is one weighted destination of a rule.
type backend struct {
	svc         svcKey
	port        int32 // Service port; 0 picks the request's port or the only one
	weight      int32
	reqHeaders  headerOps
	respHeaders headerOps
	// envoy is the Envoy cluster of a backend of an HTTPProxy route, for its statistics.
	envoy string
	// traefik is the name of the Service in Traefik's metrics, for a backend of an IngressRoute.
	traefik string
	// skipper is Skipper's route ID, for a backend of an Ingress of class skipper (skipper.go).
	skipper string
}

// mirror is a destination that receives a copy of a share of the requests.
type mirror struct {
	svc     svcKey
	port    int32
	percent float64
	// envoy is the Envoy cluster of a mirror of an HTTPProxy route.
	envoy   string
	traefik string // the name in Traefik's metrics, for a mirror of a TraefikService
}

// rewrite changes the request before it is sent.
type rewrite struct {
	prefix   *string // replaces the matched path prefix (or the whole path after an exact match)
	fullPath *string
	host     string
}

// rule is a compiled Istio HTTP route or Gateway API HTTPRoute rule.
type rule struct {
	source      string
	backends    []backend
	mirrors     []mirror
	reqHeaders  headerOps
	respHeaders headerOps
	rewrite     rewrite
	timeout     time.Duration
	// failStatus answers requests when no backend can be used: Istio answers 503, the
	// Gateway API asks for 500.
	failStatus int
	// ingress is set for a location of an Ingress: its canary and its metric labels.
	ingress *ingressRoute
}

// entry is one match of a rule; a host's entries are tried in order.
type entry struct {
	match *requestMatch // nil matches every request
	rule  *rule
}

// Table is an immutable routing table.
type Table struct {
	services  map[svcKey]*service
	hosts     map[string][]entry
	wildcards []wildcard // longest suffix first
	// Routes describes the table for /routes.
	routes RoutesView
	// routeStatus holds the parent status the data plane reports for each HTTPRoute.
	routeStatus map[svcKey][]parentStatus
	gateways    map[svcKey]gatewayStatus
}

// wildcard holds the entries of a host pattern such as *.example.com ("" suffix: any host).
type wildcard struct {
	suffix  string
	entries []entry
}

// canonicalHost lower-cases host, drops a port and a trailing dot, and expands the service
// aliases <svc>.<ns> and <svc>.<ns>.svc to <svc>.<ns>.svc.cluster.local (<svc>.<ns> only when
// such a Service or route host exists, since it could be an external name).
func (t *Table) canonicalHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case strings.HasSuffix(host, "."+clusterDomain):
		return host
	case strings.HasSuffix(host, ".svc"):
		return host + ".cluster.local"
	}
	if name, ns, ok := strings.Cut(host, "."); ok && !strings.Contains(ns, ".") {
		fqdn := host + "." + clusterDomain
		if _, known := t.services[svcKey{Namespace: ns, Name: name}]; known {
			return fqdn
		}
		if _, routed := t.hosts[fqdn]; routed {
			return fqdn
		}
	}
	return host
}

// serviceOf returns the Service a canonical host names, if any.
func (t *Table) serviceOf(host string) *service {
	rest, ok := strings.CutSuffix(host, "."+clusterDomain)
	if !ok {
		return nil
	}
	name, ns, ok := strings.Cut(rest, ".")
	if !ok {
		return nil
	}
	return t.services[svcKey{Namespace: ns, Name: name}]
}

// Decision says what to do with one request.
type Decision struct {
	// Status is set when the data plane answers itself: 404 no route, 503 no endpoint, 500.
	Status int
	// Reason explains Status.
	Reason string
	// Rule names the route rule that matched ("" for direct Service traffic).
	Rule string
	// Service is the chosen destination Service.
	Service svcKey
	// Endpoint is the chosen backend.
	Endpoint Endpoint
	// Mirrors are the endpoints that get a copy.
	Mirrors []MirrorTarget
	// Path and Host are what the backend is sent.
	Path, Host string
	// Timeout bounds the request when positive.
	Timeout time.Duration
	// port is the Service port the endpoint was picked from, for a retry.
	port int32
	// envoy is the Envoy cluster of the destination when an HTTPProxy routed the request.
	envoy string
	// ingress is set when an Ingress routed the request: the labels of its metrics.
	ingress *ingressLabels
	// traefik is the Service's name in Traefik's metrics when an IngressRoute routed it.
	traefik string
	// skipper is Skipper's route ID when an Ingress of class skipper routed it.
	skipper     string
	reqHeaders  []*headerOps
	respHeaders []*headerOps
}

// MirrorTarget is a chosen mirror endpoint.
type MirrorTarget struct {
	Service  svcKey
	Endpoint Endpoint
	envoy    string
	traefik  string
}

// Route decides where r goes; random returns numbers in [0,1).
func (t *Table) Route(r *http.Request, random func() float64) Decision {
	host := t.canonicalHost(r.Host)
	port := requestPort(r)
	d := Decision{Path: r.URL.Path, Host: r.Host}
	entries, ok := t.hosts[host]
	if !ok {
		if svc := t.serviceOf(host); svc != nil {
			return t.direct(d, svc, int32(port))
		}
		for _, w := range t.wildcards {
			if w.suffix == "" || strings.HasSuffix(host, w.suffix) {
				entries, ok = w.entries, true
				break
			}
		}
	}
	if !ok {
		d.Status, d.Reason = http.StatusNotFound, "no route for host "+host
		return d
	}
	for _, e := range entries {
		if e.match == nil || e.match.matches(r, port) {
			return t.apply(d, e, r, int32(port), random)
		}
	}
	d.Status, d.Reason = http.StatusNotFound, "no rule matches the request to "+host
	return d
}

// direct sends d to a Service's endpoints without a route.
func (t *Table) direct(d Decision, svc *service, port int32) Decision {
	d.Service, d.port = svc.key, port
	ep, ok := pick(svc.port(port))
	if !ok {
		d.Status, d.Reason = http.StatusServiceUnavailable, "no healthy upstream for "+svc.key.host()
		return d
	}
	d.Endpoint = ep
	return d
}

// apply fills d from the rule of a matching entry.
func (t *Table) apply(d Decision, e entry, req *http.Request, port int32, random func() float64) Decision {
	r := e.rule
	d.Rule = r.source
	d.Timeout = r.timeout
	b, ok := chooseBackend(r.backends, random)
	if ok && r.ingress != nil {
		b = chooseIngress(&d, r.ingress, req, b, random)
	}
	if !ok {
		d.Status, d.Reason = r.failStatus, "no backend with weight in "+r.source
		return d
	}
	d.Service, d.traefik, d.skipper = b.svc, b.traefik, b.skipper
	d.envoy = b.envoy
	svc := t.services[b.svc]
	if svc == nil {
		d.Status, d.Reason = r.failStatus, "service "+b.svc.Namespace+"/"+b.svc.Name+" not found"
		return d
	}
	d.port = cmp.Or(b.port, port)
	ep, ok := pick(svc.port(d.port))
	if !ok {
		d.Status, d.Reason = http.StatusServiceUnavailable, "no healthy upstream for "+b.svc.host()
		return d
	}
	d.Endpoint = ep
	d.reqHeaders = []*headerOps{&r.reqHeaders, &b.reqHeaders}
	d.respHeaders = []*headerOps{&b.respHeaders, &r.respHeaders}
	for _, m := range r.mirrors {
		if m.percent < 100 && random()*100 >= m.percent {
			continue
		}
		if ms := t.services[m.svc]; ms != nil {
			if mep, ok := pick(ms.port(cmp.Or(m.port, port))); ok {
				d.Mirrors = append(d.Mirrors, MirrorTarget{Service: m.svc, Endpoint: mep, traefik: m.traefik})
				d.Mirrors[len(d.Mirrors)-1].envoy = m.envoy
			}
		}
	}
	switch {
	case r.rewrite.fullPath != nil:
		d.Path = *r.rewrite.fullPath
	case r.rewrite.prefix != nil:
		d.Path = replacePrefix(d.Path, e.match, *r.rewrite.prefix)
	}
	if r.rewrite.host != "" {
		d.Host = r.rewrite.host
	}
	return d
}

// RetryEndpoint returns an endpoint of d's destination (the same Service port) other than
// d.Endpoint, as Envoy's retry with the previous_hosts predicate that Istio sets picks another
// host. It reads t, the table current at the retry, which may already know that the first
// endpoint is gone. False when the destination has no other ready endpoint.
func (t *Table) RetryEndpoint(d *Decision) (Endpoint, bool) {
	svc := t.services[d.Service]
	if svc == nil {
		return Endpoint{}, false
	}
	p := svc.port(d.port)
	if p == nil {
		return Endpoint{}, false
	}
	for range len(p.endpoints) {
		ep, ok := pick(p)
		if ok && ep.Addr != d.Endpoint.Addr {
			return ep, true
		}
	}
	return Endpoint{}, false
}

// replacePrefix replaces the prefix a match matched with repl; after any other match it
// replaces the whole path.
func replacePrefix(path string, m *requestMatch, repl string) string {
	if m == nil || m.path == nil || (m.path.kind != matchPrefix && m.path.kind != matchPathPrefix) {
		return repl
	}
	prefix := m.path.value
	if m.path.kind == matchPathPrefix {
		prefix = strings.TrimSuffix(prefix, "/")
	}
	rest := path[min(len(prefix), len(path)):]
	if m.path.kind == matchPathPrefix && strings.HasSuffix(repl, "/") && strings.HasPrefix(rest, "/") {
		rest = rest[1:]
	}
	out := repl + rest
	if out == "" {
		return "/"
	}
	return out
}

// chooseBackend picks a backend with probability proportional to its weight.
func chooseBackend(bs []backend, random func() float64) (backend, bool) {
	var total int64
	for _, b := range bs {
		total += int64(max(b.weight, 0))
	}
	if total == 0 {
		return backend{}, false
	}
	x := int64(random() * float64(total))
	for _, b := range bs {
		w := int64(max(b.weight, 0))
		if x < w {
			return b, true
		}
		x -= w
	}
	return bs[len(bs)-1], true
}

// keepRoundRobin carries the round-robin position of every Service port over from the
// previous table, so that frequent rebuilds do not send each first request to the same pod.
func (t *Table) keepRoundRobin(prev *Table) {
	if prev == nil {
		return
	}
	for k, svc := range t.services {
		old := prev.services[k]
		if old == nil {
			continue
		}
		for _, p := range svc.ports {
			for _, op := range old.ports {
				if op.port == p.port {
					p.next = op.next
				}
			}
		}
	}
}

// pick returns the next endpoint of a port, round-robin.
func pick(p *servicePort) (Endpoint, bool) {
	if p == nil || len(p.endpoints) == 0 {
		return Endpoint{}, false
	}
	n := p.next.Add(1) - 1
	return p.endpoints[n%uint64(len(p.endpoints))], true
}

// requestPort is the port a request was addressed to (80 when the Host names none).
func requestPort(r *http.Request) int {
	if _, p, err := net.SplitHostPort(r.Host); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			return n
		}
	}
	return 80
}

// sortedKeys returns the keys of m in order, so that compiled rules are deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
