package testapp

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// workTick is how often a Worker does the jobs due since its last tick.
const workTick = 100 * time.Millisecond

// Worker is the app of a pod in worker mode (WORK_RATE set): a pod that takes no inbound
// traffic and does jobs on its own, as a queue consumer does. It counts them by result in
// testapp_jobs_total{result="ok"|"failed"}, served in Prometheus's text format on the pod's
// /metrics, so that an analysis judges a worker by what it does rather than by requests.
type Worker struct {
	rate     float64
	errRate  float64
	random   func() float64
	ok       prometheus.Counter
	failed   prometheus.Counter
	registry *prometheus.Registry
	// due carries the fraction of a job left over from one tick to the next.
	due float64
}

// NewWorker returns the Worker of a pod's config; it does nothing until Run.
func NewWorker(cfg Config) *Worker {
	return newWorker(cfg, rand.Float64)
}

func newWorker(cfg Config, random func() float64) *Worker {
	jobs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "testapp_jobs_total",
		Help: "Jobs the test app's worker has done, by result.",
	}, []string{"result"})
	w := &Worker{
		rate: cfg.WorkRate, errRate: cfg.WorkErrorRate, random: random,
		// Both series exist from the start, at zero, so that rate() of either is defined as
		// soon as the pod is scraped.
		ok: jobs.WithLabelValues("ok"), failed: jobs.WithLabelValues("failed"),
		registry: prometheus.NewRegistry(),
	}
	w.registry.MustRegister(jobs)
	return w
}

// Run does WORK_RATE jobs a second, in ticks, until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	if w.rate <= 0 {
		return
	}
	t := time.NewTicker(workTick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w.tick(now.Sub(last))
			last = now
		}
	}
}

// tick does the jobs due in elapsed: rate times elapsed, the fraction carried over.
func (w *Worker) tick(elapsed time.Duration) {
	w.due += w.rate * elapsed.Seconds()
	n := int(w.due)
	w.due -= float64(n)
	w.do(n)
}

// do does n jobs, each failing with probability WORK_ERROR_RATE.
func (w *Worker) do(n int) {
	for range n {
		if w.errRate > 0 && w.random() < w.errRate {
			w.failed.Inc()
		} else {
			w.ok.Inc()
		}
	}
}

// Metrics serves the worker's counters in Prometheus's text format.
func (w *Worker) Metrics() http.Handler {
	return promhttp.HandlerFor(w.registry, promhttp.HandlerOpts{})
}
