package main

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/siskin-dev/siskin/pkg/canary"
)

// bounds are Istio's default request-duration buckets, in milliseconds.
var bounds = [...]float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, math.Inf(1)}

const nBuckets = len(bounds)

// slowMS is the latency above which a request counts as slow: the threshold mode's bound, and
// what a latency regression costs users in the harm figures.
const slowMS = 500

// version is a Deployment that serves requests.
type version int

const (
	vPrimary version = iota
	vCanary
	vBaseline
	nVersions
)

// model is the traffic of every simulated release; only the canary's factors differ between
// releases.
type model struct {
	// rps is the mean rate of requests at the apex, per second.
	rps float64
	// daily is the relative amplitude of the daily curve: rps*(1+daily*sin(2πt/24h+phase)).
	daily float64
	// noiseSigma is the standard deviation of the log of the error-rate factor that both
	// versions share in each noise window (a dependency hiccup hits everyone).
	noiseSigma float64
	// noiseEvery is the length of a noise window, in seconds.
	noiseEvery int
	// median and sigma are the control's log-normal latency: median in ms, sigma of the log.
	median, sigma float64
	// warmup is how long a new pod's error rate and latency stay elevated after its first
	// request, in seconds; warmErr and warmLat are the factors at that first request, falling
	// linearly to 1.
	warmup           int
	warmErr, warmLat float64
	// lag is how long the data plane takes to apply a route, in seconds.
	lag int
}

// defaultModel is the model of the bench at rate rps: a control whose p99 is 300 ms (median
// 60 ms), pods whose error rate doubles and whose latency grows by half at their first request
// and recover over 45 s, and a shared error-rate factor per 10 s.
func defaultModel(rps float64) model {
	return model{
		rps: rps, daily: 0.3,
		noiseSigma: 0.5, noiseEvery: 10,
		median: 60, sigma: math.Log(300.0/60) / 2.326348,
		warmup: 45, warmErr: 2, warmLat: 1.5,
		lag: 2,
	}
}

// release is what a new revision does to users.
type release struct {
	name string
	// base is the control's error rate.
	base float64
	// errFactor is the canary's error rate over the control's.
	errFactor float64
	// latFactor is the canary's p99 over the control's: its whole log-normal is scaled.
	latFactor float64
}

// good reports whether the canary is the control (an A/A release).
func (r release) good() bool { return r.errFactor == 1 && r.latFactor == 1 }

// latency reports whether the release regresses latency rather than errors.
func (r release) latency() bool { return r.latFactor != 1 }

// tally is what one version served: requests, errors, and requests per latency bucket (not
// cumulative).
type tally struct {
	req, err float64
	buckets  [nBuckets]float64
}

func (t *tally) add(o *tally) {
	t.req += o.req
	t.err += o.err
	for i := range t.buckets {
		t.buckets[i] += o.buckets[i]
	}
}

func (t *tally) sub(o *tally) {
	t.req -= o.req
	t.err -= o.err
	for i := range t.buckets {
		t.buckets[i] -= o.buckets[i]
	}
}

// cumulative returns the tally's buckets as a histogram query answers them: cumulative by
// increasing bound, +Inf last. A version without requests is a single +Inf bucket of 0, as the
// analyzer reads the metrics server's empty answer, unless zeros asks for every bucket at 0.
func (t *tally) cumulative(zeros bool) []canary.Bucket {
	if t.req == 0 && !zeros {
		return []canary.Bucket{{UpperBound: math.Inf(1)}}
	}
	out := make([]canary.Bucket, nBuckets)
	var sum float64
	for i, n := range t.buckets {
		sum += n
		out[i] = canary.Bucket{UpperBound: bounds[i], Count: sum}
	}
	return out
}

// routeChange is a route the data plane applies at a given second.
type routeChange struct {
	at      int
	weights [nVersions]int32
}

// traffic simulates one release second by second: Poisson arrivals split by the route, errors
// and latency buckets drawn per version. Every second of every version draws from its own
// stream, seeded by the release, the second and the version, so two ways of judging the same
// release see the same requests for as long as their routes agree.
type traffic struct {
	m     *model
	rel   release
	seed  uint64
	src   rand.PCG
	phase float64
	// weights are the percentages the data plane applies now; changes wait for their second.
	weights [nVersions]int32
	changes []routeChange
	// first is the second of each version's first request, -1 before it (the primary has
	// served for long: it is warm).
	first [nVersions]int
	// cum[v][k] is what version v served in the first k seconds.
	cum [nVersions][]tally
	// harm is what the regression cost users so far: the canary's errors above those of a good
	// canary (with the same warm-up and noise), or its requests slower than slowMS above a good
	// canary's, in expectation given the canary's requests.
	harm float64
	// noiseAt and noise cache the shared error-rate factor of the current noise window.
	noiseAt int
	noise   float64
	probs   map[float64]*[nBuckets]float64
}

func newTraffic() *traffic {
	return &traffic{probs: map[float64]*[nBuckets]float64{}}
}

