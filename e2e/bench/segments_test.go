package main

import (
	"slices"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// analysis is the analysis of revision rev as the watch delivers it: its start at start, then n
// steps ten seconds apart, the last one starting the promotion. promoted is the revision the
// primary runs meanwhile.
func analysis(rev, promoted string, start time.Time, n int) []observation {
	rs := start.Truncate(time.Second)
	h := []observation{{at: start, phase: siskinv1.PhaseProgressing, lastStep: rs, rolloutStart: rs, applied: rev, promoted: promoted}}
	for i := 1; i <= n; i++ {
		phase := siskinv1.PhaseProgressing
		if i == n {
			phase = siskinv1.PhasePromoting
		}
		t := start.Add(time.Duration(i) * 10 * time.Second)
		h = append(h, observation{at: t, phase: phase, lastStep: t.Truncate(time.Second), rolloutStart: rs, applied: rev, promoted: promoted})
	}
	return h
}

// then is the last observation of h moved to at, in phase with promoted.
func then(h []observation, at time.Time, phase siskinv1.CanaryPhase, promoted string) observation {
	o := h[len(h)-1]
	o.at, o.phase, o.promoted = at, phase, promoted
	return o
}

func TestBreakdown(t *testing.T) {
	p := time.Date(2026, 11, 25, 12, 0, 0, 300e6, time.UTC)
	ms := func(n int) time.Time { return p.Add(time.Duration(n) * time.Millisecond) }
	atRest := observation{at: p.Add(-time.Minute), phase: siskinv1.PhaseSucceeded, applied: "r1", promoted: "r1"}

	normal := append([]observation{atRest}, analysis("r2", "r1", ms(300), 5)...)
	normal = append(normal, then(normal, ms(54300), siskinv1.PhaseFinalising, "r1"))
	normal = append(normal, then(normal, ms(56300), siskinv1.PhaseSucceeded, "r2"))

	coalesced := append([]observation{atRest}, analysis("r2", "r1", ms(300), 5)...)
	coalesced = append(coalesced, then(coalesced, ms(53300), siskinv1.PhaseSucceeded, "r2"))

	failed := append([]observation{atRest}, analysis("r2", "r1", ms(300), 3)...)
	failed = append(failed, then(failed, ms(31000), siskinv1.PhaseFailed, "r1"))

	// r1 was two steps into its analysis when r2 was patched; one more step of r1 arrives
	// before the controller sees the patch.
	old := analysis("r1", "r0", p.Add(-25*time.Second), 3)
	replaced := append(slices.Clone(old[:3]), then(old[:3], ms(200), siskinv1.PhaseProgressing, "r0"))
	replaced[3].lastStep = ms(200).Truncate(time.Second)
	replaced = append(replaced, analysis("r2", "r0", ms(800), 5)...)
	replaced = append(replaced, then(replaced, ms(52800), siskinv1.PhaseSucceeded, "r2"))

	// r1 was being promoted when r2 was patched: its promotion ends first, and the end of
	// r1's rollout (Succeeded with r1) is no end of r2's.
	promoting := analysis("r1", "r0", p.Add(-55*time.Second), 5)
	promoting = append(promoting, then(promoting, ms(1000), siskinv1.PhaseFinalising, "r0"))
	promoting = append(promoting, then(promoting, ms(2000), siskinv1.PhaseSucceeded, "r1"))
	promoting = append(promoting, analysis("r2", "r1", ms(2500), 5)...)
	promoting = append(promoting, then(promoting, ms(55500), siskinv1.PhaseSucceeded, "r2"))

	// Waiting for approval moves lastStepTime but keeps the last rollout's rolloutStartTime:
	// its polls are no steps.
	waiting := []observation{atRest,
		{at: ms(300), phase: siskinv1.PhaseWaiting, lastStep: ms(300).Truncate(time.Second), rolloutStart: p.Add(-time.Hour), applied: "r2", promoted: "r1"},
		{at: ms(10300), phase: siskinv1.PhaseWaiting, lastStep: ms(10300).Truncate(time.Second), rolloutStart: p.Add(-time.Hour), applied: "r2", promoted: "r1"},
	}
	waiting = append(waiting, analysis("r2", "r1", ms(20300), 5)...)
	waiting = append(waiting, then(waiting, ms(72300), siskinv1.PhaseSucceeded, "r2"))

	s := time.Second
	for _, tc := range []struct {
		name  string
		h     []observation
		ok    bool
		parts [len(segmentNames)]time.Duration
		steps int
	}{
		{"normal", normal, true, [...]time.Duration{300 * time.Millisecond, 10 * s, 40 * s, 4 * s, 2 * s}, 5},
		{"no Finalising observed", coalesced, true, [...]time.Duration{300 * time.Millisecond, 10 * s, 40 * s, 3 * s, 0}, 5},
		{"never promoted", failed, false, [len(segmentNames)]time.Duration{}, 0},
		{"replaced mid-way", replaced, true, [...]time.Duration{800 * time.Millisecond, 10 * s, 40 * s, 2 * s, 0}, 5},
		{"after the promotion of an older revision", promoting, true, [...]time.Duration{2500 * time.Millisecond, 10 * s, 40 * s, 3 * s, 0}, 5},
		{"waiting for approval", waiting, true, [...]time.Duration{300 * time.Millisecond, 30 * s, 40 * s, 2 * s, 0}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, ok := breakdown(tc.h, p, "r2")
			if ok != tc.ok {
				t.Fatalf("promoted = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if b.parts != tc.parts || b.steps != tc.steps {
				t.Errorf("breakdown = %v with %d steps, want %v with %d", b.parts, b.steps, tc.parts, tc.steps)
			}
			var sum time.Duration
			for _, d := range b.parts {
				sum += d
			}
			if end := tc.h[len(tc.h)-1].at.Sub(p); b.total != end || sum != end {
				t.Errorf("total %v, sum of the parts %v; want both %v, from the patch to Succeeded", b.total, sum, end)
			}
		})
	}
}

func TestSegments(t *testing.T) {
	p := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hist := map[string][]observation{}
	sent := map[string]time.Time{}
	want := map[string]string{}
	for i, name := range []string{"a", "b", "c"} {
		h := analysis("r2", "r1", p.Add(time.Duration(i+1)*time.Second), 5)
		if name != "c" {
			h = append(h, then(h, h[len(h)-1].at.Add(3*time.Second), siskinv1.PhaseSucceeded, "r2"))
		}
		hist[name], sent[name], want[name] = h, p, "r2"
	}
	got := segments(hist, sent, want, 10*time.Second, 5)
	if len(got) != len(segmentNames)+1 || got[len(got)-1].Name != "total" {
		t.Fatalf("segments = %+v, want those of segmentNames and the total", got)
	}
	wantIdeal := []float64{0, 10, 40, 0, 0, 50}
	for k, g := range got {
		if g.Seconds.N != 2 || g.IdealSeconds != wantIdeal[k] {
			t.Errorf("%s: %+v, want 2 rollouts (c never promoted) and ideal %v", g.Name, g, wantIdeal[k])
		}
	}
	if d := got[0].Seconds; d.P50 != 1 || d.Max != 2 {
		t.Errorf("patch → rollout start = %+v, want p50 1 and max 2", d)
	}
	if d := got[len(got)-1].Seconds; d.P50 != 54 || d.Max != 55 {
		t.Errorf("total = %+v, want p50 54 and max 55", d)
	}
	if got[weightSteps].StepsSeen != 10 {
		t.Errorf("steps seen = %d, want 10", got[weightSteps].StepsSeen)
	}
}
