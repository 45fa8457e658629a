package main

import (
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// tiny runs a few releases of the cells selected by only and returns the cells and the
// tables without the run's first line (which holds the date, the load and the run time).
func tiny(t *testing.T, args ...string) ([]*cell, string) {
	t.Helper()
	cfg, err := parseFlags(append([]string{"-good", "4", "-n", "4"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	cs := cells(cfg)
	simulate(cfg, cs)
	var b strings.Builder
	report(&b, cs)
	return cs, b.String()
}

func TestTheSameSeedPrintsTheSameTablesWhateverTheWorkers(t *testing.T) {
	args := []string{"-rps", "50", "-schedules", "a,b", "-only", "0.3%"}
	_, one := tiny(t, append(args, "-workers", "1")...)
	_, two := tiny(t, append(args, "-workers", "2")...)
	if one != two {
		t.Fatalf("two runs of one seed differ:\n%s\n---\n%s", one, two)
	}
	_, other := tiny(t, append(args, "-seed", "2")...)
	if other == one {
		t.Error("another seed printed the same tables")
	}
	if !strings.Contains(one, "| errors ×2 over 0.3% | 50 | 4 |") {
		t.Errorf("no row of the ×2 release in\n%s", one)
	}
}

func TestAGoodReleaseIsNotRolledBackByThresholdsAt500RPS(t *testing.T) {
	cs, _ := tiny(t, "-good", "20", "-rps", "500", "-schedules", "a", "-only", "A/A, errors 0.3%")
	if len(cs) != 1 {
		t.Fatalf("%d cells, want 1", len(cs))
	}
	s := summarise(cs[0].res[modeThreshold])
	if s.n != 20 || s.rolledBack != 0 || len(s.promo) != 20 {
		t.Fatalf("threshold mode: %d of %d rolled back, %d promoted; want all promoted", s.rolledBack, s.n, len(s.promo))
	}
	// Start, two steps at weight 0 (the second without waiting for data), five steps from 10%
	// to 50%, then the promotion step.
	if got := median(s.promo); got != 420 {
		t.Errorf("median time to promotion %gs, want 420s", got)
	}
}

func TestAFivefoldRegressionIsCaughtByEveryModeAt500RPS(t *testing.T) {
	cs, _ := tiny(t, "-rps", "500", "-schedules", "a", "-only", "errors ×5 over 0.8%")
	for m := range nModes {
		s := summarise(cs[0].res[m])
		if s.rolledBack != s.n {
			t.Errorf("%s: %d of %d rolled back, want all", m, s.rolledBack, s.n)
		}
		// Schedule (a) leaves the canary's first minute out (warmup 1m); the next looks decide.
		if m == modeSequential && median(s.ttd) > 90 {
			t.Errorf("sequential: median time to detect %gs, want at most the 1m warm-up and 30s", median(s.ttd))
		}
	}
}

func TestTheFixedErrorTestIsTheExactConditionalBinomialTail(t *testing.T) {
	// 30 canary errors and 10 control errors over equal traffic: under ratio 1.1 a canary
	// error is the canary's with probability 1.1/2.1.
	got := ratioPValue(30, 1000, 10, 1000, 1.1)
	var want float64
	theta := 1.1 / 2.1
	for k := 30; k <= 40; k++ {
		want += distuv.Binomial{N: 40, P: theta}.Prob(float64(k))
	}
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("p-value %g, want %g", got, want)
	}
	if p := ratioPValue(0, 1000, 5, 1000, 1.1); p != 1 {
		t.Errorf("no canary error: p-value %g, want 1", p)
	}
}

func TestTheFixedLatencyTestComparesAtTheControlsQuantileBuckets(t *testing.T) {
	var ct tally
	// 100 requests: 60 up to 50 ms, 35 up to 100 ms, 4 up to 250 ms, 1 up to 500 ms.
	ct.buckets[5], ct.buckets[6], ct.buckets[7], ct.buckets[8] = 60, 35, 4, 1
	ct.req = 100
	got := tailBounds(&ct)
	want := []float64{50, 100, 250}
	if len(got) != len(want) {
		t.Fatalf("bounds %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("bounds %v, want %v", got, want)
		}
	}
	if n := above(&ct, 100); n != 5 {
		t.Errorf("%g requests above 100 ms, want 5", n)
	}
}
