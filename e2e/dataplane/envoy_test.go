package dataplane

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRecordEnvoyCountsByClusterAndCode(t *testing.T) {
	m := newMetrics()
	m.recordEnvoy("test_podinfo-canary_9898", 200, 7*time.Millisecond)
	m.recordEnvoy("test_podinfo-canary_9898", 200, 30*time.Millisecond)
	m.recordEnvoy("test_podinfo-canary_9898", 503, time.Millisecond)
	m.recordEnvoy("test_podinfo-primary_9898", 0, time.Second)

	want := `
# HELP envoy_cluster_upstream_rq Upstream requests of an Envoy cluster by response code, as Envoy counts them.
# TYPE envoy_cluster_upstream_rq counter
envoy_cluster_upstream_rq{envoy_cluster_name="test_podinfo-canary_9898",envoy_response_code="200"} 2
envoy_cluster_upstream_rq{envoy_cluster_name="test_podinfo-canary_9898",envoy_response_code="503"} 1
# HELP envoy_cluster_upstream_rq_total Upstream requests of an Envoy cluster, as Envoy counts them.
# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="test_podinfo-canary_9898"} 3
envoy_cluster_upstream_rq_total{envoy_cluster_name="test_podinfo-primary_9898"} 1
`
	if err := testutil.GatherAndCompare(m.registry, strings.NewReader(want), "envoy_cluster_upstream_rq", "envoy_cluster_upstream_rq_total"); err != nil {
		t.Error(err)
	}
	// The request without an answer has no time; the three answered ones fall in Envoy's
	// millisecond buckets.
	if n := testutil.CollectAndCount(m.envoy.rqTime); n != 1 {
		t.Errorf("envoy_cluster_upstream_rq_time has %d series, want 1 (the canary cluster only)", n)
	}
	body := `
# HELP envoy_cluster_upstream_rq_time Upstream request time of an Envoy cluster in milliseconds, as Envoy measures it.
# TYPE envoy_cluster_upstream_rq_time histogram
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="0.5"} 0
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="1"} 1
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="5"} 1
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="10"} 2
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="25"} 2
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="50"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="100"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="250"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="500"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="1000"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="2500"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="5000"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="10000"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="30000"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="60000"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="300000"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="600000"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="1.8e+06"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="3.6e+06"} 3
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="test_podinfo-canary_9898",le="+Inf"} 3
envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="test_podinfo-canary_9898"} 38
envoy_cluster_upstream_rq_time_count{envoy_cluster_name="test_podinfo-canary_9898"} 3
`
	if err := testutil.GatherAndCompare(m.registry, strings.NewReader(body), "envoy_cluster_upstream_rq_time"); err != nil {
		t.Error(err)
	}
}
