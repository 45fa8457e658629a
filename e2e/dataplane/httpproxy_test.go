package dataplane

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// proxy adds an HTTPProxy; a root when fqdn is set.
func (w *world) proxy(name, fqdn string, spec contourv1.HTTPProxySpec) {
	if fqdn != "" {
		spec.VirtualHost = &contourv1.VirtualHost{Fqdn: fqdn}
	}
	w.snap.HTTPProxies = append(w.snap.HTTPProxies, &contourv1.HTTPProxy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       spec,
	})
}

// contourWorld is podinfo behind the root HTTPProxy app (app.example.com), which includes the
// HTTPProxy podinfo with the given routes, as Siskin generates it.
func contourWorld(t *testing.T, routes ...contourv1.Route) *world {
	w := podinfo(t)
	w.proxy("app", appHost, contourv1.HTTPProxySpec{Includes: []contourv1.Include{{Name: "podinfo", Conditions: []contourv1.MatchCondition{{Prefix: "/"}}}}})
	w.proxy("podinfo", "", contourv1.HTTPProxySpec{Routes: routes})
	return w
}

func weighted(primary, canary int64, conds ...contourv1.MatchCondition) contourv1.Route {
	return contourv1.Route{
		Conditions: append([]contourv1.MatchCondition{{Prefix: "/"}}, conds...),
		Services: []contourv1.Service{
			{Name: "podinfo-primary", Port: 9898, Weight: primary},
			{Name: "podinfo-canary", Port: 9898, Weight: canary},
		},
	}
}

func headerCond(h contourv1.HeaderMatchCondition) contourv1.MatchCondition {
	return contourv1.MatchCondition{Header: &h}
}

func route(t *testing.T, tbl *Table, path string, header http.Header, random float64) Decision {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://"+appHost+path, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	return tbl.Route(r, func() float64 { return random })
}

func TestHTTPProxyWeightsSplitTheIncludedRoute(t *testing.T) {
	tbl := Build(contourWorld(t, weighted(90, 10)).snap)
	if errs := tbl.Routes().Errors; len(errs) > 0 {
		t.Fatalf("build errors: %v", errs)
	}
	for _, tc := range []struct {
		random float64
		want   string
	}{{0, "podinfo-primary"}, {0.89, "podinfo-primary"}, {0.9, "podinfo-canary"}, {0.99, "podinfo-canary"}} {
		d := route(t, tbl, "/api", nil, tc.random)
		if d.Status != 0 || d.Service.Name != tc.want || d.envoy != "test_"+tc.want+"_9898" {
			t.Errorf("random %v: %+v, want %s", tc.random, d, tc.want)
		}
	}
	// Services without weights share evenly.
	tbl = Build(contourWorld(t, weighted(0, 0)).snap)
	if a, b := route(t, tbl, "/", nil, 0.4), route(t, tbl, "/", nil, 0.6); a.Service.Name != "podinfo-primary" || b.Service.Name != "podinfo-canary" {
		t.Errorf("unweighted services: %s and %s, want one each", a.Service.Name, b.Service.Name)
	}
}

// The routes of matching requests (more header conditions) come before the default route, as
// Contour sorts them, whatever their order in the HTTPProxy.
func TestHTTPProxyHeaderConditionsRouteFirst(t *testing.T) {
	tbl := Build(contourWorld(t,
		weighted(100, 0),
		weighted(0, 100, headerCond(contourv1.HeaderMatchCondition{Name: "x-canary", Exact: "insider"})),
		weighted(0, 100, headerCond(contourv1.HeaderMatchCondition{Name: "cookie", Contains: "canary=always"})),
		weighted(0, 100, headerCond(contourv1.HeaderMatchCondition{Name: "user-agent", Regex: `Mozilla/5\.0 \(Firefox.*`})),
	).snap)
	for _, tc := range []struct {
		name   string
		header http.Header
		want   string
	}{
		{"no header", nil, "podinfo-primary"},
		{"exact header", http.Header{"X-Canary": {"insider"}}, "podinfo-canary"},
		{"another value", http.Header{"X-Canary": {"outsider"}}, "podinfo-primary"},
		{"cookie among others", http.Header{"Cookie": {"a=1; canary=always; b=2"}}, "podinfo-canary"},
		{"regex", http.Header{"User-Agent": {"Mozilla/5.0 (Firefox 140)"}}, "podinfo-canary"},
		{"regex matches the whole value", http.Header{"User-Agent": {"x Mozilla/5.0 (Firefox 140)"}}, "podinfo-primary"},
	} {
		if d := route(t, tbl, "/", tc.header, 0.5); d.Service.Name != tc.want {
			t.Errorf("%s: routed to %s, want %s", tc.name, d.Service.Name, tc.want)
		}
	}
}

func TestHTTPProxyNegativeAndQueryConditions(t *testing.T) {
	tbl := Build(contourWorld(t,
		weighted(100, 0),
		weighted(0, 100,
			headerCond(contourv1.HeaderMatchCondition{Name: "x-bot", NotExact: "1"}),
			contourv1.MatchCondition{QueryParameter: &contourv1.QueryParameterMatchCondition{Name: "beta", Exact: "on"}}),
	).snap)
	if d := route(t, tbl, "/?beta=on", nil, 0.5); d.Service.Name != "podinfo-canary" {
		t.Errorf("query matches: %s", d.Service.Name)
	}
	if d := route(t, tbl, "/?beta=on", http.Header{"X-Bot": {"1"}}, 0.5); d.Service.Name != "podinfo-primary" {
		t.Errorf("notexact header with that value: %s", d.Service.Name)
	}
	if d := route(t, tbl, "/?beta=off", nil, 0.5); d.Service.Name != "podinfo-primary" {
		t.Errorf("another query value: %s", d.Service.Name)
	}
}

