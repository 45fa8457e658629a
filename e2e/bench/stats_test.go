package main

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestSummariseNearestRank(t *testing.T) {
	var xs []float64
	for i := 100; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	d := summarise(xs)
	if d.N != 100 || d.P50 != 50 || d.P99 != 99 || d.Max != 100 {
		t.Errorf("summarise(1..100) = %+v, want n 100, p50 50, p99 99, max 100", d)
	}
	if d := summarise([]float64{7}); d.P50 != 7 || d.P99 != 7 || d.Max != 7 {
		t.Errorf("summarise([7]) = %+v", d)
	}
	if d := summarise(nil); d != (dist{}) {
		t.Errorf("summarise(nil) = %+v, want zero", d)
	}
}

// rollout builds the history of one rollout as the watch would deliver it: the start, then a
// step every interval plus late, the last step entering Promoting, then Succeeded.
func rollout(start time.Time, interval time.Duration, late []time.Duration) []observation {
	sec := func(t time.Time) time.Time { return t.Truncate(time.Second) }
	rs := sec(start)
	h := []observation{{at: start.Add(20 * time.Millisecond), phase: siskinv1.PhaseProgressing, lastStep: rs, rolloutStart: rs}}
	t := start
	for i, l := range late {
		t = t.Add(interval + l)
		phase := siskinv1.PhaseProgressing
		if i == len(late)-1 {
			phase = siskinv1.PhasePromoting
		}
		// A follow-up event without a new step must not count.
		h = append(h, observation{at: t.Add(20 * time.Millisecond), phase: phase, lastStep: sec(t), rolloutStart: rs},
			observation{at: t.Add(40 * time.Millisecond), phase: phase, lastStep: sec(t), rolloutStart: rs, applied: "x"})
	}
	h = append(h, observation{at: t.Add(time.Second), phase: siskinv1.PhaseSucceeded, lastStep: sec(t), rolloutStart: rs})
	return h
}

func TestLatenessPairsStepsOfOneRollout(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 300e6, time.UTC)
	late := []time.Duration{0, 200 * time.Millisecond, 1500 * time.Millisecond, 0}
	first := rollout(t0, 10*time.Second, late)
	// A Waiting poll (lastStepTime moves, rolloutStartTime is the old one) and a second rollout.
	waiting := observation{at: t0.Add(2 * time.Minute), phase: siskinv1.PhaseWaiting, lastStep: t0.Add(2 * time.Minute).Truncate(time.Second), rolloutStart: first[0].rolloutStart}
	second := rollout(t0.Add(3*time.Minute), 10*time.Second, []time.Duration{0})
	h := append(append(append([]observation{}, first...), waiting), second...)

	got := steps(h)
	if len(got) != 5 {
		t.Fatalf("steps = %d, want 4 of the first rollout and 1 of the second", len(got))
	}
	byStatus, byWatch := lateness(map[string][]observation{"a": h}, t0, t0.Add(time.Hour), 10*time.Second)
	if len(byWatch) != 5 {
		t.Fatalf("lateness pairs = %d, want 5", len(byWatch))
	}
	wantWatch := []float64{0, 0.2, 1.5, 0, 0}
	for i, w := range wantWatch {
		if d := byWatch[i] - w; d > 1e-9 || d < -1e-9 {
			t.Errorf("watch lateness[%d] = %v, want %v", i, byWatch[i], w)
		}
	}
	// Status times have a resolution of a second: the step 1.5 s late at 12:00:32.0 reads 2 s late,
	// since the previous one, at 12:00:20.5, reads :20.
	wantStatus := []float64{0, 0, 2, 0, 0}
	for i, w := range wantStatus {
		if byStatus[i] != w {
			t.Errorf("status lateness[%d] = %v, want %v (all %v)", i, byStatus[i], w, byStatus)
		}
	}
	if n := countSteps(map[string][]observation{"a": h}, t0, t0.Add(time.Minute)); n != 4 {
		t.Errorf("countSteps in the first minute = %d, want 4", n)
	}
}

