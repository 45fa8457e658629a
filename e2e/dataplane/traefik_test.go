package dataplane

import (
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
