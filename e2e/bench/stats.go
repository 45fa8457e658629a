package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// dist summarises a sample.
type dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// summarise returns the nearest-rank p50 and p99 and the maximum of xs.
func summarise(xs []float64) dist {
	if len(xs) == 0 {
		return dist{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return dist{N: len(s), P50: rank(50), P99: rank(99), Max: s[len(s)-1]}
}

// stepRecord is an observation at which status.lastStepTime changed.
type stepRecord struct {
	observation
	// prev is the step before it in the same rollout; ok is false when there is none.
	prev observation
	ok   bool
}

// steps returns the analysis steps of a Canary's history: every change of lastStepTime that is
// a step of a rollout (not its start, not a poll while Waiting), each with the previous step of
// the same rollout when the bench saw it.
func steps(h []observation) []stepRecord {
	var out []stepRecord
	var last observation
	seen := false
	for _, o := range h {
		if o.lastStep.IsZero() || (seen && o.lastStep.Equal(last.lastStep)) {
			continue
		}
		prev, hadPrev := last, seen
		last, seen = o, true
		if o.isStart() || !stepPhase(o.phase) {
			continue
		}
		r := stepRecord{observation: o}
		if hadPrev && prev.rolloutStart.Equal(o.rolloutStart) && analysisPhase(prev.phase) {
			r.prev, r.ok = prev, true
		}
		out = append(out, r)
	}
	return out
}

// stepPhase reports whether a step can leave the Canary in phase p: still analysing, or
// promoting after the last step.
func stepPhase(p siskinv1.CanaryPhase) bool {
	return analysisPhase(p) || p == siskinv1.PhasePromoting
}

func analysisPhase(p siskinv1.CanaryPhase) bool {
	return p == siskinv1.PhaseProgressing || p == siskinv1.PhaseWaitingPromotion
}

// lateness returns how late each step observed in [from, to] ran after the previous step of
// its rollout, in seconds: (t_k - t_{k-1}) - interval. byStatus uses status.lastStepTime, which
// has a resolution of one second; byWatch uses when the watch delivered each step, to the
// millisecond, and so also carries the jitter of the status write and the watch.
func lateness(hist map[string][]observation, from, to time.Time, interval time.Duration) (byStatus, byWatch []float64) {
	for _, h := range hist {
		for _, s := range steps(h) {
			if !s.ok || s.at.Before(from) || s.at.After(to) {
				continue
			}
			byStatus = append(byStatus, (s.lastStep.Sub(s.prev.lastStep) - interval).Seconds())
			byWatch = append(byWatch, (s.at.Sub(s.prev.at) - interval).Seconds())
		}
	}
	return byStatus, byWatch
}

// latenessWindow is the width of the windows of LatenessOverTime.
const latenessWindow = 30 * time.Second

// LatenessWindow is the step lateness (watch times) of the steps delivered in one window of a
// fleet-wide change, with the rollouts in flight when the window began: where in the change
// the late steps are, and how many rollouts shared the API server then.
type LatenessWindow struct {
	// FromSeconds is the window's start, in seconds after the first patch of the change.
	FromSeconds float64 `json:"fromSeconds"`
	InFlight    int     `json:"inFlight"`
	Lateness    dist    `json:"lateness"`
	// AdmissionLimit is the highest adaptive limit of rollouts in flight the controller
	// reported in the window (siskin_rollout_admission_limit, sampled every 2 s; 0: none).
	AdmissionLimit float64 `json:"admissionLimit,omitempty"`
	// FirstSteps splits the lateness of the first steps of rollouts delivered in the window
	// (Siskin's mode only; nil: none).
	FirstSteps *FirstStepWaits `json:"firstSteps,omitempty"`
}

// timedLateness is a step's lateness in seconds, with when the watch delivered the step.
type timedLateness struct {
	at      time.Time
	seconds float64
}

func latenessSeconds(steps []timedLateness) []float64 {
	out := make([]float64, len(steps))
	for i, s := range steps {
		out[i] = s.seconds
	}
	return out
}

// windowsOf splits steps into windows of width w from from up to to, each with the rollouts
// inFlight counts at its start. Windows without steps are kept, so the list is the change's
// timeline; a step delivered after to counts in the last window.
func windowsOf(steps []timedLateness, from, to time.Time, w time.Duration, inFlight func(at time.Time) int) []LatenessWindow {
	if w <= 0 || !to.After(from) {
		return nil
	}
	n := int((to.Sub(from) + w - 1) / w)
	samples := make([][]float64, n)
	for _, s := range steps {
		if s.at.Before(from) {
			continue
		}
		i := min(int(s.at.Sub(from)/w), n-1)
		samples[i] = append(samples[i], s.seconds)
	}
	out := make([]LatenessWindow, n)
	for i := range out {
		out[i].FromSeconds = seconds(time.Duration(i) * w)
		out[i].InFlight = inFlight(from.Add(time.Duration(i) * w))
		out[i].Lateness = roundDist(summarise(samples[i]), 2)
	}
	return out
}

// lastAt is the last of the observations h (in arrival order) that arrived by at.
func lastAt[O interface{ arrived() time.Time }](h []O, at time.Time) (O, bool) {
	var last O
	found := false
	for _, o := range h {
		if o.arrived().After(at) {
			break
		}
		last, found = o, true
	}
	return last, found
}

// latenessOverTime splits the steps of lateness's byWatch into windows of width w from from
// on, and counts the Canaries in a rollout (analysing, promoting or finalising) at the start
// of each window.
func latenessOverTime(hist map[string][]observation, from, to time.Time, interval, w time.Duration) []LatenessWindow {
	var all []timedLateness
	for _, h := range hist {
		for _, s := range steps(h) {
			if !s.ok || s.at.Before(from) || s.at.After(to) {
				continue
			}
			all = append(all, timedLateness{at: s.at, seconds: (s.at.Sub(s.prev.at) - interval).Seconds()})
		}
	}
	return windowsOf(all, from, to, w, func(at time.Time) int {
		n := 0
		for _, h := range hist {
			if last, ok := lastAt(h, at); ok && inRollout(last.phase) {
				n++
			}
		}
		return n
	})
}

// logWindows writes each window with steps to the log; limits says whether the windows carry
// the admission limit (only Siskin reports one).
func logWindows(windows []LatenessWindow, limits bool) {
	for _, w := range windows {
		if w.Lateness.N == 0 {
			continue
		}
		limit := ""
		if limits {
			limit = fmt.Sprintf(" (admission limit up to %.0f)", w.AdmissionLimit)
		}
		first := ""
		if f := w.FirstSteps; f != nil {
			first = fmt.Sprintf("; %d first steps: waiting for the canary p50 / p99 %.2f / %.2f s, after it %.2f / %.2f s",
				f.N, f.CanaryNotReady.P50, f.CanaryNotReady.P99, f.AfterReady.P50, f.AfterReady.P99)
		}
		logf("    from %4.0fs: %4d in flight%s, %4d steps, lateness p50 / p99 / max %.2f / %.2f / %.2f s%s",
			w.FromSeconds, w.InFlight, limit, w.Lateness.N, w.Lateness.P50, w.Lateness.P99, w.Lateness.Max, first)
	}
}

// withAdmissionLimit sets each window's AdmissionLimit from the controller's samples.
func withAdmissionLimit(windows []LatenessWindow, samples []sample, from time.Time, w time.Duration) {
	for _, s := range samples {
		if s.at.Before(from) || w <= 0 {
			continue
		}
		if i := int(s.at.Sub(from) / w); i < len(windows) {
			windows[i].AdmissionLimit = max(windows[i].AdmissionLimit, s.admissionLimit)
		}
	}
}

// inRollout reports whether a Canary in phase p has a rollout in flight.
func inRollout(p siskinv1.CanaryPhase) bool {
	return stepPhase(p) || p == siskinv1.PhaseFinalising
}

// countSteps counts the analysis steps the watch delivered in (from, to].
func countSteps(hist map[string][]observation, from, to time.Time) int {
	n := 0
	for _, h := range hist {
		for _, s := range steps(h) {
			if s.at.After(from) && !s.at.After(to) {
				n++
			}
		}
	}
	return n
}

// metricSample is one sample of the Prometheus text format.
type metricSample struct {
	labels map[string]string
	value  float64
}

// families maps metric names (with _sum, _count, _bucket kept) to their samples.
type families map[string][]metricSample

func (f families) sum(name string) float64 {
	t := 0.0
	for _, s := range f[name] {
		t += s.value
	}
	return t
}

// parseMetrics reads the Prometheus text exposition format: comments are skipped, label values
// are unquoted, timestamps are ignored.
func parseMetrics(r io.Reader) (families, error) {
	out := families{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, labels := line, "", map[string]string{}
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			var err error
			if labels, rest, err = parseLabels(rest[1:]); err != nil {
				return nil, fmt.Errorf("metric %s: %w", name, err)
			}
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("metric %s: no value", name)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		out[name] = append(out[name], metricSample{labels: labels, value: v})
	}
	return out, sc.Err()
}

// parseLabels parses `a="x",b="y\"z"}` and returns the labels and what follows the brace.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return nil, "", fmt.Errorf("malformed labels near %q", s)
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var b strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i])
				}
				continue
			}
			b.WriteByte(s[i])
		}
		if i == len(s) {
			return nil, "", fmt.Errorf("unterminated label value of %s", key)
		}
		labels[key] = b.String()
		s = s[i+1:]
	}
}

func seconds(d time.Duration) float64 { return round(d.Seconds(), 3) }

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// perCanaryPerMinute normalises a count over a window to one canary and one minute.
func perCanaryPerMinute(count float64, n int, window time.Duration) float64 {
	if n == 0 || window <= 0 {
		return 0
	}
	return round(count/float64(n)/window.Minutes(), 3)
}

// bucketQuantile estimates quantile q (0..1) of the observations added between two cumulative
// histograms (upper bound -> count), interpolating linearly inside a bucket as Prometheus'
// histogram_quantile does. Observations above the last finite bound report that bound.
func bucketQuantile(q float64, before, after map[float64]float64) float64 {
	bounds := make([]float64, 0, len(after))
	for le := range after {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 {
		return 0
	}
	total := after[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]]
	if total <= 0 {
		return 0
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, le := range bounds {
		count := after[le] - before[le]
		if count >= rank {
			if math.IsInf(le, 1) {
				return prevBound
			}
			if count == prevCount {
				return le
			}
			return prevBound + (le-prevBound)*(rank-prevCount)/(count-prevCount)
		}
		prevBound, prevCount = le, count
	}
	return prevBound
}
