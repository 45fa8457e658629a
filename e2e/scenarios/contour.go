//go:build e2e

package scenarios

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// Scenarios of provider contour: the user's root HTTPProxy (virtualhost.fqdn Router.Host)
// includes the HTTPProxy named like the apex Service, which Siskin keeps weighing
// <app>-primary and <app>-canary. They are the promotion and the rollback on errors of
// rollout.go and the A/B test of strategy.go, with what differs for Contour: the scenario
// writes the root HTTPProxy, and the load test and the users go through its host (Envoy's
// cluster statistics count only what an HTTPProxy routed).

// withContour adds contour to the routers of a scenario.
func withContour(routers []framework.Router) []framework.Router {
	return append(append([]framework.Router(nil), routers...), framework.Contour)
}

// contourOr runs contour for provider contour and fn for the others, so that a scenario keeps
// its name (TestScenarios/promotion/contour) with a contour variant of its own.
func contourOr(fn, contour func(*testing.T, Input)) func(*testing.T, Input) {
	return func(t *testing.T, in Input) {
		if in.Router == framework.Contour {
			contour(t, in)
			return
		}
		fn(t, in)
	}
}

// contourCanary creates the user's root HTTPProxy and returns the scenarios' default Canary,
// its load test sent to the root's host.
func (r *rig) contourCanary() *siskinv1.Canary {
	r.t.Helper()
	r.createObject(r.in.Router.RootHTTPProxy(r.in.Namespace, r.in.Name))
	c := r.canary()
	c.Spec.Analysis.Webhooks = []siskinv1.CanaryWebhook{r.loadTest("http://" + r.host() + "/")}
	return c
}

// expectEnvoyMetrics fails unless Prometheus has Envoy's cluster statistics of the canary
// Service: what the built-in contour queries read.
func (r *rig) expectEnvoyMetrics() {
	r.t.Helper()
	q := fmt.Sprintf(`sum(envoy_cluster_upstream_rq{envoy_cluster_name="%s_%s-canary_%d"})`, r.in.Namespace, r.in.Name, r.in.Port)
	r.eventually(30*time.Second, "Prometheus to hold "+q, func(ctx context.Context) (bool, error) {
		v, err := r.query(ctx, q)
		return v > 0, err
	})
}

// ContourPromotion: Promotion through an HTTPProxy. A good release goes through every weight
// step of the HTTPProxy's route and is promoted; the users of the root HTTPProxy's host see no
// failure and reach the canary during the analysis.
func ContourPromotion(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.contourCanary())
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
		r.fatalf("HTTPProxy canary weights went %v; expected 0, 30, 60, 0\n%s", w, framework.Format(snaps))
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
	r.expectEnvoyMetrics()
	r.slackContains("New revision", "canary weight increased to 30%", "canary weight increased to 60%", "Promotion started", "Promotion completed")
	t.Logf("users: %s", stats)
}

// ContourRollbackOnErrors: RollbackOnErrors through an HTTPProxy. A release answering 20% of
// requests with 500 is rolled back on request-success-rate, read from Envoy's statistics of the
// canary Service's cluster; the HTTPProxy goes back to the primary alone.
func ContourRollbackOnErrors(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.contourCanary())
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

// ContourABTesting: ABTesting through an HTTPProxy. During the analysis, requests with the
// header x-canary: insider go to the new version (an HTTPProxy route with a header condition,
// which Contour ranks before the default route) and every other request to the primary; the
// load test sends the header through the root's host; then the new version is promoted.
func ContourABTesting(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	c := r.contourCanary()
	c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 0, nil
	c.Spec.Analysis.Iterations = 3
	c.Spec.Analysis.Match = []siskinv1.HTTPMatchRequest{{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}}}
	c.Spec.Analysis.Webhooks[0].Metadata["cmd"] = "hey -z 3m -q 5 -c 2 -H 'x-canary: insider' http://" + r.host() + "/"
	r.create(c)
	rec := r.record()

	r.release(map[string]string{"VERSION": "1.1.0"})
	r.wait(rolloutTimeout, "A/B route to the canary", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing && c.Status.CanaryWeight == 100
	})
	insider := map[string]string{"x-canary": "insider"}
	// The HTTPProxy is written in the same round as the status; give the data plane its ~20 ms.
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
	r.expectEnvoyMetrics()
}
