package dataplane

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// linkerdBuckets are the bounds of Linkerd's response_latency_ms histogram, in milliseconds.
var linkerdBuckets = []float64{1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500,
	1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000}

// linkerdLabels are the labels of Linkerd's proxy response metrics as linkerd-viz's Prometheus
// scrapes them: direction, tls and status_code from the proxy; namespace, deployment and pod
// from the scraped pod.
var linkerdLabels = []string{"direction", "tls", "namespace", "deployment", "pod", "status_code", "classification"}

// linkerdMetrics are the response metrics of Linkerd's proxy on the answering pod
// (direction="inbound"), for the requests the data plane sends to a pod, as a meshed pod's
// proxy counts every request it receives, whatever routed it (an HTTPRoute whose parent is a
// Service, GAMMA, or a Gateway's).
type linkerdMetrics struct{ requestMetrics }

func newLinkerdMetrics(reg prometheus.Registerer) linkerdMetrics {
	return linkerdMetrics{newRequestMetrics(reg, linkerdLabels,
		prometheus.CounterOpts{Name: "response_total", Help: "Responses, as Linkerd's proxy counts them."},
		prometheus.HistogramOpts{
			Name:    "response_latency_ms",
			Help:    "Response latency in milliseconds, as Linkerd's proxy measures it.",
			Buckets: linkerdBuckets,
		})}
}

// record counts one response of code from a pod of workload in namespace after d. Linkerd's
// default classification of an HTTP response: a 5xx is a failure, anything else a success.
func (l linkerdMetrics) record(namespace string, ep Endpoint, code int, d time.Duration) {
	class := "success"
	if code >= 500 {
		class = "failure"
	}
	labels := prometheus.Labels{
		"direction": "inbound", "tls": "true", "namespace": namespace, "deployment": ep.Workload,
		"pod": ep.Pod, "status_code": strconv.Itoa(code), "classification": class,
	}
	l.observe(labels, float64(d)/float64(time.Millisecond))
}