func TestSteadyPerStep(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hist := map[string][]observation{
		"a": rollout(t0, 10*time.Second, []time.Duration{0, 0, 0, 0, 0}),
		"b": rollout(t0.Add(2*time.Second), 10*time.Second, []time.Duration{0, 0, 0, 0, 0}),
	}
	var samples []sample
	for i := range 60 {
		// Three writes per step: steps of a and b happen at 10, 12, 20, 22, ... seconds.
		at := t0.Add(time.Duration(i)*time.Second + 500*time.Millisecond)
		w := 0.0
		for _, h := range hist {
			for _, s := range steps(h) {
				if !s.at.After(at) {
					w += 3
				}
			}
		}
		samples = append(samples, sample{at: at, requests: map[string]float64{"PATCH": w, "GET": 100}, reconciles: 2 * w})
	}
	writes, reconciles, window := steadyPerStep(hist, samples, t0)
	if writes != 3 || reconciles != 6 || window < 30 {
		t.Errorf("steadyPerStep = %v writes, %v reconciles over %vs; want 3 and 6 over the 30-odd seconds between the last start and the first promotion", writes, reconciles, window)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP rest_client_requests_total Number of HTTP requests.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 42
rest_client_requests_total{code="201",host="127.0.0.1:6443",method="POST"} 3
rest_client_requests_total{code="409",host="127.0.0.1:6443",method="PATCH"} 1
workqueue_depth{controller="canary",name="canary"} 0
odd{a="x\"y,}",b="z"} 1.5e+01 1712345678000
go_memstats_heap_inuse_bytes 1.2345e+07
`
	f, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.sum("rest_client_requests_total"); got != 46 {
		t.Errorf("sum of requests = %v, want 46", got)
	}
	if got := f["odd"][0]; got.labels["a"] != `x"y,}` || got.labels["b"] != "z" || got.value != 15 {
		t.Errorf("odd = %+v", got)
	}
	if got := f.sum("go_memstats_heap_inuse_bytes"); got != 12345000 {
		t.Errorf("heap = %v", got)
	}
	if _, err := parseMetrics(strings.NewReader(`x{a="b} 1`)); err == nil {
		t.Error("an unterminated label value parsed")
	}
}

func TestProcParsing(t *testing.T) {
	stat := "1234 (sis kin) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 12 0 100 0 0"
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3.8 {
		t.Errorf("parseStatCPU = %v, %v; want 3.8 (250+130 ticks)", cpu, err)
	}
	status := "Name:\tsiskin\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n"
	if hwm, rss := parseStatusKB(status, "VmHWM:"), parseStatusKB(status, "VmRSS:"); hwm != 51200 || rss != 40960 {
		t.Errorf("VmHWM, VmRSS = %d, %d", hwm, rss)
	}
}

func TestStepsPerRollout(t *testing.T) {
	for _, tc := range []struct {
		c    config
		want int
	}{
		{config{provider: "istio", stepWeight: 25}, 5},
		{config{provider: "istio", stepWeight: 30}, 5},
		{config{provider: "istio", stepWeight: 100}, 2},
		{config{provider: "kubernetes", iterations: 4}, 5},
	} {
		if got := tc.c.stepsPerRollout(); got != tc.want {
			t.Errorf("%s stepWeight %d iterations %d: steps = %d, want %d", tc.c.provider, tc.c.stepWeight, tc.c.iterations, got, tc.want)
		}
	}
}

func TestParseFlagsRejectsShortWindows(t *testing.T) {
	if _, err := parseFlags([]string{"-rest", "30s"}); err == nil {
		t.Error("a 30s rest window was accepted")
	}
	if _, err := parseFlags([]string{"-interval", "5s"}); err == nil {
		t.Error("a 5s interval was accepted")
	}
	c, err := parseFlags([]string{"-n", "100, 1000"})
	if err != nil || len(c.sizes) != 2 || c.sizes[1] != 1000 {
		t.Errorf("parseFlags -n 100,1000 = %v, %v", c.sizes, err)
	}
}

func TestParseFlagsCanaryBatch(t *testing.T) {
	if _, err := parseFlags([]string{"-canary-batch", "-5"}); err == nil {
		t.Error("a negative batch was accepted")
	}
	if _, err := parseFlags([]string{"-canary-batch", "500", "-controllers", "siskin,flagger"}); err == nil {
		t.Error("a batch was accepted for the peers' comparison, which creates every object at once")
	}
	c, err := parseFlags([]string{"-n", "10000", "-canary-batch", "1000"})
	if err != nil || c.canaryBatch != 1000 {
		t.Errorf("parseFlags -canary-batch 1000 = %d, %v", c.canaryBatch, err)
	}
}

