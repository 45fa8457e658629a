package dataplane

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// envoyBuckets are Envoy's default histogram buckets, in milliseconds.
var envoyBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// envoyMetrics are Envoy's upstream cluster statistics as its Prometheus admin endpoint
// exposes them (cluster.<name>.upstream_rq_<code>, upstream_rq_total and upstream_rq_time,
// with the cluster name and response code extracted into labels), for the requests that an
// Envoy-based proxy (Contour, a Gateway API implementation built on Envoy) routed. They are
// defined here once; every router that stands in for such a proxy records through
// metrics.recordEnvoy.
type envoyMetrics struct {
	rq      *prometheus.CounterVec
	rqTotal *prometheus.CounterVec
	rqTime  *prometheus.HistogramVec
}

func newEnvoyMetrics(reg prometheus.Registerer) envoyMetrics {
	e := envoyMetrics{
		rq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envoy_cluster_upstream_rq",
			Help: "Upstream requests of an Envoy cluster by response code, as Envoy counts them.",
		}, []string{"envoy_cluster_name", "envoy_response_code"}),
		rqTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "envoy_cluster_upstream_rq_total",
			Help: "Upstream requests of an Envoy cluster, as Envoy counts them.",
		}, []string{"envoy_cluster_name"}),
		rqTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "envoy_cluster_upstream_rq_time",
			Help:    "Upstream request time of an Envoy cluster in milliseconds, as Envoy measures it.",
			Buckets: envoyBuckets,
		}, []string{"envoy_cluster_name"}),
	}
	reg.MustRegister(e.rq, e.rqTotal, e.rqTime)
	return e
}

// recordEnvoy counts one request that an Envoy-based proxy sent to cluster and that was
// answered with code after d. A request whose client went away before any answer (code 0 or
// less) counts in upstream_rq_total only: Envoy records no response code nor time for it.
func (m *metrics) recordEnvoy(cluster string, code int, d time.Duration) {
	m.envoy.rqTotal.WithLabelValues(cluster).Inc()
	if code <= 0 {
		return
	}
	m.envoy.rq.WithLabelValues(cluster, strconv.Itoa(code)).Inc()
	m.envoy.rqTime.WithLabelValues(cluster).Observe(float64(d) / float64(time.Millisecond))
}
