//go:build e2e

package scenarios

import (
	"slices"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// Promotion: a good release goes through every weight step, each announced on Slack, and is
// promoted; the users of the app see no failure.
func Promotion(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.canary())
	r.expectServed(5, "1.0.0", nil)
	rec := r.record()
	users := in.Env.StartTraffic(r.ctx, r.host(), 10, nil)

	r.release(map[string]string{"VERSION": "1.1.0"})
	r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded)
	stats := users.Stop()
	snaps := r.snapshots(rec, siskinv1.PhaseSucceeded)

	if w := framework.Weights(snaps); !isSubsequence([]int32{0, 30, 60, 0}, w) {
		r.fatalf("status weights went %v; expected the steps 0, 30, 60, then 0 after promotion\n%s", w, framework.Format(snaps))
	}
	if w := framework.RouteCanaryWeights(snaps); !isSubsequence([]int32{0, 30, 60, 0}, w) {
		r.fatalf("route canary weights went %v; expected 0, 30, 60, 0\n%s", w, framework.Format(snaps))
	}
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the promotion; expected 1.1.0", v)
	}
	r.expectRouteAtRest()
	r.expectServed(5, "1.1.0", nil)
	expectNoLoss(t, r, "during the promotion", stats)
	if stats.Versions["1.1.0"] == 0 {
		r.fatalf("users never reached the canary during the analysis: %s", stats)
	}
	r.slackContains("New revision", "canary weight increased to 30%", "canary weight increased to 60%", "Promotion started", "Promotion completed")
	t.Logf("users: %s", stats)
}

// RollbackOnErrors: a release answering 20% of requests with 500 is rolled back; the primary
// keeps all traffic and the reason names the metric, its value and its bound.
func RollbackOnErrors(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.canary())
	rec := r.record()

	r.release(map[string]string{"VERSION": "1.1.0", "ERROR_RATE": "0.2"})
	c := r.waitPhase(rolloutTimeout, siskinv1.PhaseFailed, siskinv1.PhaseSucceeded)
	if c.Status.Phase != siskinv1.PhaseFailed {
		r.fatalf("a release with 20%% errors was promoted\n%s", framework.Format(rec.Snapshots()))
	}
	msg := readyMessage(c)
	if !strings.Contains(msg, "request-success-rate") || !strings.Contains(msg, "below min 99") {
		r.fatalf("rollback reason %q does not name request-success-rate and its bound", msg)
	}
	if ch := framework.LastCheck(c, siskinv1.MetricRequestSuccessRate); ch == nil || ch.Verdict != siskinv1.VerdictFail {
		r.fatalf("status.lastChecks has no failed request-success-rate: %+v", c.Status.LastChecks)
	}
	if v := r.primaryVersion(); v != "1.0.0" {
		r.fatalf("primary runs %q after the rollback; expected 1.0.0", v)
	}
	r.expectRouteAtRest()
	r.expectServed(10, "1.0.0", nil)
	r.slackContains("New revision", "request-success-rate", "Rolled back")
}

// RollbackOnLatency: a release whose p99 latency exceeds the bound is rolled back on
// request-duration.
func RollbackOnLatency(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.canary())

	r.release(map[string]string{"VERSION": "1.1.0", "LATENCY_MS": "800"})
	c := r.waitPhase(rolloutTimeout, siskinv1.PhaseFailed, siskinv1.PhaseSucceeded)
	if c.Status.Phase != siskinv1.PhaseFailed {
		r.fatalf("a release with 800 ms latency was promoted")
	}
	msg := readyMessage(c)
	if !strings.Contains(msg, "request-duration") || !strings.Contains(msg, "above max 500") {
		r.fatalf("rollback reason %q does not name request-duration and its bound", msg)
	}
	if v := r.primaryVersion(); v != "1.0.0" {
		r.fatalf("primary runs %q after the rollback; expected 1.0.0", v)
	}
	r.expectRouteAtRest()
	r.expectServed(5, "1.0.0", nil)
}

// expectNoLoss fails the test if users saw any failure. The data plane retries a connect
// failure on another endpoint, as Envoy does, so a rolling update of the primary loses nothing.
func expectNoLoss(t *testing.T, r *rig, when string, stats framework.TrafficStats) {
	t.Helper()
	if stats.Failed > 0 {
		r.fatalf("users saw failures %s: %s (%d refused connections), codes %v (first: %s)", when, stats, stats.Refused, stats.Codes, stats.FirstFailure)
	}
}

// isSubsequence reports whether want appears in got in order, possibly with other values
// between.
func isSubsequence(want, got []int32) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// nonDecreasingUntil reports whether ws never decreases before its first occurrence of stop.
func nonDecreasingUntil(ws []int32, stop int32) bool {
	end := slices.Index(ws, stop)
	if end < 0 {
		end = len(ws)
	}
	for i := 1; i < end; i++ {
		if ws[i] < ws[i-1] {
			return false
		}
	}
	return true
}
