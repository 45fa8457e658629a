package dataplane

import (
	"crypto/sha256"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// recordTraefik counts by service, code and method, with Traefik's buckets, and a client gone
// before the answer is 499.
func TestRecordTraefikCountsAsTraefik(t *testing.T) {
	m := newMetrics()
	m.recordTraefik("test-podinfo-canary-9898@kubernetescrd", "GET", 200, 50*time.Millisecond)
	m.recordTraefik("test-podinfo-canary-9898@kubernetescrd", "GET", 500, 2*time.Second)
	m.recordTraefik("test-podinfo-canary-9898@kubernetescrd", "GET", 0, time.Millisecond)
	want := `
# HELP traefik_service_requests_total Requests processed by a service, as Traefik counts them.
# TYPE traefik_service_requests_total counter
traefik_service_requests_total{code="200",method="GET",protocol="http",service="test-podinfo-canary-9898@kubernetescrd"} 1
traefik_service_requests_total{code="499",method="GET",protocol="http",service="test-podinfo-canary-9898@kubernetescrd"} 1
traefik_service_requests_total{code="500",method="GET",protocol="http",service="test-podinfo-canary-9898@kubernetescrd"} 1
`
	if err := testutil.GatherAndCompare(m.registry, strings.NewReader(want), "traefik_service_requests_total"); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(m.registry, "traefik_service_request_duration_seconds")
	if err != nil || n != 3 {
		t.Fatalf("%d duration series (%v), want 3", n, err)
	}
	h := testutil.ToFloat64(m.traefik.requests.WithLabelValues("test-podinfo-canary-9898@kubernetescrd", "500", "GET", "http"))
	if h != 1 {
		t.Fatalf("500s counted %v, want 1", h)
	}
}

// ingressRoute adds an IngressRoute with one route of rule match to services.
func (w *world) ingressRoute(name, match string, services ...map[string]any) {
	u := traefikObject(IngressRouteGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	svcs := make([]any, len(services))
	for i, s := range services {
		svcs[i] = s
	}
	u.Object["spec"] = map[string]any{"entryPoints": []any{"web"}, "routes": []any{
		map[string]any{"kind": "Rule", "match": match, "services": svcs},
	}}
	w.snap.IngressRoutes = append(w.snap.IngressRoutes, u)
}

// traefikService adds a TraefikService with a spec.
func (w *world) traefikService(name string, spec map[string]any) {
	u := traefikObject(TraefikServiceGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	u.Object["spec"] = spec
	w.snap.TraefikServices = append(w.snap.TraefikServices, u)
}

// svcRef is a reference to a Kubernetes Service on port 9898 with a weight (-1: none).
func svcRef(name string, weight int64) map[string]any {
	ref := map[string]any{"name": name, "port": int64(9898)}
	if weight >= 0 {
		ref["weight"] = weight
	}
	return ref
}

// weightedPodinfo is podinfo behind the IngressRoute podinfo of app.example.com, which routes
// to the TraefikService podinfo weighing podinfo-primary and podinfo-canary.
func weightedPodinfo(t *testing.T, primary, canary int64) *world {
	w := podinfo(t)
	w.traefikService("podinfo", map[string]any{"weighted": map[string]any{"services": []any{
		svcRef("podinfo-primary", primary), svcRef("podinfo-canary", canary),
	}}})
	w.ingressRoute("podinfo", "Host(`"+appHost+"`) && PathPrefix(`/`)", map[string]any{"name": "podinfo", "kind": "TraefikService"})
	return w
}

func traefikCount(s *Server, service, code string) float64 {
	return testutil.ToFloat64(s.metrics.traefik.requests.WithLabelValues(service, code, "GET", "http"))
}

func TestIngressRouteWeightsSplitTraffic(t *testing.T) {
	for _, tc := range []struct {
		primary, canary int64
		p               float64
	}{{100, 0, 0}, {90, 10, 0.1}, {50, 50, 0.5}, {0, 100, 1}, {9, 1, 0.1}} {
		s := weightedPodinfo(t, tc.primary, tc.canary).server()
		const n = 2000
		got := share(t, s, appHost, n, "podinfo")
		within(t, fmt.Sprintf("%d/%d", tc.primary, tc.canary), got, tc.p, n)
		// Traefik counts each Kubernetes Service of the TraefikService under its own name.
		canary := traefikCount(s, "test-podinfo-canary-9898@kubernetescrd", "200")
		primary := traefikCount(s, "test-podinfo-primary-9898@kubernetescrd", "200")
		if canary != math.Round(got*n) || canary+primary != n {
			t.Errorf("%d/%d: traefik_service_requests_total canary %v primary %v for %v canary answers of %d", tc.primary, tc.canary, canary, primary, got*n, n)
		}
	}
}

// Weights left out are Traefik's default, 1; a nested weighted TraefikService splits its own
// share.
func TestIngressRouteNestedAndDefaultWeights(t *testing.T) {
	w := podinfo(t)
	w.traefikService("inner", map[string]any{"weighted": map[string]any{"services": []any{
		svcRef("podinfo-primary", -1), svcRef("podinfo-canary", -1),
	}}})
	w.traefikService("outer", map[string]any{"weighted": map[string]any{"services": []any{
		svcRef("podinfo-primary", 1), map[string]any{"name": "inner", "kind": "TraefikService", "weight": int64(1)},
	}}})
	w.ingressRoute("podinfo", "Host(`"+appHost+"`)", map[string]any{"name": "outer", "kind": "TraefikService"})
	const n = 2000
	within(t, "a quarter to the canary", share(t, w.server(), appHost, n, "podinfo"), 0.25, n)
}

// A mirroring TraefikService sends every request to its main service and a copy of percent of
// them to its mirror, which Traefik counts under the mirror's name.
func TestIngressRouteMirroring(t *testing.T) {
	w := podinfo(t)
	mirror := svcRef("podinfo-canary", -1)
	mirror["percent"] = int64(100)
	main := svcRef("podinfo-primary", -1)
	main["mirrors"] = []any{mirror}
	w.traefikService("podinfo", map[string]any{"mirroring": main})
	w.ingressRoute("podinfo", "Host(`"+appHost+"`)", map[string]any{"name": "podinfo", "kind": "TraefikService"})
	s := w.server()
	const n = 50
	if got := share(t, s, appHost, n, "podinfo-primary"); got != 1 {
		t.Fatalf("share of the primary %v, want all", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for traefikCount(s, "test-podinfo-canary-9898@kubernetescrd", "200") < n {
		if time.Now().After(deadline) {
			t.Fatalf("mirrored requests counted %v, want %d", traefikCount(s, "test-podinfo-canary-9898@kubernetescrd", "200"), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := traefikCount(s, "test-podinfo-primary-9898@kubernetescrd", "200"); got != n {
		t.Errorf("primary counted %v, want %d", got, n)
	}
}

// A route to one Kubernetes Service is counted under the router's name, as Traefik's legacy
// naming does; Host and PathPrefix decide, the longer rule first; what is not modelled is
// reported and skipped.
func TestIngressRouteMatchAndDirectService(t *testing.T) {
	w := podinfo(t)
	w.ingressRoute("podinfo", "Host(`"+appHost+"`)", svcRef("podinfo-primary", -1))
	w.ingressRoute("api", "Host(`"+appHost+"`) && PathPrefix(`/api`)", svcRef("podinfo-canary", -1))
	w.ingressRoute("header", "Host(`other.example.com`) && Header(`X-Canary`, `1`)", svcRef("podinfo-canary", -1))
	w.ingressRoute("missing", "Host(`missing.example.com`)", map[string]any{"name": "nope", "kind": "TraefikService"})
	s := w.server()
	for _, c := range []struct{ path, want string }{{"/", "podinfo-primary"}, {"/api/v1", "podinfo"}, {"/apiary", "podinfo"}} {
		if got := do(s, appHost, c.path, nil).Body.String(); got != c.want {
			t.Errorf("%s routed to %q, want %q", c.path, got, c.want)
		}
	}
	sum := sha256.Sum256([]byte("Host(`" + appHost + "`)"))
	router := fmt.Sprintf("test-podinfo-%x@kubernetescrd", sum[:10])
	if got := traefikCount(s, router, "200"); got != 1 {
		t.Errorf("requests of %s: %v, want 1", router, got)
	}
	if code := do(s, "other.example.com", "/", nil).Code; code != http.StatusNotFound {
		t.Errorf("a route with a Header matcher was served: %d", code)
	}
	errs := strings.Join(s.Table().Routes().Errors, "\n")
	for _, want := range []string{"IngressRoute test/header route 0: rule", "only Host and PathPrefix", "TraefikService test/nope not found"} {
		if !strings.Contains(errs, want) {
			t.Errorf("route errors do not say %q:\n%s", want, errs)
		}
	}
}

func TestParseTraefikRule(t *testing.T) {
	for _, tc := range []struct {
		rule   string
		hosts  []string
		prefix string
		err    bool
	}{
		{rule: "Host(`a.example.com`)", hosts: []string{"a.example.com"}},
		{rule: "Host(`A.example.com`, `b.example.com`) && PathPrefix(`/x`)", hosts: []string{"a.example.com", "b.example.com"}, prefix: "/x"},
		{rule: `PathPrefix("/api")`, hosts: []string{"*"}, prefix: "/api"},
		{rule: "Host(`a`) || Host(`b`)", err: true},
		{rule: "HostRegexp(`.*`)", err: true},
		{rule: "Host(`a`) && Host(`b`)", err: true},
		{rule: "", err: true},
	} {
		hosts, prefix, err := parseTraefikRule(tc.rule)
		if (err != nil) != tc.err || (!tc.err && (!slices.Equal(hosts, tc.hosts) || prefix != tc.prefix)) {
			t.Errorf("parseTraefikRule(%q) = %v, %q, %v", tc.rule, hosts, prefix, err)
		}
	}
}