func TestPrintTable(t *testing.T) {
	c := config{provider: "istio", stepWeight: 25, interval: 10 * time.Second, concurrent: 16, qps: 500, burst: 1000}
	rep := &Report{Settings: settingsOf(&c, features{version: "v1"})}
	segs := make([]Segment, len(segmentNames)+1)
	for k := range segs {
		segs[k].Seconds = dist{N: 100, P50: float64(k), P99: 10, Max: 20}
	}
	segs[weightSteps].StepsSeen = 498
	rep.Results = []Result{
		{N: 100, Rest: Rest{Requests: map[string]float64{}}, Fleet: []Fleet{{DurationSeconds: 55, IdealSeconds: 50, RatioToIdeal: 1.1, Canaries: 100, Promoted: 100, Segments: segs}}},
		{N: 1000, Fleet: []Fleet{{Canaries: 1000, Promoted: 900, DurationSeconds: 300}, {MaxConcurrentCanaries: 500}}, Notes: []string{"a note"}},
	}
	var b strings.Builder
	printTable(&b, rep)
	out := b.String()
	for _, want := range []string{"N=100", "N=1000", "55.0 / 50 = 1.10×", "(K=500)", "N=1000: a note", "ideal rollout 50s", "stopped with 900/1000 promoted",
		"    weight steps p50 / p99 / max (s)", "ideal 40", "2.0 / 10.0 / 20.0; 498 steps seen of 500", "    total p50 / p99 / max (s)", "ideal 0, +50 per wave"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestBucketQuantile(t *testing.T) {
	before := map[float64]float64{0.01: 10, 0.1: 10, 1: 10, math.Inf(1): 10}
	// 100 new observations: 50 under 10 ms, 40 between 10 and 100 ms, 9 up to 1 s, 1 above.
	after := map[float64]float64{0.01: 60, 0.1: 100, 1: 109, math.Inf(1): 110}
	if got := bucketQuantile(0.5, before, after); got != 0.01 {
		t.Errorf("p50 = %v, want 0.01", got)
	}
	if got := bucketQuantile(0.7, before, after); math.Abs(got-0.055) > 1e-9 {
		t.Errorf("p70 = %v, want 0.055 (halfway into the 10-100 ms bucket)", got)
	}
	if got := bucketQuantile(0.999, before, after); got != 1 {
		t.Errorf("p99.9 = %v, want the last finite bound", got)
	}
	if got := bucketQuantile(0.5, after, after); got != 0 {
		t.Errorf("quantile of nothing = %v, want 0", got)
	}
}

func TestLatenessOverTimeFindsTheLateWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	// a's steps are late at the start of the change (1 s, 3 s); b starts at 40 s and is on time.
	a := rollout(t0.Add(time.Second), 10*time.Second, []time.Duration{time.Second, 3 * time.Second, 0, 0})
	b := rollout(t0.Add(40*time.Second), 10*time.Second, []time.Duration{0, 0, 0, 0})
	hist := map[string][]observation{"a": a, "b": b}
	got := latenessOverTime(hist, t0, t0.Add(100*time.Second), 10*time.Second, 30*time.Second)
	if len(got) != 4 {
		t.Fatalf("windows = %d, want 4 of 30 s over 100 s: %+v", len(got), got)
	}
	if w := got[0]; w.Lateness.N != 2 || w.Lateness.Max != 3 || w.InFlight != 0 {
		t.Errorf("first window = %+v, want a's two late steps (1 s, 3 s) and nothing in flight at its start", w)
	}
	if w := got[1]; w.InFlight != 1 || w.Lateness.Max != 0 {
		t.Errorf("second window = %+v, want a in flight and no late step", w)
	}
	if w := got[2]; w.InFlight != 1 {
		t.Errorf("third window = %+v, want b alone in flight at 60 s (a succeeded at 46 s)", w)
	}
	var steps int
	for _, w := range got {
		steps += w.Lateness.N
	}
	_, byWatch := lateness(hist, t0, t0.Add(100*time.Second), 10*time.Second)
	if steps != len(byWatch) {
		t.Errorf("the windows hold %d steps, lateness counts %d", steps, len(byWatch))
	}
}

func TestWithAdmissionLimitKeepsEachWindowsHighest(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	windows := make([]LatenessWindow, 3)
	samples := []sample{
		{at: t0.Add(-time.Second), admissionLimit: 500}, // before the change: not counted
		{at: t0.Add(2 * time.Second), admissionLimit: 100},
		{at: t0.Add(20 * time.Second), admissionLimit: 140},
		{at: t0.Add(32 * time.Second), admissionLimit: 105},
		{at: t0.Add(200 * time.Second), admissionLimit: 90}, // after the last window
	}
	withAdmissionLimit(windows, samples, t0, 30*time.Second)
	want := []float64{140, 105, 0}
	for i, w := range windows {
		if w.AdmissionLimit != want[i] {
			t.Errorf("window %d: admission limit %v, want %v", i, w.AdmissionLimit, want[i])
		}
	}
}

func TestWaitAtLeastReturnsOnceEnoughAreDone(t *testing.T) {
	r := &recorder[observation]{history: map[string][]observation{}, changed: make(chan struct{})}
	names := []string{"a", "b", "c", "d"}
	initialized := func(_ string, o observation) bool { return o.phase == siskinv1.PhaseInitialized }
	go func() {
		for _, name := range names[:3] {
			time.Sleep(50 * time.Millisecond)
			r.add(name, observation{at: time.Now(), phase: siskinv1.PhaseInitialized})
		}
	}()
	n, err := r.waitAtLeast(context.Background(), names, 3, 10*time.Second, "initialized", initialized)
	if err != nil || n < 3 {
		t.Fatalf("waitAtLeast 3 of 4: %d, %v", n, err)
	}
	// All four never are: it times out, with how many were.
	n, err = r.waitAll(context.Background(), names, 500*time.Millisecond, "initialized", initialized)
	if err == nil || n != 3 {
		t.Errorf("waitAll with one never done: %d, %v; want 3 and a timeout", n, err)
	}
}
