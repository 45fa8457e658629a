package dataplane

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// share sends n requests and returns the fraction that reached workload.
func share(t *testing.T, s *Server, host string, n int, workload string) float64 {
	t.Helper()
	got := 0
	for range n {
		rec := do(s, host, "/", nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("request to %s answered %d: %s", host, rec.Code, rec.Body)
		}
		if rec.Body.String() == workload {
			got++
		}
	}
	return float64(got) / float64(n)
}

// within checks a binomial share against p with a tolerance of 5 standard deviations.
func within(t *testing.T, what string, got, p float64, n int) {
	t.Helper()
	tol := 5 * math.Sqrt(p*(1-p)/float64(n))
	if math.Abs(got-p) > tol+1e-9 {
		t.Errorf("%s: share %.3f, want %.3f ± %.3f", what, got, p, tol)
	}
}

func TestVirtualServiceWeightsSplitTraffic(t *testing.T) {
	w := podinfo(t)
	w.virtualService("podinfo", []string{"podinfo", "app.example.com"}, &networkingv1alpha3.HTTPRoute{
		Route: []*networkingv1alpha3.HTTPRouteDestination{dest("podinfo-primary", 80), dest("podinfo-canary", 20)},
	})
	s := w.server()
	const n = 2000
	within(t, "canary via the service host", share(t, s, "podinfo.test:9898", n, "podinfo"), 0.2, n)
	within(t, "canary via the external host", share(t, s, "app.example.com", n, "podinfo"), 0.2, n)
	within(t, "canary via the FQDN", share(t, s, "podinfo.test.svc.cluster.local:9898", 500, "podinfo"), 0.2, 500)
}

func TestWeightZeroAndHundred(t *testing.T) {
	w := podinfo(t)
	w.virtualService("podinfo", []string{"podinfo"}, &networkingv1alpha3.HTTPRoute{
		Route: []*networkingv1alpha3.HTTPRouteDestination{dest("podinfo-primary", 0), dest("podinfo-canary", 100)},
	})
	if got := share(t, w.server(), "podinfo.test", 200, "podinfo"); got != 1 {
		t.Errorf("weight 100 got share %.3f", got)
	}
}

func TestHeaderAndCookieMatchesRouteToCanary(t *testing.T) {
	w := podinfo(t)
	w.virtualService("podinfo", []string{"podinfo"},
		&networkingv1alpha3.HTTPRoute{
			Match: []*networkingv1alpha3.HTTPMatchRequest{
				{Headers: map[string]*networkingv1alpha3.StringMatch{"x-canary": exact("insider")}},
				{Headers: map[string]*networkingv1alpha3.StringMatch{"cookie": regex(`^(.*?;\s*)?(canary=always)(;.*)?$`)}},
			},
			Route: []*networkingv1alpha3.HTTPRouteDestination{dest("podinfo-canary", 100)},
		},
		&networkingv1alpha3.HTTPRoute{Route: []*networkingv1alpha3.HTTPRouteDestination{dest("podinfo-primary", 100)}},
	)
	s := w.server()
	cases := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"no header goes to the primary", nil, "podinfo-primary"},
		{"the header goes to the canary", http.Header{"X-Canary": {"insider"}}, "podinfo"},
		{"another header value goes to the primary", http.Header{"X-Canary": {"outsider"}}, "podinfo-primary"},
		{"the cookie goes to the canary", http.Header{"Cookie": {"session=1; canary=always"}}, "podinfo"},
		{"the cookie in a second Cookie header goes to the canary", http.Header{"Cookie": {"a=b", "canary=always"}}, "podinfo"},
		{"another cookie goes to the primary", http.Header{"Cookie": {"canary=never"}}, "podinfo-primary"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 20 {
				if got := do(s, "podinfo.test:9898", "/", c.header).Body.String(); got != c.want {
					t.Fatalf("routed to %q, want %q", got, c.want)
				}
			}
		})
	}
}

