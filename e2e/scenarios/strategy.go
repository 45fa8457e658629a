//go:build e2e

package scenarios

import (
	"fmt"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// ABTesting: during the analysis, requests with the header x-canary: insider go to the new
// version and every other request to the primary; the load test sends the header (for a router
// that counts only what it routed, through the router's host); then the new version is
// promoted.
func ABTesting(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	c := r.canary()
	c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 0, nil
	c.Spec.Analysis.Iterations = 3
	c.Spec.Analysis.Match = []siskinv1.HTTPMatchRequest{{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}}}
	c.Spec.Analysis.Webhooks[0].Metadata["cmd"] = "hey -z 3m -q 5 -c 2 -H 'x-canary: insider' " + r.loadTarget()
	r.create(c)
	rec := r.record()

	r.release(map[string]string{"VERSION": "1.1.0"})
	r.wait(rolloutTimeout, "A/B route to the canary", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing && c.Status.CanaryWeight == 100
	})
	insider := map[string]string{"x-canary": "insider"}
	// The route is written in the same round as the status; give the data plane its ~20 ms.
	time.Sleep(500 * time.Millisecond)
	r.expectServed(10, "1.1.0", insider)
	r.expectServed(10, "1.0.0", nil)
	r.expectServed(5, "1.0.0", map[string]string{"x-canary": "outsider"})

	r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded)
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the promotion; expected 1.1.0\n%s", v, framework.Format(rec.Snapshots()))
	}
	r.expectRouteAtRest()
	r.expectServed(5, "1.1.0", nil)
	r.expectServed(5, "1.1.0", insider)
	r.expectDataPlaneMetrics()
}

// BlueGreen: the new version is analysed without user traffic (the load test reaches it
// directly), then all traffic switches to it at once, then it is promoted.
func BlueGreen(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	c := r.canary()
	c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 0, nil
	c.Spec.Analysis.Iterations = 2
	r.create(c)
	rec := r.record()
	users := in.Env.StartTraffic(r.ctx, r.host(), 10, nil)

	r.release(map[string]string{"VERSION": "1.1.0"})
	r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded)
	stats := users.Stop()
	snaps := r.snapshots(rec, siskinv1.PhaseSucceeded)

	if leak := leakedBeforeSwitch(stats, snaps, "1.1.0"); leak != "" {
		r.fatalf("%s\n%s", leak, framework.Format(snaps))
	}
	if w := framework.RouteCanaryWeights(snaps); !isSubsequence([]int32{0, 100, 0}, w) || containsBetween(w, 0, 100) {
		r.fatalf("route canary weights went %v; expected 0, then 100 at once, then 0\n%s", w, framework.Format(snaps))
	}
	expectNoLoss(t, r, "during the blue/green rollout", stats)
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the promotion; expected 1.1.0", v)
	}
	r.expectRouteAtRest()
	r.slackContains("New revision", "Promotion completed")
}

// BlueGreenMirror: during the analysis the users' requests are mirrored to the new version,
// whose answers nobody sees; its metrics come from the mirrored requests alone (the load test
// targets the apex route, not the canary).
func BlueGreenMirror(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	c := r.canary()
	c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 0, nil
	c.Spec.Analysis.Iterations = 2
	c.Spec.Analysis.Mirror = true
	c.Spec.Analysis.Webhooks = []siskinv1.CanaryWebhook{r.loadTest(fmt.Sprintf("http://%s/", r.host()))}
	r.create(c)
	rec := r.record()
	users := in.Env.StartTraffic(r.ctx, r.host(), 10, nil)

	r.release(map[string]string{"VERSION": "1.1.0"})
	// The mirror belongs to the analysis from its first step on.
	r.wait(90*time.Second, "requests mirrored to the new version", func(*siskinv1.Canary) bool {
		s := rec.Snapshots()
		return len(s) > 0 && s[len(s)-1].Mirror
	})
	c = r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded, siskinv1.PhaseFailed)
	stats := users.Stop()
	snaps := r.snapshots(rec, siskinv1.PhaseSucceeded)
	if c.Status.Phase != siskinv1.PhaseSucceeded {
		r.fatalf("blue/green with mirroring ended %s: %s\n%s", c.Status.Phase, readyMessage(c), framework.Format(snaps))
	}
	if leak := leakedBeforeSwitch(stats, snaps, "1.1.0"); leak != "" {
		r.fatalf("users saw the mirrored version's answers before the switch: %s\n%s", leak, framework.Format(snaps))
	}
	expectNoLoss(t, r, "during the blue/green rollout with mirroring", stats)
	if ch := framework.LastCheck(c, siskinv1.MetricRequestSuccessRate); ch == nil || ch.Verdict != siskinv1.VerdictPass {
		r.fatalf("request-success-rate was not judged on mirrored traffic: %+v", c.Status.LastChecks)
	}
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the promotion; expected 1.1.0", v)
	}
	r.expectRouteAtRest()
}

// containsBetween reports whether ws holds a value strictly between lo and hi.
func containsBetween(ws []int32, lo, hi int32) bool {
	for _, w := range ws {
		if w > lo && w < hi {
			return true
		}
	}
	return false
}

// leakedBeforeSwitch says what went wrong when users got an answer from version on a request
// sent while the route still sent everything to the primary; "" when none did.
func leakedBeforeSwitch(stats framework.TrafficStats, snaps []framework.Snapshot, version string) string {
	var lastOld time.Time
	for _, s := range snaps {
		if s.Canary == 100 {
			break
		}
		lastOld = s.Time
	}
	first, ok := stats.FirstSent[version]
	if ok && first.Before(lastOld) {
		return fmt.Sprintf("a user request sent at %s, while the route still sent all traffic to the primary (seen at %s), was answered by %s",
			first.Format("15:04:05.000"), lastOld.Format("15:04:05.000"), version)
	}
	return ""
}
