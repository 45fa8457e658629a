package dataplane

import "github.com/prometheus/client_golang/prometheus"

// requestMetrics are what a proxy exposes of the requests it served: a counter of them and a
// histogram of their durations, with the same labels, each request counted in both. Istio's,
// ingress-nginx's, Traefik's and Linkerd's proxies are alike in that; they differ in names,
// labels, units and what they count a request as.
type requestMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newRequestMetrics registers with reg the counter and the histogram opts describe, both over
// labels.
func newRequestMetrics(reg prometheus.Registerer, labels []string, counter prometheus.CounterOpts, histogram prometheus.HistogramOpts) requestMetrics {
	m := requestMetrics{requests: prometheus.NewCounterVec(counter, labels), duration: prometheus.NewHistogramVec(histogram, labels)}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// observe counts one request of labels that took v, in the histogram's unit.
func (m requestMetrics) observe(labels prometheus.Labels, v float64) {
	m.requests.With(labels).Inc()
	m.duration.With(labels).Observe(v)
}
