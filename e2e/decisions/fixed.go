package main

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// fixedQuantiles are the control quantiles whose bucket bounds the fixed latency test uses:
// the bounds the sequential tail test compares at.
var fixedQuantiles = [...]float64{0.5, 0.9, 0.99}

// fixedResult is the outcome of the fixed-horizon tests of one rollout.
type fixedResult struct {
	reject bool
	// errP is the p-value of the error test, latP the smallest of the latency tests' at
	// latBound; errAlpha and latAlpha the levels they were held to.
	errP, latP         float64
	latBound           float64
	errAlpha, latAlpha float64
}

// fixedTest is the reference fixed-horizon test, run once on all counts of a rollout at the
// comparison's alpha (shared equally by the two metrics) and margin.
//
// Errors: given the total of errors E, the canary's errors are Binomial(E, θ) with
// θ = r·nc/(r·nc + np) when the canary's error rate is r times the control's; the null
// r ≤ 1+margin is rejected when P(X ≥ canary errors | θ at r = 1+margin) ≤ alpha/2, an
// exact conditional test.
//
// Latency: the same binomial test on the requests slower than each bucket bound nearest above
// the control's p50, p90 and p99 of the rollout (distinct, finite), Bonferroni over the bounds
// at alpha/2 in all: a canary slower anywhere in the distribution shows at the bound that sees
// it, as in the sequential tail test.
func fixedTest(cn, ct *tally, alpha, margin float64) fixedResult {
	r := fixedResult{errAlpha: alpha / 2, latP: 1, errP: 1, latBound: math.NaN()}
	r.errP = ratioPValue(cn.err, cn.req, ct.err, ct.req, 1+margin)
	bs := tailBounds(ct)
	r.latAlpha = alpha / 2
	if len(bs) > 0 {
		r.latAlpha /= float64(len(bs))
	}
	for _, b := range bs {
		p := ratioPValue(above(cn, b), cn.req, above(ct, b), ct.req, 1+margin)
		if p < r.latP {
			r.latP, r.latBound = p, b
		}
	}
	r.reject = r.errP <= r.errAlpha || r.latP <= r.latAlpha
	return r
}

// String says what the fixed test found.
func (r fixedResult) String() string {
	return fmt.Sprintf("errors p=%.3g (limit %.3g); latency p=%.3g at %s ms (limit %.3g each)", r.errP, r.errAlpha, r.latP, formatValue(r.latBound), r.latAlpha)
}

// ratioPValue is the one-sided p-value of "the canary's event rate is at most ratio times the
// control's", given ec events in nc canary requests and ep in np control requests.
func ratioPValue(ec, nc, ep, np, ratio float64) float64 {
	e := ec + ep
	if e == 0 || nc == 0 || np == 0 || ec == 0 {
		return 1
	}
	theta := ratio * nc / (ratio*nc + np)
	return distuv.Binomial{N: e, P: theta}.Survival(ec - 1)
}

// tailBounds are the bucket bounds nearest above the quantiles of t, distinct and finite.
func tailBounds(t *tally) []float64 {
	var out []float64
	if t.req == 0 {
		return nil
	}
	for _, q := range fixedQuantiles {
		var sum float64
		for i, n := range t.buckets {
			sum += n
			if sum >= q*t.req {
				b := bounds[i]
				if !math.IsInf(b, 1) && (len(out) == 0 || out[len(out)-1] != b) {
					out = append(out, b)
				}
				break
			}
		}
	}
	return out
}

// above is the number of requests of t slower than bound b.
func above(t *tally, b float64) float64 {
	var n float64
	for i, ub := range bounds {
		if ub > b {
			n += t.buckets[i]
		}
	}
	return n
}
