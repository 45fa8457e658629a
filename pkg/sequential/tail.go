package sequential

import (
	"encoding/json"
	"math"
	"sort"
)

// MaxThresholds is the number of bucket bounds a Tail test compares at.
const MaxThresholds = 3

// tailQuantiles are the control's quantiles whose nearest bucket bounds become the thresholds.
var tailQuantiles = [MaxThresholds]float64{0.5, 0.9, 0.99}

// Bucket is one cumulative histogram bucket: Count observations at most UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Tail is the sequential test of stochastic order between two histograms (latency): is a
// canary request more likely than a control request to be slower than a bucket bound? Once
// the control has MinControl requests, up to three bucket bounds are chosen from the
// control's distribution so far (near its median, 90th and 99th percentiles), and from the
// next look on each bound gets a Ratio test whose events are the requests slower than it. The
// choice uses past looks only, so each test keeps its guarantee.
//
// Regression evidence is the mean of the three tests' (an average of e-processes is one):
// a canary that is slower anywhere in the distribution shows at the bound that sees it, at the
// price of a factor of three. Non-inferiority needs every bound's own evidence (an
// intersection of nulls needs no correction).
type Tail struct {
	// Bounds are the chosen thresholds, empty before the choice.
	Bounds []float64 `json:"b,omitempty"`
	// Tests are the Ratio tests of Bounds, marshalled.
	Tests []string `json:"t,omitempty"`
	// Canary and Control are the cumulative bucket counts of all looks, for the choice and for
	// the quantiles shown to people.
	Canary  []Bucket `json:"c,omitempty"`
	Control []Bucket `json:"p,omitempty"`
}

// MinControl is the number of control requests the thresholds are chosen from.
const MinControl = 50

// Observe adds one look's bucket counts of both versions (cumulative within the look,
// increasing bounds). It reports false, changing nothing, when the buckets are unusable.
func (t *Tail) Observe(canary, control []Bucket) bool {
	canary, control = clean(canary), clean(control)
	if canary == nil || control == nil {
		return false
	}
	if nc, np := total(canary), total(control); len(t.Bounds) > 0 && nc > 0 && np > 0 {
		for i, b := range t.Bounds {
			var r Ratio
			if !hasBound(canary, b) || !hasBound(control, b) || r.Unmarshal(t.Tests[i]) != nil {
				// A histogram without the bound cannot say which requests were slower.
				continue
			}
			r.Observe(nc-countAt(canary, b), nc, np-countAt(control, b), np)
			t.Tests[i] = r.Marshal()
		}
	}
	t.Canary, t.Control = add(t.Canary, canary), add(t.Control, control)
	if len(t.Bounds) == 0 && total(t.Control) >= MinControl {
		t.choose()
	}
	return true
}

// choose picks the bucket bounds nearest above the control's quantiles, distinct and finite.
func (t *Tail) choose() {
	for _, q := range tailQuantiles {
		b := boundAbove(t.Control, q)
		if math.IsInf(b, 1) || (len(t.Bounds) > 0 && t.Bounds[len(t.Bounds)-1] == b) {
			continue
		}
		t.Bounds = append(t.Bounds, b)
		t.Tests = append(t.Tests, (&Ratio{}).Marshal())
	}
}

// boundAbove is the smallest bucket bound with at least a share q of the observations.
func boundAbove(bs []Bucket, q float64) float64 {
	n := total(bs)
	for _, b := range bs {
		if b.Count >= q*n {
			return b.UpperBound
		}
	}
	return math.Inf(1)
}

// Evidence returns, at grid point k, the regression evidence (mean over the bounds) and the
// non-inferiority evidence (minimum over the bounds), and the index of the bound with the
// strongest regression evidence (-1 before the bounds are chosen).
func (t *Tail) Evidence(k int) (regression, notWorse float64, worst int) {
	worst = -1
	if len(t.Bounds) == 0 {
		return 0, 0, -1
	}
	notWorse = math.Inf(1)
	best := -1.0
	for i := range t.Bounds {
		var r Ratio
		if r.Unmarshal(t.Tests[i]) != nil {
			return 0, 0, -1
		}
		e := r.Regression(k)
		regression += e / float64(len(t.Bounds))
		notWorse = math.Min(notWorse, r.NotWorse(k))
		if e > best {
			best, worst = e, i
		}
	}
	return regression, notWorse, worst
}

// Test returns the Ratio test of bound i.
func (t *Tail) Test(i int) Ratio {
	var r Ratio
	_ = r.Unmarshal(t.Tests[i])
	return r
}

