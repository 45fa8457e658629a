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
// promoted; the users of the app see no failure and reach the canary during the analysis, and
// the router's data plane counted the canary's requests.
func Promotion(t *testing.T, in Input) {
	r := newRig(t, in)
	rec, stats := r.promoteUnderTraffic(r.canary())
	snaps := r.snapshots(rec, siskinv1.PhaseSucceeded)
	if w := framework.Weights(snaps); !isSubsequence([]int32{0, 30, 60, 0}, w) {
		r.fatalf("status weights went %v; expected the steps 0, 30, 60, then 0 after promotion\n%s", w, framework.Format(snaps))
	}
	if w := framework.RouteCanaryWeights(snaps); !isSubsequence([]int32{0, 30, 60, 0}, w) {
		r.fatalf("%s canary weights went %v; expected 0, 30, 60, 0\n%s", r.kit().routeKind(), w, framework.Format(snaps))
	}
	r.expectRouteAtRest()
	r.expectServed(5, "1.1.0", nil)
	r.expectDataPlaneMetrics()
	r.slackContains("New revision", "canary weight increased to 30%", "canary weight increased to 60%", "Promotion started", "Promotion completed")
	t.Logf("users: %s", stats)
}

// promoteUnderTraffic creates c for the app at 1.0.0, releases 1.1.0 while users call the app
// through its route, and waits for the end of the rollout. It fails the test unless the release
// is promoted, the users saw no failure, and some of them reached the canary during the
// analysis; it returns the recorded states and the users' traffic.
func (r *rig) promoteUnderTraffic(c *siskinv1.Canary) (*framework.Recorder, framework.TrafficStats) {
	r.t.Helper()
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(c)
	r.expectServed(5, "1.0.0", nil)
	rec := r.record()
	users := r.in.Env.StartTraffic(r.ctx, r.host(), 10, nil)

	r.release(map[string]string{"VERSION": "1.1.0"})
	c = r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded, siskinv1.PhaseFailed)
	stats := users.Stop()
	if c.Status.Phase != siskinv1.PhaseSucceeded {
		r.fatalf("a good release was rolled back: %s\n%s", readyMessage(c), framework.Format(rec.Snapshots()))
	}
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the promotion; expected 1.1.0", v)
	}
	expectNoLoss(r.t, r, "during the promotion", stats)
	if stats.Versions["1.1.0"] == 0 {
		r.fatalf("users never reached the canary during the analysis: %s", stats)
	}
	return rec, stats
}

// RollbackOnErrors: a release answering 20% of requests with 500 is rolled back on the router's
// success rate; the primary keeps all traffic and the reason names the metric, its value and
// its bound.
func RollbackOnErrors(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.canary())
	rec := r.record()
	metric := r.kit().successRateMetric()

	r.release(map[string]string{"VERSION": "1.1.0", "ERROR_RATE": "0.2"})
	c := r.waitPhase(rolloutTimeout, siskinv1.PhaseFailed, siskinv1.PhaseSucceeded)
	if c.Status.Phase != siskinv1.PhaseFailed {
		r.fatalf("a release with 20%% errors was promoted\n%s", framework.Format(rec.Snapshots()))
	}
	msg := readyMessage(c)
	if !strings.Contains(msg, metric) || !strings.Contains(msg, "below min 99") {
		r.fatalf("rollback reason %q does not name %s and its bound", msg, metric)
	}
	if ch := framework.LastCheck(c, metric); ch == nil || ch.Verdict != siskinv1.VerdictFail {
		r.fatalf("status.lastChecks has no failed %s: %+v", metric, c.Status.LastChecks)
	}
	if v := r.primaryVersion(); v != "1.0.0" {
		r.fatalf("primary runs %q after the rollback; expected 1.0.0", v)
	}
	r.expectRouteAtRest()
	r.expectServed(10, "1.0.0", nil)
	r.slackContains("New revision", metric, "Rolled back")
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
