package sequential

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bounds are Istio's default latency buckets, in milliseconds.
var bounds = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, math.Inf(1)}

// histogram draws n log-normal latencies (median m milliseconds) into cumulative buckets.
func histogram(rng *rand.Rand, n int, m float64) []Bucket {
	out := make([]Bucket, len(bounds))
	for i, b := range bounds {
		out[i].UpperBound = b
	}
	for range n {
		v := m * math.Exp(0.8*rng.NormFloat64())
		for i, b := range bounds {
			if v <= b {
				out[i].Count++
			}
		}
	}
	return out
}

// tailRuns counts the rollouts whose regression evidence reaches 1/alpha when the canary's
// median is slower by the factor given.
func tailRuns(seed uint64, n int, slower, alpha float64) int {
	rng := rand.New(rand.NewPCG(seed, 3))
	crossed := 0
	for range n {
		var test Tail
		for range 20 {
			test.Observe(histogram(rng, 60, 40*slower), histogram(rng, 540, 40))
			if e, _, _ := test.Evidence(Index(1.1)); e >= 1/alpha {
				crossed++
				break
			}
		}
	}
	return crossed
}

func TestTailHoldsAlphaAndFindsSlowerCanaries(t *testing.T) {
	const alpha = 0.05
	if got := tailRuns(23, 300, 1, alpha); !within(got, 300, alpha) {
		t.Errorf("%d of 300 A/A rollouts showed a latency regression; alpha is %g", got, alpha)
	}
	if got := tailRuns(29, 60, 2, 0.01); got < 57 {
		t.Errorf("a canary twice as slow was found in %d of 60 rollouts", got)
	}
}

func TestTailChoosesBoundsFromTheControlAndRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 4))
	var test Tail
	test.Observe(histogram(rng, 10, 40), histogram(rng, 30, 40))
	if len(test.Bounds) != 0 {
		t.Fatalf("bounds %v chosen from %d control requests, want none below %d", test.Bounds, 30, MinControl)
	}
	test.Observe(histogram(rng, 10, 40), histogram(rng, 300, 40))
	if len(test.Bounds) == 0 || len(test.Bounds) > MaxThresholds {
		t.Fatalf("bounds %v after 330 control requests", test.Bounds)
	}
	for i := 1; i < len(test.Bounds); i++ {
		if test.Bounds[i] <= test.Bounds[i-1] || math.IsInf(test.Bounds[i], 1) {
			t.Fatalf("bounds %v are not increasing and finite", test.Bounds)
		}
	}
	var back Tail
	if err := back.Unmarshal(test.Marshal()); err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(back.Control[len(back.Control)-1].UpperBound, 1) || Total(back.Control) != Total(test.Control) {
		t.Fatalf("the control's buckets did not survive a round trip: %v", back.Control)
	}
	if err := back.Unmarshal(`{"b":[1,2],"t":[""]}`); err == nil {
		t.Fatal("a state with a test missing was accepted")
	}
}

func TestQuantileInterpolatesWithinTheBucket(t *testing.T) {
	bs := []Bucket{{10, 50}, {100, 90}, {math.Inf(1), 100}}
	for _, tc := range []struct{ q, want float64 }{{0.5, 10}, {0.7, 55}, {0.95, 100}} {
		if got := Quantile(bs, tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Quantile(%g) = %g, want %g", tc.q, got, tc.want)
		}
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("a quantile of nothing is not NaN")
	}
	if got := CountAbove(bs, 10); got != 50 {
		t.Errorf("CountAbove(10) = %g, want 50", got)
	}
}

func TestTailRefusesUnusableBuckets(t *testing.T) {
	var test Tail
	if test.Observe(nil, []Bucket{{1, 1}}) || test.Observe([]Bucket{{math.NaN(), 1}}, []Bucket{{1, 1}}) {
		t.Fatal("a look without usable canary buckets was taken")
	}
}

// empty is what an empty query result becomes: a lone +Inf bucket of 0.
var empty = []Bucket{{UpperBound: math.Inf(1)}}

func TestAnEmptyLookDoesNotFreezeTheHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 5))
	var test Tail
	// A baseline that has no traffic yet in the first looks.
	test.Observe(histogram(rng, 20, 40), empty)
	test.Observe(empty, empty)
	for range 5 {
		test.Observe(histogram(rng, 60, 40), histogram(rng, 60, 40))
	}
	if len(test.Bounds) == 0 {
		t.Fatalf("no bounds chosen after 300 control requests that followed empty looks; control buckets %v", test.Control)
	}
	if q := Quantile(test.Canary, 0.99); !(q > 40) {
		t.Fatalf("canary p99 %g after its first looks: its histogram lost its bounds", q)
	}
}

func TestALookWithoutTheBoundGivesNoEvidence(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 6))
	var test Tail
	test.Observe(histogram(rng, 100, 40), histogram(rng, 400, 40))
	if len(test.Bounds) == 0 {
		t.Fatal("no bounds chosen")
	}
	before := test.Marshal()
	// Requests counted but no finite buckets: nothing says which were slower.
	for range 20 {
		test.Observe([]Bucket{{UpperBound: math.Inf(1), Count: 500}}, histogram(rng, 500, 40))
	}
	after := Tail{}
	_ = after.Unmarshal(test.Marshal())
	prev := Tail{}
	_ = prev.Unmarshal(before)
	for i := range after.Tests {
		if after.Tests[i] != prev.Tests[i] {
			t.Fatalf("the test at bound %g changed on looks whose canary histogram lacks the bound", after.Bounds[i])
		}
	}
}