func TestMirrorCopiesRequests(t *testing.T) {
	w := podinfo(t)
	w.virtualService("podinfo", []string{"podinfo"}, &networkingv1alpha3.HTTPRoute{
		Route:            []*networkingv1alpha3.HTTPRouteDestination{dest("podinfo-primary", 100)},
		Mirror:           &networkingv1alpha3.Destination{Host: "podinfo-canary"},
		MirrorPercentage: &networkingv1alpha3.Percent{Value: 100},
	})
	s := w.server()
	const n = 50
	for range n {
		if got := do(s, "podinfo.test:9898", "/", nil).Body.String(); got != "podinfo-primary" {
			t.Fatalf("mirrored request answered from %q, want the primary", got)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for w.hits["podinfo"].Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := w.hits["podinfo"].Load(); got != n {
		t.Errorf("canary got %d mirrored requests, want %d", got, n)
	}
}

func TestMirrorPercentage(t *testing.T) {
	w := podinfo(t)
	w.virtualService("podinfo", []string{"podinfo"}, &networkingv1alpha3.HTTPRoute{
		Route:            []*networkingv1alpha3.HTTPRouteDestination{dest("podinfo-primary", 100)},
		Mirror:           &networkingv1alpha3.Destination{Host: "podinfo-canary"},
		MirrorPercentage: &networkingv1alpha3.Percent{Value: 30},
	})
	tbl := Build(w.snap)
	const n = 4000
	mirrored := 0
	for range n {
		r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "http://podinfo.test:9898/", nil)
		if d := tbl.Route(r, randFloat); len(d.Mirrors) == 1 {
			mirrored++
		}
	}
	within(t, "mirrored", float64(mirrored)/n, 0.3, n)
}

func TestServiceWithoutRouteIsReachedDirectly(t *testing.T) {
	w := podinfo(t)
	s := w.server()
	seen := map[string]bool{}
	for range 8 {
		rec := do(s, "podinfo-primary.test:9898", "/", nil)
		if rec.Code != http.StatusOK || rec.Body.String() != "podinfo-primary" {
			t.Fatalf("direct request answered %d %q", rec.Code, rec.Body)
		}
		seen[rec.Header().Get("X-Host")] = true
	}
	// Both pods were used (round-robin).
	if w.hits["podinfo-primary"].Load() != 8 {
		t.Errorf("primary pods got %d requests, want 8", w.hits["podinfo-primary"].Load())
	}
	tbl := s.Table()
	first := tbl.Route(httptest.NewRequestWithContext(context.Background(), http.MethodGet, "http://podinfo-primary.test:9898/", nil), randFloat).Endpoint
	second := tbl.Route(httptest.NewRequestWithContext(context.Background(), http.MethodGet, "http://podinfo-primary.test:9898/", nil), randFloat).Endpoint
	if first.Addr == second.Addr {
		t.Errorf("two requests in a row went to the same endpoint %s: not round-robin", first.Addr)
	}

	if rec := do(s, "nothing.test", "/", nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown host answered %d, want 404", rec.Code)
	}
	w.snap.EndpointSlices = nil
	s.SetTable(Build(w.snap))
	if rec := do(s, "podinfo-primary.test:9898", "/", nil); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("service without endpoints answered %d, want 503", rec.Code)
	}
}

func TestSessionAffinityCookieIsSetByTheRoute(t *testing.T) {
	w := podinfo(t)
	canary := dest("podinfo-canary", 100)
	canary.Headers = &networkingv1alpha3.Headers{Response: &networkingv1alpha3.Headers_HeaderOperations{
		Add: map[string]string{"Set-Cookie": "flagger-cookie=abc; Max-Age=3600"},
	}}
	w.virtualService("podinfo", []string{"podinfo"}, &networkingv1alpha3.HTTPRoute{
		Headers: &networkingv1alpha3.Headers{Request: &networkingv1alpha3.Headers_HeaderOperations{Set: map[string]string{"X-Route": "canary"}}},
		Route:   []*networkingv1alpha3.HTTPRouteDestination{canary},
	})
	rec := do(w.server(), "podinfo.test:9898", "/", nil)
	if got := rec.Header().Get("Set-Cookie"); got != "flagger-cookie=abc; Max-Age=3600" {
		t.Errorf("Set-Cookie = %q", got)
	}
}

