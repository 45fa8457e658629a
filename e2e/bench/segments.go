package main

import (
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// segmentNames are the consecutive parts of one rollout, from the patch of its Deployment to
// its Canary Succeeded with the new revision promoted; see breakdown.
var segmentNames = [...]string{
	"patch → rollout start",
	"start → first step",
	"weight steps",
	"promoting (primary rollout)",
	"finalising",
}

// weightSteps is the index of the segment that also counts the steps the watch saw.
const weightSteps = 2

// idealSegments is the ideal schedule of one rollout (config.idealRollout) split as
// segmentNames: the first step one interval after the start, each other step up to the one
// that starts the promotion an interval later; reacting to the patch, promoting and finalising
// take no time.
func idealSegments(interval time.Duration, steps int) [len(segmentNames)]time.Duration {
	return [...]time.Duration{0, interval, time.Duration(steps-1) * interval, 0, 0}
}

// rolloutBreakdown is where the time of one rollout went.
type rolloutBreakdown struct {
	// parts follow segmentNames and add up to total, from the patch to Succeeded.
	parts [len(segmentNames)]time.Duration
	total time.Duration
	// steps counts the analysis steps the watch delivered from the rollout start up to the
	// one that started the promotion, that one included.
	steps int
}

// breakdown splits the rollout of revision want, whose Deployment was patched at patched, at
// the watch's arrival times: the first observation of the revision Progressing (or Waiting for
// approval), the first whose lastStepTime is past its rolloutStartTime, the first Promoting,
// the first Finalising and the first Succeeded with want promoted. Every boundary is an
// observation of want itself, so the end of an earlier revision's rollout counts as waiting
// for the start of this one. A boundary the watch did not see (Finalising, which a round that
// finds the primary ready and the route confirmed passes on its way to Succeeded) falls on the
// next one: its time goes to the segment before it, and its own segment is 0. It reports false
// when the history does not reach want Succeeded.
func breakdown(h []observation, patched time.Time, want string) (rolloutBreakdown, bool) {
	from, end := -1, -1
	for i, o := range h {
		if o.at.Before(patched) {
			continue
		}
		if from < 0 {
			from = i
		}
		if o.phase == siskinv1.PhaseSucceeded && o.promoted == want {
			end = i
			break
		}
	}
	if end < 0 {
		return rolloutBreakdown{}, false
	}
	marks := [len(segmentNames) - 1]func(observation) bool{
		func(o observation) bool { return analysisPhase(o.phase) || o.phase == siskinv1.PhaseWaiting },
		// Not in Waiting, whose polls move lastStepTime past the rolloutStartTime of the
		// previous rollout.
		func(o observation) bool { return stepPhase(o.phase) && o.lastStep.After(o.rolloutStart) },
		func(o observation) bool { return o.phase == siskinv1.PhasePromoting },
		func(o observation) bool { return o.phase == siskinv1.PhaseFinalising },
	}
	// at holds the index of each boundary after the patch, the end included. A boundary may
	// share its observation with the one before it when the watch saw both in one status.
	var at [len(segmentNames)]int
	at[len(marks)] = end
	next := from
	for k, ok := range marks {
		at[k] = -1
		for i := next; i < end; i++ {
			if h[i].applied == want && ok(h[i]) {
				at[k], next = i, i
				break
			}
		}
	}
	for k := len(marks) - 1; k >= 0; k-- {
		if at[k] < 0 {
			at[k] = at[k+1]
		}
	}
	b := rolloutBreakdown{total: h[end].at.Sub(patched), steps: len(steps(h[at[0] : at[weightSteps]+1]))}
	prev := patched
	for k, i := range at {
		b.parts[k] = h[i].at.Sub(prev)
		prev = h[i].at
	}
	return b, true
}

// segments summarises, per segment of segmentNames and then in all ("total"), the rollouts of
// a fleet-wide change that promoted the new revision: want[name], patched at sent[name].
func segments(hist map[string][]observation, sent map[string]time.Time, want map[string]string, interval time.Duration, stepsPerRollout int) []Segment {
	var parts [len(segmentNames) + 1][]float64
	seen := 0
	for name, h := range hist {
		b, ok := breakdown(h, sent[name], want[name])
		if !ok {
			continue
		}
		for k, d := range b.parts {
			parts[k] = append(parts[k], d.Seconds())
		}
		parts[len(segmentNames)] = append(parts[len(segmentNames)], b.total.Seconds())
		seen += b.steps
	}
	out := make([]Segment, 0, len(parts))
	var ideal time.Duration
	for k, d := range idealSegments(interval, stepsPerRollout) {
		out = append(out, Segment{Name: segmentNames[k], Seconds: roundDist(summarise(parts[k]), 2), IdealSeconds: seconds(d)})
		ideal += d
	}
	out[weightSteps].StepsSeen = seen
	return append(out, Segment{Name: "total", Seconds: roundDist(summarise(parts[len(segmentNames)]), 2), IdealSeconds: seconds(ideal)})
}
