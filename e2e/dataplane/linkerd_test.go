package dataplane

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// A 5xx is a failure, anything else a success; both are counted by the answering pod's
// Deployment and pod, inbound, with their latency.
func TestRecordLinkerdClassifiesAsLinkerd(t *testing.T) {
	m := newMetrics()
	ep := Endpoint{Pod: "podinfo-5d8f9c-0", Workload: "podinfo"}
	m.linkerd.record("test", ep, 200, 20*time.Millisecond)
	m.linkerd.record("test", ep, 503, 2*time.Millisecond)
	m.linkerd.record("test", ep, 404, 2*time.Millisecond)
	want := `
# HELP response_total Responses, as Linkerd's proxy counts them.
# TYPE response_total counter
response_total{classification="failure",deployment="podinfo",direction="inbound",namespace="test",pod="podinfo-5d8f9c-0",status_code="503",tls="true"} 1
response_total{classification="success",deployment="podinfo",direction="inbound",namespace="test",pod="podinfo-5d8f9c-0",status_code="200",tls="true"} 1
response_total{classification="success",deployment="podinfo",direction="inbound",namespace="test",pod="podinfo-5d8f9c-0",status_code="404",tls="true"} 1
`
	if err := testutil.GatherAndCompare(m.registry, strings.NewReader(want), "response_total"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(m.registry, "response_latency_ms"); err != nil || n != 3 {
		t.Fatalf("%d latency series (%v), want 3", n, err)
	}
}

// Requests to the apex Service's host, split by an HTTPRoute whose parent is that Service
// (GAMMA), are counted by the Deployment that answered: the canary's and the primary's apart.
func TestMeshRouteExportsLinkerdMetricsByDeployment(t *testing.T) {
	w := podinfo(t)
	w.deployment("podinfo", "podinfo-primary", 1)
	svcParent := gatewayv1.ParentReference{Group: ptr.To(gatewayv1.Group("")), Kind: ptr.To(gatewayv1.Kind("Service")), Name: "podinfo", Port: ptr.To[gatewayv1.PortNumber](9898)}
	w.httpRoute("podinfo", nil, []gatewayv1.ParentReference{svcParent},
		gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{backendRef("podinfo-primary", 50), backendRef("podinfo-canary", 50)}})
	s := w.server()
	for range 40 {
		do(s, "podinfo.test.svc.cluster.local:9898", "/", nil)
	}
	canary := testutil.ToFloat64(s.metrics.linkerd.requests.WithLabelValues("inbound", "true", "test", "podinfo", "podinfo-5d8f9c-0", "200", "success")) +
		testutil.ToFloat64(s.metrics.linkerd.requests.WithLabelValues("inbound", "true", "test", "podinfo", "podinfo-5d8f9c-1", "200", "success"))
	hits := w.hits["podinfo"].Load()
	if canary == 0 || float64(hits) != canary {
		t.Errorf("canary responses counted %v, the canary answered %d", canary, hits)
	}
	body := do(s, "127.0.0.1:1234", "/metrics", nil).Body.String()
	for _, want := range []string{`deployment="podinfo-primary"`, `response_latency_ms_bucket{classification="success",deployment="podinfo"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
