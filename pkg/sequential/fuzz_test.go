package sequential

import (
	"math"
	"testing"
)

// FuzzObserve feeds the tests hostile counts and states (a status edited by hand, a query that
// returns nonsense): nothing may panic, and evidence is never NaN or negative.
func FuzzObserve(f *testing.F) {
	f.Add(3.0, 100.0, 5.0, 900.0, "", 0.5, 40.0)
	f.Add(-1.0, math.Inf(1), math.NaN(), 0.0, "AAAA", 1e300, -5.0)
	f.Add(1e308, 1e-308, 1e308, 1e-308, `{"b":[1],"t":["x"]}`, 0.0, 0.0)
	f.Fuzz(func(t *testing.T, ec, nc, ep, np float64, state string, bound, count float64) {
		var r Ratio
		_ = r.Unmarshal(state)
		r.Observe(ec, nc, ep, np)
		for _, k := range []int{0, Index(1.1), GridSize - 1} {
			for _, e := range []float64{r.Regression(k), r.NotWorse(k)} {
				if math.IsNaN(e) || e < 0 {
					t.Fatalf("evidence %g at grid point %d", e, k)
				}
			}
		}
		if lo, hi := r.Interval(0.05); !(lo > 0 && hi >= lo) {
			t.Fatalf("interval %g-%g", lo, hi)
		}
		var tail Tail
		_ = tail.Unmarshal(state)
		bs := []Bucket{{bound, count}, {math.Inf(1), count * 2}}
		tail.Observe(bs, bs)
		tail.Observe(bs, []Bucket{{bound, count}, {math.Inf(1), 1e6}})
		if reg, pass, _ := tail.Evidence(Index(1.1)); math.IsNaN(reg) || math.IsNaN(pass) || reg < 0 || pass < 0 {
			t.Fatalf("tail evidence %g %g", reg, pass)
		}
		var back Tail
		if err := back.Unmarshal(tail.Marshal()); err != nil && len(tail.Bounds) <= MaxThresholds {
			t.Fatalf("a state Marshal wrote is refused: %v", err)
		}
	})
}