// reset starts release rel of seed seed, all traffic on the primary.
func (t *traffic) reset(m *model, rel release, seed uint64) {
	if t.m == nil || *t.m != *m {
		clear(t.probs)
	}
	t.m, t.rel, t.seed = m, rel, seed
	t.src.Seed(mix(seed, 0x9e3779b97f4a7c15), mix(seed, 1))
	t.phase = 2 * math.Pi * rand.New(&t.src).Float64()
	t.weights = [nVersions]int32{vPrimary: 100}
	t.changes = t.changes[:0]
	t.first = [nVersions]int{-100000, -1, -1}
	for v := range t.cum {
		t.cum[v] = append(t.cum[v][:0], tally{})
	}
	t.harm, t.noiseAt = 0, -1
}

// route schedules weights for the data plane, lag seconds after second at.
func (t *traffic) route(at int, primary, canary, baseline int32) {
	t.changes = append(t.changes, routeChange{at: at + t.m.lag, weights: [nVersions]int32{primary, canary, baseline}})
}

// now is the number of seconds simulated.
func (t *traffic) now() int { return len(t.cum[vPrimary]) - 1 }

// advance simulates up to second k.
func (t *traffic) advance(k int) {
	for t.now() < k {
		t.second(t.now())
	}
}

// window is what version v served between seconds from and to.
func (t *traffic) window(v version, from, to int) tally {
	n := t.now()
	from, to = min(max(from, 0), n), min(max(to, 0), n)
	out := t.cum[v][to]
	out.sub(&t.cum[v][from])
	return out
}

// second simulates second k.
func (t *traffic) second(k int) {
	for len(t.changes) > 0 && t.changes[0].at <= k {
		t.weights = t.changes[0].weights
		t.changes = t.changes[1:]
	}
	m := t.m
	lambda := m.rps * (1 + m.daily*math.Sin(t.phase+2*math.Pi*float64(k)/86400))
	noise := t.noiseFactor(k / m.noiseEvery)
	for v := range nVersions {
		next := t.cum[v][k]
		if w := t.weights[v]; w > 0 {
			if t.first[v] < 0 {
				t.first[v] = k
			}
			t.src.Seed(mix(t.seed, uint64(k)), mix(t.seed, uint64(v)+2))
			var s tally
			t.draw(&s, v, k, lambda*float64(w)/100, noise)
			next.add(&s)
		}
		t.cum[v] = append(t.cum[v], next)
	}
}

// draw fills s with one second of version v at arrival rate lambda. Latency buckets are
// independent Poisson counts (a Poisson number of requests split by bucket), errors a
// binomial share of the requests.
func (t *traffic) draw(s *tally, v version, k int, lambda, noise float64) {
	m := t.m
	warmErr, warmLat := 1.0, 1.0
	if age := k - t.first[v]; age < m.warmup {
		f := 1 - float64(age)/float64(m.warmup)
		warmErr, warmLat = 1+(m.warmErr-1)*f, 1+(m.warmLat-1)*f
	}
	errFactor, latFactor := 1.0, 1.0
	if v == vCanary {
		errFactor, latFactor = t.rel.errFactor, t.rel.latFactor
	}
	probs := t.bucketProbs(latFactor * warmLat)
	for i, p := range probs {
		if mean := lambda * p; mean > 1e-9 {
			n := distuv.Poisson{Lambda: mean, Src: &t.src}.Rand()
			s.buckets[i] += n
			s.req += n
		}
	}
	good := math.Min(1, t.rel.base*noise*warmErr)
	p := math.Min(1, good*errFactor)
	if s.req > 0 && p > 0 {
		s.err = distuv.Binomial{N: s.req, P: p, Src: &t.src}.Rand()
	}
	if v != vCanary {
		return
	}
	if t.rel.latency() {
		t.harm += s.req * (t.slowShare(latFactor*warmLat) - t.slowShare(warmLat))
	} else {
		t.harm += s.req * (p - good)
	}
}

// bucketProbs are the probabilities of the latency buckets for a log-normal scaled by scale
// from the control's.
func (t *traffic) bucketProbs(scale float64) *[nBuckets]float64 {
	if p, ok := t.probs[scale]; ok {
		return p
	}
	p := new([nBuckets]float64)
	mu := math.Log(t.m.median * scale)
	prev := 0.0
	for i, b := range bounds {
		c := 1.0
		if !math.IsInf(b, 1) {
			c = 0.5 * math.Erfc(-(math.Log(b)-mu)/(t.m.sigma*math.Sqrt2))
		}
		p[i], prev = c-prev, c
	}
	t.probs[scale] = p
	return p
}

// slowShare is the probability of a request slower than slowMS at the given scale.
func (t *traffic) slowShare(scale float64) float64 {
	p := t.bucketProbs(scale)
	var s float64
	for i, b := range bounds {
		if b > slowMS {
			s += p[i]
		}
	}
	return s
}

// noiseFactor is the error-rate factor shared by all versions in noise window j: log-normal
// with mean 1.
func (t *traffic) noiseFactor(j int) float64 {
	if j != t.noiseAt {
		t.src.Seed(mix(t.seed^0x6a09e667f3bcc909, uint64(j)), mix(t.seed, 5))
		z := rand.New(&t.src).NormFloat64()
		s := t.m.noiseSigma
		t.noiseAt, t.noise = j, math.Exp(s*z-s*s/2)
	}
	return t.noise
}

// mix combines a seed and a key into a new seed (splitmix64 finalizer over their sum), so
// neighbouring keys give unrelated streams.
func mix(seed, key uint64) uint64 {
	z := seed + key*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
