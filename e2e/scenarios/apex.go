//go:build e2e

package scenarios

import (
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// The apex scenarios send all load through the apex host, as real users reach a canary: no
// load test aims at the canary Service, so at weight 0 the canary has no traffic at all. A
// step must not judge it on traffic it was never sent: the good release is promoted (it used
// to wait for data at weight 0 until the progress deadline rolled it back), and the bad one
// is rolled back on what the users' share of it showed.

// apexCanary is the rig's Canary without the load test.
func (r *rig) apexCanary() *siskinv1.Canary {
	c := r.canary()
	c.Spec.Analysis.Webhooks = nil
	return c
}

// PromotionThroughApex: a good release, judged only on user traffic, is promoted.
func PromotionThroughApex(t *testing.T, in Input) {
	r := newRig(t, in)
	_, stats := r.promoteUnderTraffic(r.apexCanary())
	t.Logf("users: %s", stats)
}

// RollbackThroughApex: a release answering 20% of requests with 500, judged only on user
// traffic, is rolled back on request-success-rate once users reach it.
func RollbackThroughApex(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.apexCanary())
	users := in.Env.StartTraffic(r.ctx, r.host(), 10, nil)
	rec := r.record()

	r.release(map[string]string{"VERSION": "1.1.0", "ERROR_RATE": "0.2"})
	c := r.waitPhase(rolloutTimeout, siskinv1.PhaseFailed, siskinv1.PhaseSucceeded)
	stats := users.Stop()
	if c.Status.Phase != siskinv1.PhaseFailed {
		r.fatalf("a release with 20%% errors was promoted\n%s", framework.Format(rec.Snapshots()))
	}
	// The Promoted condition keeps the reason; Ready may still say the rollback waits for the
	// router's confirmation.
	if p := framework.Condition(c, siskinv1.ConditionPromoted); p == nil || !strings.Contains(p.Message, "request-success-rate") {
		r.fatalf("rollback reason %+v does not name request-success-rate", p)
	}
	if v := r.primaryVersion(); v != "1.0.0" {
		r.fatalf("primary runs %q after the rollback; expected 1.0.0", v)
	}
	r.expectRouteAtRest()
	t.Logf("users: %s", stats)
}
