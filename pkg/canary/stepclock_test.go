package canary

import (
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// TestStepStamp pins which time an analysis step records as its own: the time it was due when
// it runs within a second of it, the moment it ran (rounded up to the second) otherwise.
func TestStepStamp(t *testing.T) {
	due := t0.Add(time.Minute)
	for _, tc := range []struct {
		name string
		late time.Duration
		want time.Time
	}{
		{"a step on the dot records its due time", 0, due},
		{"a step a few milliseconds late records its due time", 7 * time.Millisecond, due},
		{"a step 999ms late still records its due time", 999 * time.Millisecond, due},
		{"a step a second late records when it ran", time.Second, due.Add(time.Second)},
		{"a step 2.3s late records when it ran, rounded up", 2300 * time.Millisecond, due.Add(3 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			progressingStatus(c, 10)
			obs := obsFor(c, due.Add(tc.late))
			obs.Checks = []siskinv1.CheckResult{metricCheck(siskinv1.VerdictPass, obs.Now)}
			d := Plan(c, obs)
			if got := d.Status.LastStepTime; got == nil || !got.Time.Equal(tc.want) {
				t.Fatalf("lastStepTime = %v, want %v", got, tc.want)
			}
			if d.Status.CanaryWeight != 20 {
				t.Fatalf("the step did not run: weight %d", d.Status.CanaryWeight)
			}
		})
	}
}

// TestStepsDoNotDrift runs a rollout whose every round comes a little after the time it asked
// for (as a real workqueue does): the steps stay on the schedule set by the first one.
func TestStepsDoNotDrift(t *testing.T) {
	c := newCanary()
	c.Spec.Analysis.MaxWeight = ptr[int32](50)
	progressingStatus(c, 10)
	now := t0
	var steps []time.Time
	for range 8 {
		obs := obsFor(c, now)
		if NeedsFor(c, obs).Step {
			obs.Checks = []siskinv1.CheckResult{metricCheck(siskinv1.VerdictPass, now)}
		}
		d := Plan(c, obs)
		if d.Status.LastStepTime != nil && (c.Status.LastStepTime == nil || !d.Status.LastStepTime.Equal(c.Status.LastStepTime)) {
			steps = append(steps, now)
		}
		c.Status = d.Status
		if d.RequeueAfter <= 0 {
			break
		}
		now = now.Add(d.RequeueAfter + 40*time.Millisecond)
	}
	if len(steps) < 4 {
		t.Fatalf("only %d steps ran: %v", len(steps), steps)
	}
	for i, at := range steps {
		want := t0.Add(time.Duration(i+1) * time.Minute)
		if late := at.Sub(want); late < 0 || late >= time.Second {
			t.Errorf("step %d ran at +%s, want within a second after +%s", i+1, at.Sub(t0), want.Sub(t0))
		}
	}
}
