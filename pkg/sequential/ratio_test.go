package sequential

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// look draws one look's counts: n requests split by the canary's share w, events at the
// control's base rate and r times it on the canary.
func look(rng *rand.Rand, n, w, base, r float64) (ec, nc, ep, np float64) {
	src := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	nc = distuv.Poisson{Lambda: n * w, Src: src}.Rand()
	np = distuv.Poisson{Lambda: n * (1 - w), Src: src}.Rand()
	ec = distuv.Poisson{Lambda: nc * base * r, Src: src}.Rand()
	ep = distuv.Poisson{Lambda: np * base, Src: src}.Rand()
	return ec, nc, ep, np
}

// runs counts, over many simulated rollouts of the given true ratio, those whose evidence
// (ask) ever reaches 1/alpha within looks looks.
func runs(t *testing.T, seed uint64, n int, r float64, ask func(*Ratio) float64, alpha float64) int {
	t.Helper()
	return runsAt(t, seed, n, 0.005, r, ask, alpha)
}

func runsAt(t *testing.T, seed uint64, n int, base, r float64, ask func(*Ratio) float64, alpha float64) int {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	crossed := 0
	for range n {
		var test Ratio
		for l := range 30 {
			w := []float64{0.1, 0.2, 0.3, 0.4, 0.5}[min(l/6, 4)]
			test.Observe(look(rng, 2000, w, base, r))
			if ask(&test) >= 1/alpha {
				crossed++
				break
			}
		}
	}
	return crossed
}

// within reports whether k of n is at most p plus three standard errors.
func within(k, n int, p float64) bool {
	return float64(k)/float64(n) <= p+3*math.Sqrt(p*(1-p)/float64(n))
}

func TestRegressionEvidenceHoldsAlphaAtEveryLook(t *testing.T) {
	const alpha, n = 0.05, 600
	for _, tc := range []struct {
		name   string
		truth  float64
		margin float64
	}{
		{"A/A against no margin", 1, 1},
		{"at the margin", 1.1, 1.1},
		{"better than the control", 0.7, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := Index(tc.margin)
			got := runs(t, 7, n, tc.truth, func(r *Ratio) float64 { return r.Regression(k) }, alpha)
			if !within(got, n, alpha) {
				t.Fatalf("%d of %d rollouts crossed 1/alpha without a regression; alpha is %g", got, n, alpha)
			}
		})
	}
}

func TestRegressionEvidenceFindsARegression(t *testing.T) {
	const alpha, n = 0.01, 200
	k := Index(1.1)
	for _, tc := range []struct {
		truth float64
		least float64
	}{{2, 0.95}, {5, 0.99}} {
		got := runs(t, 11, n, tc.truth, func(r *Ratio) float64 { return r.Regression(k) }, alpha)
		if float64(got)/n < tc.least {
			t.Errorf("a %gx regression was found in %d of %d rollouts, want at least %.0f%%", tc.truth, got, n, 100*tc.least)
		}
	}
}

func TestNotWorseEvidenceHoldsAlphaAndPassesGoodReleases(t *testing.T) {
	const alpha, n = 0.05, 400
	k := Index(1.25)
	bad := runs(t, 13, n, 1.25, func(r *Ratio) float64 { return r.NotWorse(k) }, alpha)
	if !within(bad, n, alpha) {
		t.Errorf("%d of %d releases 25%% worse were shown not worse than 1.25x; alpha is %g", bad, n, alpha)
	}
	// About 750 canary and 1,750 control errors in the rollout.
	good := runsAt(t, 17, n/4, 0.05, 1, func(r *Ratio) float64 { return r.NotWorse(k) }, alpha)
	if float64(good)/float64(n/4) < 0.8 {
		t.Errorf("only %d of %d A/A releases were shown not worse than 1.25x", good, n/4)
	}
}

func TestIntervalCoversTheRatioAtEveryLook(t *testing.T) {
	const alpha, n, truth = 0.05, 300, 1.5
	rng := rand.New(rand.NewPCG(19, 2))
	missed := 0
	var width float64
	for range n {
		var test Ratio
		miss := false
		for l := range 20 {
			test.Observe(look(rng, 3000, 0.1+0.02*float64(l), 0.01, truth))
			lo, hi := test.Interval(alpha)
			// The grid's resolution is 5%: the truth lies between grid points.
			if truth < lo/1.05 || truth > hi*1.05 {
				miss = true
			}
			if l == 19 {
				width += hi / lo
			}
		}
		if miss {
			missed++
		}
	}
	if !within(missed, n, alpha) {
		t.Fatalf("the confidence sequence missed the true ratio at some look in %d of %d rollouts", missed, n)
	}
	if w := width / n; w > 2 {
		t.Errorf("the final interval is %.2fx wide on average; it should narrow with 60,000 requests", w)
	}
}

func TestNoEvidenceWithoutEventsOrTraffic(t *testing.T) {
	var test Ratio
	test.Observe(0, 100, 0, 900)
	test.Observe(3, 0, 1, 900)
	test.Observe(math.NaN(), 100, 1, 900)
	test.Observe(math.Inf(1), 100, 1, 900)
	if e := test.Regression(Index(1)); math.Abs(e-1) > 1e-9 {
		t.Fatalf("evidence %g after looks that carry no information, want 1", e)
	}
	if lo, hi := test.Interval(0.05); lo > 0.06 || hi < 19 {
		t.Fatalf("interval %g-%g before any evidence, want the whole grid", lo, hi)
	}
}

func TestStateRoundTrips(t *testing.T) {
	var a Ratio
	a.Observe(30, 1000, 40, 9000)
	a.Observe(25, 1000, 50, 9000)
	var b Ratio
	if err := b.Unmarshal(a.Marshal()); err != nil {
		t.Fatal(err)
	}
	k := Index(1.1)
	if ea, eb := a.Regression(k), b.Regression(k); math.Abs(ea-eb)/ea > 1e-4 {
		t.Fatalf("evidence %g after a round trip, %g before", eb, ea)
	}
	for _, bad := range []string{"!!", "AAAA", a.Marshal()[:40]} {
		if err := b.Unmarshal(bad); err == nil {
			t.Errorf("Unmarshal(%q) accepted a state Marshal did not write", bad)
		}
	}
}