func TestRewriteAndTimeout(t *testing.T) {
	w := podinfo(t)
	w.virtualService("podinfo", []string{"podinfo"}, &networkingv1alpha3.HTTPRoute{
		Match:   []*networkingv1alpha3.HTTPMatchRequest{{Uri: &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: "/api"}}}},
		Rewrite: &networkingv1alpha3.HTTPRewrite{Uri: "/v1", Authority: "backend.internal"},
		Route:   []*networkingv1alpha3.HTTPRouteDestination{dest("podinfo-primary", 100)},
	})
	rec := do(w.server(), "podinfo.test:9898", "/api/items", nil)
	if rec.Header().Get("X-Path") != "/v1/items" || rec.Header().Get("X-Host") != "backend.internal" {
		t.Errorf("backend saw path %q host %q", rec.Header().Get("X-Path"), rec.Header().Get("X-Host"))
	}
	if rec := do(w.server(), "podinfo.test:9898", "/other", nil); rec.Code != http.StatusNotFound {
		t.Errorf("request matching no route of the host answered %d, want 404", rec.Code)
	}
}

func TestHTTPRouteWeightsMatchesAndStatus(t *testing.T) {
	w := podinfo(t)
	w.gateway("localenv", DefaultControllerName)
	w.gateway("other", "example.com/other")
	hdr := gatewayv1.HTTPRouteRule{
		Matches:     []gatewayv1.HTTPRouteMatch{{Headers: []gatewayv1.HTTPHeaderMatch{{Name: "X-Canary", Value: "insider"}}}},
		BackendRefs: []gatewayv1.HTTPBackendRef{backendRef("podinfo-canary", 1)},
	}
	split := gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{backendRef("podinfo-primary", 90), backendRef("podinfo-canary", 10)}}
	w.httpRoute("podinfo", []string{"app.example.com"}, []gatewayv1.ParentReference{gatewayParent("localenv"), gatewayParent("other")}, split, hdr)
	s := w.server()

	const n = 2000
	within(t, "canary share", share(t, s, "app.example.com", n, "podinfo"), 0.1, n)
	for range 20 {
		if got := do(s, "app.example.com", "/", http.Header{"X-Canary": {"insider"}}).Body.String(); got != "podinfo" {
			t.Fatalf("header match (the more specific rule, listed second) routed to %q", got)
		}
	}
	st := s.Table().routeStatus[svcKey{Namespace: ns, Name: "podinfo"}]
	if len(st) != 1 || st[0].ref.Name != "localenv" || !st[0].resolvedRefs {
		t.Errorf("route status = %+v, want only the data plane's own Gateway, resolved", st)
	}
	if gs := s.Table().gateways[svcKey{Namespace: "gateway-system", Name: "localenv"}]; gs.attached != 1 {
		t.Errorf("gateway has %d attached routes, want 1", gs.attached)
	}
	if _, ok := s.Table().gateways[svcKey{Namespace: "gateway-system", Name: "other"}]; ok {
		t.Errorf("the data plane claims a Gateway of another class")
	}
}

