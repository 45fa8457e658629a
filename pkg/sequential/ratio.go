package sequential

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat/distuv"
)

// The grid of log rate ratios the likelihood is tracked on: from 1/e^3 (about 1/20) to e^3
// (about 20) in steps of 0.05 (5%). A margin is rounded to the nearest grid point, so the test
// of that null is exact on the grid.
const (
	gridMin  = -3.0
	gridStep = 0.05
	// GridSize is the number of grid points.
	GridSize = 121
)

// priorScales are the standard deviations, in log ratio, of the two normal priors (weighted
// equally) that mix the alternatives around the null for the non-inferiority test and the
// confidence sequence: a narrow one for effects of 10-30%, and a wide one for 2x to 20x. Each
// costs at most a factor of two against the better one alone.
var priorScales = [2]float64{0.2, 1.0}

// logPrior is the log density of the prior of alternative beta around the null mu.
func logPrior(beta, mu float64) float64 {
	var terms [len(priorScales)]float64
	for i, s := range priorScales {
		terms[i] = distuv.Normal{Mu: mu, Sigma: s}.LogProb(beta) - math.Ln2
	}
	return floats.LogSumExp(terms[:])
}

// gridBeta is the log ratio of grid point j.
func gridBeta(j int) float64 { return gridMin + float64(j)*gridStep }

// Ratio is the sequential test of the ratio of the canary's event rate to the control's. Its
// zero value has seen nothing.
type Ratio struct {
	// ll is the log-likelihood of the observed event splits at each grid point, relative to its
	// maximum (so it stays bounded however long the test runs).
	ll [GridSize]float64
}

// Observe adds one look: ec events over nc requests of the canary, ep events over np requests
// of the control. A look without requests on either side, or without events, carries no
// information about r and changes nothing.
func (t *Ratio) Observe(ec, nc, ep, np float64) {
	if !(nc > 0 && np > 0 && ec >= 0 && ep >= 0 && ec+ep > 0) || math.IsInf(nc+np+ec+ep, 0) {
		return
	}
	offset := math.Log(nc / np)
	next := t.ll
	top := math.Inf(-1)
	for j := range next {
		eta := gridBeta(j) + offset
		next[j] += ec*logSigmoid(eta) + ep*logSigmoid(-eta)
		top = math.Max(top, next[j])
	}
	if math.IsNaN(top) || math.IsInf(top, 0) {
		return // counts beyond anything a look can hold
	}
	for j := range next {
		// A floor keeps differences finite; a point this far below the best is refuted anyway.
		next[j] = math.Max(next[j]-top, llFloor)
	}
	t.ll = next
}

// llFloor is the least relative log-likelihood kept.
const llFloor = -1e6

// logSigmoid is log(1/(1+e^-x)), stable at both ends.
func logSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

// Index is the grid point nearest to the ratio r (clamped to the grid).
func Index(r float64) int {
	if !(r > 0) {
		return 0
	}
	j := int(math.Round((math.Log(r) - gridMin) / gridStep))
	return min(max(j, 0), GridSize-1)
}

// GridRatio is the ratio at grid point j.
func GridRatio(j int) float64 { return math.Exp(gridBeta(j)) }

// side selects the alternatives mixed against a null at one grid point.
type side int

const (
	above side = iota
	below
	both
)

// regressionPrior is the log density of the alternatives of the regression test, d log-ratio
// steps above its null: an equal mix of normals around +0.5 (sd 0.2) and +1.2 (sd 0.4), the
// regressions worth rolling back for (about 1.6x and 3.3x the margin). Putting no mass on
// alternatives the data can hardly tell from the null makes the test markedly quicker on the
// regressions that matter (a 2x regression over a 0.3% error rate is caught about twice as
// often as with priors centred on the null, at the same alpha).
func regressionPrior(x float64) float64 {
	return floats.LogSumExp([]float64{
		distuv.Normal{Mu: 0.5, Sigma: 0.2}.LogProb(x) - math.Ln2,
		distuv.Normal{Mu: 1.2, Sigma: 0.4}.LogProb(x) - math.Ln2,
	})
}

// priorTable holds, for each distance d in grid steps from the null, the log prior weight of
// an alternative that far (at) and the log of the sum of the weights from 1 to d (upTo): the
// normaliser of a one-sided prior that reaches d points away.
type priorTable struct {
	at, upTo [GridSize]float64
}

