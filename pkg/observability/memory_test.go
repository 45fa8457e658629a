package observability

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// BenchmarkSeriesMemoryOfAFleet reports the heap that a fleet of 1,000 Canaries' series holds
// (bytes/canary) and the series per Canary, at rest before any rollout and after one rollout
// each. It is a measurement, not a timed test: `go test -run '^$' -bench SeriesMemory
// ./pkg/observability/`.
func BenchmarkSeriesMemoryOfAFleet(b *testing.B) {
	const fleet = 1000
	analysis := &siskinv1.CanaryAnalysis{}
	for _, c := range []struct {
		name   string
		record func(r *Recorder, c *siskinv1.Canary)
	}{
		{"initialized", func(r *Recorder, c *siskinv1.Canary) {
			c.Status.Phase = siskinv1.PhaseInitialized
			r.RecordStatus(c)
		}},
		{"after-a-rollout", func(r *Recorder, c *siskinv1.Canary) {
			for _, p := range []siskinv1.CanaryPhase{siskinv1.PhaseInitialized, siskinv1.PhaseProgressing, siskinv1.PhaseSucceeded} {
				c.Status.Phase = p
				r.RecordStatus(c)
			}
			r.RecordRollout(c, true, 0)
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var perCanary, series float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				reg := prometheus.NewRegistry()
				r, err := NewRecorder(reg)
				if err != nil {
					b.Fatal(err)
				}
				for i := range fleet {
					cn := testCanary("bench", fmt.Sprintf("app-%04d", i), "", 0)
					cn.Spec.Analysis = analysis
					c.record(r, cn)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perCanary = float64(after.HeapAlloc-before.HeapAlloc) / fleet
				n := 0
				for _, vec := range r.collectors() {
					ch := make(chan prometheus.Metric, 4*fleet)
					go func() { vec.Collect(ch); close(ch) }()
					for range ch {
						n++
					}
				}
				series = float64(n) / fleet
				runtime.KeepAlive(r)
			}
			b.ReportMetric(perCanary, "bytes/canary")
			b.ReportMetric(series, "series/canary")
		})
	}
}