// Quantile is a version's q-quantile by linear interpolation within its bucket, as Prometheus'
// histogram_quantile does; NaN without data.
func Quantile(bs []Bucket, q float64) float64 {
	n := total(bs)
	if n <= 0 {
		return math.NaN()
	}
	rank := q * n
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if b.Count >= rank {
			if math.IsInf(b.UpperBound, 1) {
				return lower
			}
			if b.Count == below {
				return b.UpperBound
			}
			return lower + (b.UpperBound-lower)*(rank-below)/(b.Count-below)
		}
		lower, below = b.UpperBound, b.Count
	}
	return lower
}

// Total is the number of observations in cumulative buckets (the last bucket's count).
func Total(bs []Bucket) float64 { return total(bs) }

// CountAbove is the number of observations above bound b.
func CountAbove(bs []Bucket, b float64) float64 { return total(bs) - countAt(bs, b) }

func total(bs []Bucket) float64 {
	if len(bs) == 0 {
		return 0
	}
	return bs[len(bs)-1].Count
}

// countAt is the cumulative count at bound b: the count of the largest bucket bound at most b
// (a cumulative histogram is a step function), 0 below the first.
func countAt(bs []Bucket, b float64) float64 {
	i := sort.Search(len(bs), func(i int) bool { return bs[i].UpperBound > b })
	if i == 0 {
		return 0
	}
	return bs[i-1].Count
}

// hasBound reports whether a histogram has a bucket with upper bound b.
func hasBound(bs []Bucket, b float64) bool {
	i := sort.Search(len(bs), func(i int) bool { return bs[i].UpperBound >= b })
	return i < len(bs) && bs[i].UpperBound == b
}

// clean returns the buckets sorted, with counts made cumulative-monotone and non-negative
// (extrapolated increases can dip), or nil when there is nothing usable.
func clean(bs []Bucket) []Bucket {
	out := make([]Bucket, 0, len(bs))
	for _, b := range bs {
		if math.IsNaN(b.UpperBound) || math.IsNaN(b.Count) || math.IsInf(b.Count, 0) {
			continue
		}
		out = append(out, Bucket{UpperBound: b.UpperBound, Count: math.Max(b.Count, 0)})
	}
	if len(out) == 0 {
		return nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UpperBound < out[j].UpperBound })
	for i := 1; i < len(out); i++ {
		out[i].Count = math.Max(out[i].Count, out[i-1].Count)
	}
	return out
}

// add sums two cumulative histograms over the union of their bounds. An empty histogram (no
// requests, which an empty query result gives as a lone +Inf bucket) adds nothing, so it never
// takes the bounds of the other away.
func add(a, b []Bucket) []Bucket {
	switch {
	case total(b) == 0:
		return a
	case total(a) == 0:
		return append([]Bucket(nil), b...)
	}
	bounds := make([]float64, 0, len(a)+len(b))
	for _, x := range a {
		bounds = append(bounds, x.UpperBound)
	}
	for _, x := range b {
		bounds = append(bounds, x.UpperBound)
	}
	sort.Float64s(bounds)
	out := make([]Bucket, 0, len(bounds))
	for i, ub := range bounds {
		if i > 0 && ub == bounds[i-1] {
			continue
		}
		out = append(out, Bucket{UpperBound: ub, Count: countAt(a, ub) + countAt(b, ub)})
	}
	return out
}

// Marshal encodes the test's state. JSON has no infinity: the +Inf bound is stored as the
// largest float.
func (t *Tail) Marshal() string {
	c := *t
	c.Canary, c.Control = swapInf(c.Canary, math.Inf(1), math.MaxFloat64), swapInf(c.Control, math.Inf(1), math.MaxFloat64)
	b, err := json.Marshal(&c)
	if err != nil {
		return ""
	}
	return string(b)
}

// swapInf returns bs with the bound from replaced by to.
func swapInf(bs []Bucket, from, to float64) []Bucket {
	out := append([]Bucket(nil), bs...)
	for i := range out {
		if out[i].UpperBound == from {
			out[i].UpperBound = to
		}
	}
	return out
}

// Unmarshal restores a state written by Marshal; "" is the state before any look.
func (t *Tail) Unmarshal(s string) error {
	*t = Tail{}
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), t); err != nil || len(t.Tests) != len(t.Bounds) || len(t.Bounds) > MaxThresholds {
		*t = Tail{}
		return ErrState
	}
	t.Canary, t.Control = swapInf(t.Canary, math.MaxFloat64, math.Inf(1)), swapInf(t.Control, math.MaxFloat64, math.Inf(1))
	return nil
}
