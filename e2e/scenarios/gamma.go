//go:build e2e

package scenarios

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// withLinkerd adds provider linkerd, whose scenarios are the generic ones (an HTTPRoute whose
// parent is the apex Service, judged by Linkerd's built-in metrics), and gatewayapi:envoy, which
// has variants of its own (envoyGatewayOr), to routers.
func withLinkerd(routers []framework.Router) []framework.Router {
	return append(append([]framework.Router(nil), routers...), framework.Linkerd, framework.EnvoyGateway)
}

// envoyGatewayOr runs eg for provider gatewayapi:envoy and fn for the others, so that a
// scenario keeps its name (TestScenarios/promotion/gatewayapi:envoy).
func envoyGatewayOr(fn, eg func(*testing.T, Input)) func(*testing.T, Input) {
	return func(t *testing.T, in Input) {
		if in.Router.Provider == siskinv1.ProviderGatewayAPIEnvoy {
			eg(t, in)
			return
		}
		fn(t, in)
	}
}

// routeSuccessRate is the metric of the gatewayapi:envoy scenarios: Envoy Gateway counts the
// primary's and the canary's requests in one cluster per rule, so there is no built-in metric;
// the success rate of the route's users, from the MetricTemplate route-success-rate, is what an
// Envoy Gateway user can judge a release by.
const routeSuccessRate = "route-success-rate"

// routeClusters selects the clusters of the rules of the Canary's HTTPRoute, named after the
// apex Service.
const routeClusters = `envoy_cluster_name=~"httproute/{{ namespace }}/{{ service }}/rule/[0-9]+"`

// envoyGatewayCanary is the rig's Canary judged by route-success-rate instead of the built-in
// metrics, with a minimum sample of the route's requests.
func (r *rig) envoyGatewayCanary() *siskinv1.Canary {
	r.t.Helper()
	tmpl := &siskinv1.MetricTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.in.Namespace, Name: routeSuccessRate},
		Spec: siskinv1.MetricTemplateSpec{Query: `sum(rate(envoy_cluster_upstream_rq{` + routeClusters + `, envoy_response_code!~"5.*"}[{{ interval }}]))` +
			` / sum(rate(envoy_cluster_upstream_rq{` + routeClusters + `}[{{ interval }}])) * 100`},
	}
	if err := r.in.Env.Client.Create(r.ctx, tmpl); err != nil {
		r.t.Fatalf("create MetricTemplate: %v", err)
	}
	c := r.canary()
	c.Spec.Analysis.Metrics = []siskinv1.CanaryMetric{{
		Name: routeSuccessRate, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr.To(99.0)},
		TemplateRef: &siskinv1.CrossNamespaceObjectReference{Name: routeSuccessRate},
		MinSample: &siskinv1.CanaryMetricMinSample{Min: 10,
			Query: `sum(increase(envoy_cluster_upstream_rq_total{` + routeClusters + `}[{{ interval }}]))`},
	}}
	return c
}

// EnvoyGatewayPromotion: a good release behind a Gateway of Envoy Gateway's class, reached by
// users through it, is promoted in the usual steps, judged by the route's success rate.
func EnvoyGatewayPromotion(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.envoyGatewayCanary())
	r.expectServed(5, "1.0.0", nil)
	rec := r.record()
	users := in.Env.StartTraffic(r.ctx, r.host(), 10, nil)

	r.release(map[string]string{"VERSION": "1.1.0"})
	c := r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded, siskinv1.PhaseFailed)
	stats := users.Stop()
	if c.Status.Phase != siskinv1.PhaseSucceeded {
		r.fatalf("a good release behind Envoy Gateway was rolled back: %s\n%s", readyMessage(c), framework.Format(rec.Snapshots()))
	}
	snaps := r.snapshots(rec, siskinv1.PhaseSucceeded)
	if w := framework.RouteCanaryWeights(snaps); !isSubsequence([]int32{0, 30, 60, 0}, w) {
		r.fatalf("route canary weights went %v; expected 0, 30, 60, 0\n%s", w, framework.Format(snaps))
	}
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the promotion; expected 1.1.0", v)
	}
	r.expectRouteAtRest()
	expectNoLoss(t, r, "during the promotion", stats)
	if stats.Versions["1.1.0"] == 0 {
		r.fatalf("users never reached the canary during the analysis: %s", stats)
	}
	t.Logf("users: %s", stats)
}

// EnvoyGatewayRollbackOnErrors: a release answering 20% of requests with 500 lowers the success
// rate of the route's users (30% of them reach it: 94%), and is rolled back on it.
func EnvoyGatewayRollbackOnErrors(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.envoyGatewayCanary())
	users := in.Env.StartTraffic(r.ctx, r.host(), 10, nil)
	rec := r.record()

	r.release(map[string]string{"VERSION": "1.1.0", "ERROR_RATE": "0.2"})
	c := r.waitPhase(rolloutTimeout, siskinv1.PhaseFailed, siskinv1.PhaseSucceeded)
	users.Stop()
	if c.Status.Phase != siskinv1.PhaseFailed {
		r.fatalf("a release with 20%% errors was promoted\n%s", framework.Format(rec.Snapshots()))
	}
	if msg := readyMessage(c); !strings.Contains(msg, routeSuccessRate) || !strings.Contains(msg, "below min 99") {
		r.fatalf("rollback reason %q does not name %s and its bound", msg, routeSuccessRate)
	}
	if ch := framework.LastCheck(c, routeSuccessRate); ch == nil || ch.Verdict != siskinv1.VerdictFail {
		r.fatalf("status.lastChecks has no failed %s: %+v", routeSuccessRate, c.Status.LastChecks)
	}
	if v := r.primaryVersion(); v != "1.0.0" {
		r.fatalf("primary runs %q after the rollback; expected 1.0.0", v)
	}
	r.expectRouteAtRest()
}