// Include conditions prefix the included routes: the longest prefix wins.
func TestHTTPProxyIncludeConditionsPrefixTheRoutes(t *testing.T) {
	w := podinfo(t)
	w.proxy("app", appHost, contourv1.HTTPProxySpec{
		Routes:   []contourv1.Route{{Services: []contourv1.Service{{Name: "podinfo-primary", Port: 9898}}}},
		Includes: []contourv1.Include{{Name: "api", Conditions: []contourv1.MatchCondition{{Prefix: "/api"}}}},
	})
	w.proxy("api", "", contourv1.HTTPProxySpec{Routes: []contourv1.Route{{
		Conditions: []contourv1.MatchCondition{{Prefix: "/v2"}},
		Services:   []contourv1.Service{{Name: "podinfo-canary", Port: 9898}},
	}}})
	tbl := Build(w.snap)
	for path, want := range map[string]string{"/api/v2/x": "podinfo-canary", "/api/v1": "podinfo-primary", "/v2": "podinfo-primary"} {
		if d := route(t, tbl, path, nil, 0); d.Service.Name != want {
			t.Errorf("%s routed to %s, want %s", path, d.Service.Name, want)
		}
	}
}

func TestHTTPProxyMirrorsAShareToTheMirrorService(t *testing.T) {
	r := weighted(100, 0)
	r.Services = append(r.Services, contourv1.Service{Name: "podinfo-canary", Port: 9898, Mirror: true, Weight: 40})
	tbl := Build(contourWorld(t, r).snap)
	if d := route(t, tbl, "/", nil, 0.3); d.Service.Name != "podinfo-primary" || len(d.Mirrors) != 1 ||
		d.Mirrors[0].Service.Name != "podinfo-canary" || d.Mirrors[0].envoy != "test_podinfo-canary_9898" {
		t.Errorf("with random 0.3 (under 40%%): %+v", d)
	}
	if d := route(t, tbl, "/", nil, 0.5); len(d.Mirrors) != 0 {
		t.Errorf("with random 0.5 (over 40%%): mirrors %+v", d.Mirrors)
	}
}

// A missing include and an include cycle make the root unusable, and the oldest root of a
// host wins; the errors say which.
func TestHTTPProxyErrors(t *testing.T) {
	w := podinfo(t)
	w.proxy("app", appHost, contourv1.HTTPProxySpec{Includes: []contourv1.Include{{Name: "missing"}}})
	w.proxy("loop", "loop.example.com", contourv1.HTTPProxySpec{Includes: []contourv1.Include{{Name: "a"}}})
	w.proxy("a", "", contourv1.HTTPProxySpec{Includes: []contourv1.Include{{Name: "b"}}})
	w.proxy("b", "", contourv1.HTTPProxySpec{Includes: []contourv1.Include{{Name: "a"}}})
	w.proxy("old", "old.example.com", contourv1.HTTPProxySpec{Routes: []contourv1.Route{{Services: []contourv1.Service{{Name: "podinfo-primary", Port: 9898}}}}})
	w.proxy("new", "old.example.com", contourv1.HTTPProxySpec{Routes: []contourv1.Route{{Services: []contourv1.Service{{Name: "podinfo-canary", Port: 9898}}}}})
	w.snap.HTTPProxies[len(w.snap.HTTPProxies)-1].CreationTimestamp = metav1.NewTime(time.Now())
	tbl := Build(w.snap)
	errs := strings.Join(tbl.Routes().Errors, "\n")
	for _, want := range []string{
		"HTTPProxy test/app: include of HTTPProxy test/missing, which does not exist",
		"HTTPProxy test/loop: include cycle through HTTPProxy test/a",
		`HTTPProxy test/new: fqdn "old.example.com" is already served by an older root HTTPProxy`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors %q lack %q", errs, want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "http://old.example.com/", nil)
	if d := tbl.Route(r, func() float64 { return 0 }); d.Service.Name != "podinfo-primary" {
		t.Errorf("old.example.com routed to %s, want the oldest root's podinfo-primary", d.Service.Name)
	}
}

// Requests an HTTPProxy routed are counted in Envoy's cluster statistics of the service that
// answered; mesh traffic is not.
func TestHTTPProxyRequestsAreCountedByEnvoyCluster(t *testing.T) {
	s := contourWorld(t,
		weighted(100, 0),
		weighted(0, 100, headerCond(contourv1.HeaderMatchCondition{Name: "x-canary", Exact: "insider"})),
	).server()
	for range 3 {
		do(s, appHost, "/", nil)
	}
	for range 2 {
		do(s, appHost, "/", http.Header{"X-Canary": {"insider"}})
	}
	do(s, "podinfo-primary.test:9898", "/", nil) // mesh traffic: no Envoy series
	body := do(s, "localhost", "/metrics", nil).Body.String()
	for _, line := range []string{
		`envoy_cluster_upstream_rq{envoy_cluster_name="test_podinfo-primary_9898",envoy_response_code="200"} 3`,
		`envoy_cluster_upstream_rq{envoy_cluster_name="test_podinfo-canary_9898",envoy_response_code="200"} 2`,
		`envoy_cluster_upstream_rq_time_count{envoy_cluster_name="test_podinfo-canary_9898"} 2`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics has no line %s", line)
		}
	}
	if n := strings.Count(body, "\nenvoy_cluster_upstream_rq{"); n != 2 {
		t.Errorf("/metrics has %d series of envoy_cluster_upstream_rq, want 2", n)
	}
}
