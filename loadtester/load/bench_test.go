package load

import (
	"math"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkRate200 runs the generator at 200 requests per second for three seconds against a
// local server and reports the achieved rate and how far the run's length strayed from the
// requested duration. Run it with: go test -run '^$' -bench Rate200 ./loadtester/load/
func BenchmarkRate200(b *testing.B) {
	srv := httptest.NewServer(flaky(0, nil))
	defer srv.Close()
	const (
		rate     = 200
		duration = 3 * time.Second
	)
	var rps, durErr, p99 float64
	runs := 0
	for b.Loop() {
		res, err := Run(b.Context(), Spec{
			HTTP: &HTTPTarget{URL: srv.URL}, Rate: rate, Concurrency: 8, Duration: duration,
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if res.Errors > 0 {
			b.Fatalf("%d errors: %s", res.Errors, res.FirstError)
		}
		rps += res.Rate
		durErr += math.Abs(res.DurationMs - float64(duration/time.Millisecond))
		p99 += res.P99Ms
		runs++
	}
	b.ReportMetric(rps/float64(runs), "rps")
	b.ReportMetric(durErr/float64(runs), "duration-error-ms")
	b.ReportMetric(p99/float64(runs), "p99-ms")
}
