package loadtester

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the load tester's own Prometheus series, on its own registry.
type metrics struct {
	requests   *prometheus.CounterVec
	errors     *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	webhooks   *prometheus.CounterVec
	background prometheus.Gauge
	panics     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siskin_loadtester_requests_total",
			Help: "Requests the load generator completed, per target.",
		}, []string{"target"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siskin_loadtester_request_errors_total",
			Help: "Requests that failed (no response, HTTP 5xx, gRPC error or not SERVING), per target.",
		}, []string{"target"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "siskin_loadtester_request_duration_seconds",
			Help:    "Latency of the load generator's requests, per target.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"target"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siskin_loadtester_webhooks_total",
			Help: "Webhook calls received, per endpoint and response code.",
		}, []string{"endpoint", "code"}),
		background: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "siskin_loadtester_background_tasks",
			Help: "Background load and command tasks running now.",
		}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siskin_loadtester_panics_total",
			Help: "Panics recovered in handlers, background tasks and load workers, per place.",
		}, []string{"where"}),
	}
	reg.MustRegister(m.requests, m.errors, m.latency, m.webhooks, m.background, m.panics,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe implements load.Observer.
func (m *metrics) Observe(target string, latency time.Duration, failed bool) {
	m.requests.WithLabelValues(target).Inc()
	if failed {
		m.errors.WithLabelValues(target).Inc()
	}
	m.latency.WithLabelValues(target).Observe(latency.Seconds())
}
