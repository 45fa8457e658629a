package main

import (
	"context"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// targetObs is what the bench keeps of a target Deployment during a fleet-wide change: whether
// the pods of its current template are all available. Siskin's target Deployment is the
// canary: at 0 replicas at rest, scaled up when a rollout starts.
type targetObs struct {
	at    time.Time
	ready bool
}

func (o targetObs) arrived() time.Time    { return o.at }
func (o targetObs) same(p targetObs) bool { return o.ready == p.ready }

// targetReady reports whether Deployment d runs its current template on at least one pod, all
// of its replicas updated and available.
func targetReady(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return want >= 1 && d.Status.ObservedGeneration >= d.Generation &&
		d.Status.UpdatedReplicas >= want && d.Status.AvailableReplicas >= want
}

// startTargetRecorder watches the target Deployments of ns (not the primaries) until ctx ends.
func startTargetRecorder(ctx context.Context, cl *cluster, ns string) (*recorder[targetObs], error) {
	return watch(ctx, cl, ns, "deployment", &appsv1.Deployment{}, func(obj any, at time.Time) (string, targetObs, bool) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok || strings.HasSuffix(d.Name, "-primary") {
			return "", targetObs{}, false
		}
		return d.Name, targetObs{at: at, ready: targetReady(d)}, true
	})
}

// firstStepWait splits how late the first step of a rollout was (by watch times: from the
// rollout's start to its first step, less the interval) into the time the step waited for the
// canary's pods after it was due (notReady) and the time it took after it was due and the
// canary was ready (after): the first is kube-controller-manager, the scheduler and the
// kubelet (kwok here) starting pods, the second the controller and the API server.
type firstStepWait struct {
	at              time.Time
	notReady, after float64
}

// firstStepWaits finds, for each rollout of revision want[name] started after t0, its start,
// its first step and the first time its target was ready after the start; by Canary name.
func firstStepWaits(hist map[string][]observation, targets map[string][]targetObs, want map[string]string, t0 time.Time, interval time.Duration) map[string]firstStepWait {
	out := map[string]firstStepWait{}
	for name, h := range hist {
		start, ok := firstAfter(h, t0, func(o observation) bool { return o.applied == want[name] && o.isStart() && analysisPhase(o.phase) })
		if !ok {
			continue
		}
		step, ok := firstAfter(h, start.at, func(o observation) bool {
			return o.applied == want[name] && stepPhase(o.phase) && o.lastStep.After(o.rolloutStart)
		})
		if !ok {
			continue
		}
		ready, ok := firstAfter(targets[name], start.at, func(o targetObs) bool { return o.ready })
		if !ok || ready.at.After(step.at) {
			// Not seen ready by the step (the watches raced): no split.
			continue
		}
		due := start.at.Add(interval)
		from := due
		if ready.at.After(due) {
			from = ready.at
		}
		out[name] = firstStepWait{
			at:       step.at,
			notReady: max(0, ready.at.Sub(due)).Seconds(),
			after:    step.at.Sub(from).Seconds(),
		}
	}
	return out
}

// latenessLessCanaryWaits is lateness's byWatch with each first step's wait for its canary's
// pods (firsts) taken out: the lateness that is the controller's and the API server's.
func latenessLessCanaryWaits(hist map[string][]observation, firsts map[string]firstStepWait, from, to time.Time, interval time.Duration) []float64 {
	var out []float64
	for name, h := range hist {
		for _, s := range steps(h) {
			if !s.ok || s.at.Before(from) || s.at.After(to) {
				continue
			}
			l := (s.at.Sub(s.prev.at) - interval).Seconds()
			if w, ok := firsts[name]; ok && w.at.Equal(s.at) {
				l -= w.notReady
			}
			out = append(out, l)
		}
	}
	return out
}

// FirstStepWaits summarises firstStepWaits: how many first steps, and the two parts of their
// lateness.
type FirstStepWaits struct {
	N int `json:"n"`
	// CanaryNotReady is how long after it was due each first step waited for the canary's pods.
	CanaryNotReady dist `json:"canaryNotReadySeconds"`
	// AfterReady is how long after it was due and the canary was ready each first step came.
	AfterReady dist `json:"afterReadySeconds"`
}

func summariseFirstSteps(ws []firstStepWait) *FirstStepWaits {
	if len(ws) == 0 {
		return nil
	}
	notReady := make([]float64, 0, len(ws))
	after := make([]float64, 0, len(ws))
	for _, w := range ws {
		notReady, after = append(notReady, w.notReady), append(after, w.after)
	}
	return &FirstStepWaits{N: len(ws), CanaryNotReady: roundDist(summarise(notReady), 2), AfterReady: roundDist(summarise(after), 2)}
}

// withFirstSteps sets each window's FirstSteps from the first steps delivered in it.
func withFirstSteps(windows []LatenessWindow, ws map[string]firstStepWait, from time.Time, w time.Duration) {
	if w <= 0 || len(windows) == 0 {
		return
	}
	per := make([][]firstStepWait, len(windows))
	for _, s := range ws {
		if s.at.Before(from) {
			continue
		}
		i := min(int(s.at.Sub(from)/w), len(windows)-1)
		per[i] = append(per[i], s)
	}
	for i := range windows {
		windows[i].FirstSteps = summariseFirstSteps(per[i])
	}
}