func TestHTTPRouteStatusKeepsOtherControllers(t *testing.T) {
	s := New(Options{})
	hr := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "r", Generation: 3}}
	hr.Status.Parents = []gatewayv1.RouteParentStatus{{ParentRef: gatewayParent("other"), ControllerName: "example.com/other"}}
	s.routeStatus(hr, []parentStatus{{ref: gatewayParent("localenv"), resolvedRefs: true, refsMessage: "ok"}})
	if len(hr.Status.Parents) != 2 {
		t.Fatalf("parents = %+v", hr.Status.Parents)
	}
	ours := hr.Status.Parents[1]
	if ours.ControllerName != DefaultControllerName || ours.Conditions[0].Type != "Accepted" || ours.Conditions[0].ObservedGeneration != 3 {
		t.Errorf("our parent status = %+v", ours)
	}
	s.routeStatus(hr, nil)
	if len(hr.Status.Parents) != 1 || hr.Status.Parents[0].ControllerName != "example.com/other" {
		t.Errorf("after detaching, parents = %+v", hr.Status.Parents)
	}
}

func TestGatewayAPIMeshRouteOnAService(t *testing.T) {
	w := podinfo(t)
	w.deployment("podinfo", "podinfo-primary", 1)
	svcParent := gatewayv1.ParentReference{Group: ptr.To(gatewayv1.Group("")), Kind: ptr.To(gatewayv1.Kind("Service")), Name: "podinfo"}
	w.httpRoute("podinfo-mesh", nil, []gatewayv1.ParentReference{svcParent},
		gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{backendRef("podinfo-canary", 1)}})
	if got := do(w.server(), "podinfo.test:9898", "/", nil).Body.String(); got != "podinfo" {
		t.Errorf("mesh route on the podinfo Service routed to %q, want the canary", got)
	}
}

func TestMetricsNameTheDestinationWorkload(t *testing.T) {
	w := podinfo(t)
	w.virtualService("podinfo", []string{"podinfo"}, &networkingv1alpha3.HTTPRoute{
		Route: []*networkingv1alpha3.HTTPRouteDestination{dest("podinfo-primary", 50), dest("podinfo-canary", 50)},
	})
	s := w.server()
	for range 40 {
		do(s, "podinfo.test:9898", "/", nil)
	}
	rec := do(s, "127.0.0.1:1234", "/metrics", nil)
	body := rec.Body.String()
	for _, want := range []string{
		`istio_requests_total{destination_service="podinfo-canary.test.svc.cluster.local",destination_service_name="podinfo-canary",destination_service_namespace="test",destination_workload="podinfo",destination_workload_namespace="test",pod="podinfo-5d8f9c-0",reporter="destination",request_protocol="http",response_code="200",source_workload="unknown",source_workload_namespace="unknown"}`,
		`destination_workload="podinfo-primary"`,
		`istio_request_duration_milliseconds_bucket{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
	var routes RoutesView
	if err := json.Unmarshal(do(s, "localhost", "/routes", nil).Body.Bytes(), &routes); err != nil {
		t.Fatal(err)
	}
	if len(routes.Hosts) != 1 || routes.Hosts[0].Host != "podinfo.test.svc.cluster.local" || len(routes.Hosts[0].Entries[0].Backends) != 2 {
		t.Errorf("/routes = %+v", routes)
	}
}

func TestWorkloadResolution(t *testing.T) {
	idx := newWorkloadIndex(
		[]*metav1.PartialObjectMetadata{
			objMeta("podinfo-primary-7c9-a", "ReplicaSet", "podinfo-primary-7c9", map[string]string{"pod-template-hash": "7c9"}),
			objMeta("podinfo-66b-b", "ReplicaSet", "podinfo-66b", map[string]string{"pod-template-hash": "66b"}),
			objMeta("web-0", "StatefulSet", "web", nil),
		},
		[]*metav1.PartialObjectMetadata{objMeta("podinfo-primary-7c9", "Deployment", "podinfo-primary", nil)},
	)
	for pod, want := range map[string]string{
		"podinfo-primary-7c9-a": "podinfo-primary",
		"podinfo-66b-b":         "podinfo", // ReplicaSet not cached: name less the hash
		"web-0":                 "web",
		"gone":                  "unknown",
	} {
		if got := idx.workload(ns, pod); got != want {
			t.Errorf("workload of %s = %q, want %q", pod, got, want)
		}
	}
}

var randFloat = rand.Float64
