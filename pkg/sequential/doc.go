// Package sequential holds the anytime-valid sequential tests that compare a canary with its
// control: their evidence may be looked at after every batch of data, and the probability that
// it ever crosses 1/alpha when the null hypothesis holds stays at most alpha (Ville's
// inequality for nonnegative supermartingales).
//
// Both versions' events (errors, or requests slower than a bucket bound) are modelled as
// Poisson processes whose rate is proportional to the requests each version serves. Given
// that an event happened in a look, it is the canary's with probability
//
//	theta = r*nc / (r*nc + np)
//
// where nc and np are the requests the canary and the control served in that look and r is
// the ratio of the canary's event rate to the control's. Conditioning on the events of each
// look removes the unknown base rate, and the per-look exposures follow the traffic split as
// it changes between steps. The likelihood of the canary's share of the events is tracked on a
// grid of log r; mixing the likelihood ratio over a prior on the alternatives gives a
// nonnegative (super)martingale under the null (the mixture sequential probability ratio test
// of Robbins, used for software regressions by Lindon, Sanden and Shirikian, KDD 2022). One
// side of the null gives the regression test, the other the non-inferiority test, and
// inverting the two-sided mixture gives a confidence sequence for r.
//
// See docs/analysis.md.
package sequential
