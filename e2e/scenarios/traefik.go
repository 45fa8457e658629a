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

// Scenarios of provider traefik: the user's IngressRoute (host Router.Host, named like the app)
// routes to the TraefikService named like the apex Service, which Siskin keeps weighing
// <app>-primary and <app>-canary. They are the promotion and the rollback on errors of
// rollout.go with what differs for Traefik: the scenario writes the IngressRoute, and the load
// test and the users go through its host (Traefik's service metrics count only what it
// routed).

// withNginxAndTraefik are the routers of the scenarios that have nginx and traefik variants.
var withNginxAndTraefik = append(append([]framework.Router(nil), withNginx...), framework.Traefik)

// traefikOr runs traefik for provider traefik and fn for the others, so that a scenario keeps
// its name (TestScenarios/promotion/traefik) with a traefik variant of its own.
func traefikOr(fn, traefik func(*testing.T, Input)) func(*testing.T, Input) {
	return func(t *testing.T, in Input) {
		if in.Router == framework.Traefik {
			traefik(t, in)
			return
		}
		fn(t, in)
	}
}

// traefikCanary creates the user's IngressRoute and returns the scenarios' default Canary, its
// load test sent to the IngressRoute's host.
func (r *rig) traefikCanary() *siskinv1.Canary {
	r.t.Helper()
	r.createObject(r.in.Router.IngressRoute(r.in.Namespace, r.in.Name))
	c := r.canary()
	c.Spec.Analysis.Webhooks = []siskinv1.CanaryWebhook{r.loadTest("http://" + r.host() + "/")}
	return c
}

// expectTraefikMetrics fails unless Prometheus has Traefik's service metrics of the canary
// Service behind the TraefikService: what the built-in traefik queries read.
func (r *rig) expectTraefikMetrics() {
	r.t.Helper()
	q := fmt.Sprintf(`sum(traefik_service_requests_total{service="%s-%s-canary-%d@kubernetescrd"})`, r.in.Namespace, r.in.Name, r.in.Port)
	r.eventually(30*time.Second, "Prometheus to hold "+q, func(ctx context.Context) (bool, error) {
		v, err := r.query(ctx, q)
		return v > 0, err
	})
}

// TraefikPromotion: Promotion through a TraefikService. A good release goes through every
// weight step of the TraefikService and is promoted; the users of the IngressRoute's host see
// no failure and reach the canary during the analysis.
func TraefikPromotion(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.traefikCanary())
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
		r.fatalf("TraefikService canary weights went %v; expected 0, 30, 60, 0\n%s", w, framework.Format(snaps))
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
	r.expectTraefikMetrics()
	r.slackContains("New revision", "canary weight increased to 30%", "canary weight increased to 60%", "Promotion started", "Promotion completed")
	t.Logf("users: %s", stats)
}

// TraefikRollbackOnErrors: RollbackOnErrors through a TraefikService. A release answering 20% of
// requests with 500 is rolled back on request-success-rate, read from Traefik's service metrics
// of the canary Service; the TraefikService goes back to the primary alone.
func TraefikRollbackOnErrors(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.traefikCanary())
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
