package canary

import (
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// benchCanary is a canary in the middle of its analysis with the webhooks of the tutorial.
func benchCanary() *siskinv1.Canary {
	c := newCanary()
	withHooks(c)
	hook(c, siskinv1.ConfirmPromotionHook)
	hook(c, siskinv1.RollbackHook)
	progressingStatus(c, 20)
	return c
}

// BenchmarkPlan plans a round with a due analysis step, the busiest kind of round.
func BenchmarkPlan(b *testing.B) {
	c := benchCanary()
	obs := obsFor(c, t0.Add(time.Minute))
	obs.Gates = map[siskinv1.WebhookType]Gate{siskinv1.RollbackHook: {}}
	obs.Checks = []siskinv1.CheckResult{
		hookCheck("rollout-hook", siskinv1.VerdictPass, obs.Now),
		metricCheck(siskinv1.VerdictPass, obs.Now),
	}
	b.ReportAllocs()
	for b.Loop() {
		Plan(c, obs)
	}
}

// BenchmarkPlanAtRest plans a round of a Canary at rest (a resync or an unrelated event).
func BenchmarkPlanAtRest(b *testing.B) {
	c := newCanary()
	restingStatus(c, siskinv1.PhaseSucceeded)
	obs := obsFor(c, t0)
	b.ReportAllocs()
	for b.Loop() {
		Plan(c, obs)
	}
}

// BenchmarkNeedsFor decides what to gather, at rest and when a step is due.
func BenchmarkNeedsFor(b *testing.B) {
	rest := newCanary()
	withHooks(rest)
	restingStatus(rest, siskinv1.PhaseSucceeded)
	due := benchCanary()
	for _, bc := range []struct {
		name string
		c    *siskinv1.Canary
	}{{"at-rest", rest}, {"step-due", due}} {
		b.Run(bc.name, func(b *testing.B) {
			obs := obsFor(bc.c, t0.Add(time.Minute))
			b.ReportAllocs()
			for b.Loop() {
				NeedsFor(bc.c, obs)
			}
		})
	}
}
