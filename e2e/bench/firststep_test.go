package main

import (
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestFirstStepWaitsSplitTheLateness(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s := time.Second
	hist := map[string][]observation{
		// Started at 1 s, first step 2 s late; its canary was ready at 5 s, before the step was
		// due: the 2 s are the controller's.
		"a": rollout(t0.Add(s), 10*s, []time.Duration{2 * s, 0, 0, 0}),
		// Started at 2 s, first step 9 s late; its canary was ready at 20 s: about 8 s waiting
		// for it, 1 s after.
		"b": rollout(t0.Add(2*s), 10*s, []time.Duration{9 * s, 0, 0, 0}),
		// No target seen: no split.
		"c": rollout(t0.Add(3*s), 10*s, []time.Duration{0, 0, 0, 0}),
	}
	targets := map[string][]targetObs{
		"a": {{at: t0, ready: false}, {at: t0.Add(5 * s), ready: true}},
		// Ready in an earlier rollout, before this one started: not this rollout's readiness.
		"b": {{at: t0.Add(-30 * s), ready: true}, {at: t0.Add(s), ready: false}, {at: t0.Add(20 * s), ready: true}},
	}
	want := map[string]string{"a": "", "b": "", "c": ""}
	ws := firstStepWaits(hist, targets, want, t0, 10*s)
	if len(ws) != 2 {
		t.Fatalf("first steps split: %d, want 2 (a and b): %+v", len(ws), ws)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 0.05 }
	for _, w := range ws {
		switch {
		case near(w.notReady, 0) && near(w.after, 2):
		case near(w.notReady, 7.98) && near(w.after, 1.02):
		default:
			t.Errorf("split %+v: want a's (0 s waiting for the canary, 2 s after) or b's (7.98 s, 1.02 s)", w)
		}
	}
	sum := summariseFirstSteps(slices.Collect(maps.Values(ws)))
	if sum.N != 2 || !near(sum.CanaryNotReady.Max, 7.98) || !near(sum.AfterReady.Max, 2) {
		t.Errorf("summary %+v", sum)
	}

	// Without the waits for the canary: b's first step is 1.02 s late, not 9; a's stays 2 s;
	// every other step is on time.
	less := latenessLessCanaryWaits(hist, ws, t0, t0.Add(time.Hour), 10*s)
	slices.Sort(less)
	if len(less) != 12 || !near(less[len(less)-1], 2) || !near(less[len(less)-2], 1.02) {
		t.Errorf("lateness less the canary waits: %v; want 12 steps, the latest 1.02 s (b) and 2 s (a)", less)
	}

	windows := make([]LatenessWindow, 4)
	withFirstSteps(windows, ws, t0, 10*s)
	if windows[0].FirstSteps != nil || windows[1].FirstSteps == nil || windows[1].FirstSteps.N != 1 ||
		windows[2].FirstSteps == nil || !near(windows[2].FirstSteps.CanaryNotReady.Max, 7.98) {
		t.Errorf("windows of 10 s: %+v %+v %+v; want a's first step (13 s) in the second, b's (21 s) in the third",
			windows[0].FirstSteps, windows[1].FirstSteps, windows[2].FirstSteps)
	}
}

func TestTargetReady(t *testing.T) {
	d := func(replicas, updated, available int32, gen, observed int64) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
			Status:     appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, AvailableReplicas: available},
		}
	}
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		want bool
	}{
		{"scaled to zero", d(0, 0, 0, 3, 3), false},
		{"scaled up, not observed", d(1, 1, 1, 4, 3), false},
		{"old pod available, new one not", d(1, 0, 1, 4, 4), false},
		{"ready", d(1, 1, 1, 4, 4), true},
		{"two of three", d(3, 3, 2, 4, 4), false},
	} {
		if got := targetReady(tc.d); got != tc.want {
			t.Errorf("%s: ready %v, want %v", tc.name, got, tc.want)
		}
	}
}
