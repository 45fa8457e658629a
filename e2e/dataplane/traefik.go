package dataplane

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// traefikBuckets are Traefik's default Prometheus buckets for request durations, in seconds.
var traefikBuckets = []float64{0.1, 0.3, 1.2, 5}

// traefikMetricLabels are the labels of Traefik's service metrics.
var traefikMetricLabels = []string{"service", "code", "method", "protocol"}

// traefikMetrics are Traefik's service metrics as its Prometheus endpoint exposes them
// (traefik_service_requests_total and traefik_service_request_duration_seconds), for the
// requests that Traefik sent to the servers of a load-balancer service. Traefik records them
// on such leaf services only, named as its Kubernetes CRD provider names them (for example
// <namespace>-<service>-<port>@kubernetescrd), never on a weighted or mirroring TraefikService
// itself. They are defined here once; every router that stands in for Traefik records through
// metrics.recordTraefik.
type traefikMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newTraefikMetrics(reg prometheus.Registerer) traefikMetrics {
	t := traefikMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "traefik_service_requests_total",
			Help: "Requests processed by a service, as Traefik counts them.",
		}, traefikMetricLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "traefik_service_request_duration_seconds",
			Help:    "Request processing duration on a service in seconds, as Traefik measures it.",
			Buckets: traefikBuckets,
		}, traefikMetricLabels),
	}
	reg.MustRegister(t.requests, t.duration)
	return t
}

// recordTraefik counts one request that Traefik sent to service (its qualified name, such as
// test-podinfo-canary-9898@kubernetescrd) and that was answered with code after d. A client
// that went away before the answer (code 0 or less) is Traefik's 499.
func (m *metrics) recordTraefik(service, method string, code int, d time.Duration) {
	if code <= 0 {
		code = 499
	}
	labels := []string{service, strconv.Itoa(code), method, "http"}
	m.traefik.requests.WithLabelValues(labels...).Inc()
	m.traefik.duration.WithLabelValues(labels...).Observe(d.Seconds())
}