func newPriorTable(density func(x float64) float64) *priorTable {
	t := &priorTable{}
	t.upTo[0] = math.Inf(-1)
	for d := range t.at {
		t.at[d] = density(float64(d) * gridStep)
		if d > 0 {
			t.upTo[d] = floats.LogSumExp([]float64{t.upTo[d-1], t.at[d]})
		}
	}
	return t
}

// The priors of the regression test (alternatives above the null), and of the non-inferiority
// test and the confidence sequence (alternatives near the null, on either side).
var (
	regressionPriors = newPriorTable(regressionPrior)
	nearPriors       = newPriorTable(func(x float64) float64 { return logPrior(x, 0) })
)

// logEvidence is the log of the mixture likelihood ratio of the alternatives on side s of grid
// point k against k: the prior is centred on k, restricted to those alternatives and
// renormalised.
func (t *Ratio) logEvidence(k int, s side) float64 {
	pr := nearPriors
	if s == above {
		pr = regressionPriors
	}
	terms := make([]float64, 0, GridSize)
	for j := range t.ll {
		if j == k || (s == above && j < k) || (s == below && j > k) {
			continue
		}
		terms = append(terms, pr.at[abs(j-k)]+t.ll[j]-t.ll[k])
	}
	if len(terms) == 0 {
		return 0
	}
	var norm float64
	switch s {
	case above:
		norm = pr.upTo[GridSize-1-k]
	case below:
		norm = pr.upTo[k]
	default:
		norm = floats.LogSumExp([]float64{pr.upTo[GridSize-1-k], pr.upTo[k]})
	}
	return floats.LogSumExp(terms) - norm
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Regression is the evidence (an e-value) against "r is at most GridRatio(k)": it reaches 1/alpha
// with probability at most alpha, at any look, when the canary's rate is not above that ratio
// of the control's.
func (t *Ratio) Regression(k int) float64 { return math.Exp(t.logEvidence(k, above)) }

// NotWorse is the evidence against "r is at least GridRatio(k)": non-inferiority, with the same
// guarantee when the canary's rate is that ratio of the control's or more.
func (t *Ratio) NotWorse(k int) float64 { return math.Exp(t.logEvidence(k, below)) }

// Interval is the confidence sequence of level 1-alpha for r: the ratios around the most
// likely one whose two-sided evidence stays below 1/alpha. It holds at every look at once with
// probability 1-alpha. A bound at the end of the grid means "at most" (or "at least") that
// ratio. Before any evidence it is the whole grid.
func (t *Ratio) Interval(alpha float64) (lo, hi float64) {
	limit := math.Log(1 / alpha)
	top := floats.MaxIdx(t.ll[:])
	if t.logEvidence(top, both) >= limit {
		// Every ratio on the grid is refuted: the truth lies beyond the grid's end.
		return GridRatio(top), GridRatio(top)
	}
	first, last := top, top
	for first > 0 && t.logEvidence(first-1, both) < limit {
		first--
	}
	for last < GridSize-1 && t.logEvidence(last+1, both) < limit {
		last++
	}
	return GridRatio(first), GridRatio(last)
}

// MostLikely is the grid ratio of greatest likelihood.
func (t *Ratio) MostLikely() float64 { return GridRatio(floats.MaxIdx(t.ll[:])) }

// Marshal encodes the test's state compactly (float32 per grid point, base64).
func (t *Ratio) Marshal() string {
	buf := make([]byte, 4*GridSize)
	for j, v := range t.ll {
		binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(v)))
	}
	return base64.RawStdEncoding.EncodeToString(buf)
}

// ErrState is returned for a state that Marshal did not write.
var ErrState = errors.New("sequential: malformed test state")

// Unmarshal restores a state written by Marshal; "" is the state before any look.
func (t *Ratio) Unmarshal(s string) error {
	*t = Ratio{}
	if s == "" {
		return nil
	}
	buf, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || len(buf) != 4*GridSize {
		return ErrState
	}
	for j := range t.ll {
		v := float64(math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:])))
		if math.IsNaN(v) || v > 0 || v < llFloor {
			*t = Ratio{}
			return ErrState
		}
		t.ll[j] = v
	}
	return nil
}
