//go:build e2e

package scenarios

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// Scenarios of provider nginx: the user's Ingress (class nginx, host Router.Host) routes to the
// apex Service, and Siskin keeps the canary Ingress <ingress>-canary beside it, which the data
// plane merges as ingress-nginx does. They are the promotion and the rollback on errors of
// rollout.go and the A/B test of strategy.go, with what differs for an Ingress: the Canary names the Ingress, the load test and
// the users go through the Ingress host (ingress-nginx's metrics count only what an Ingress
// routed), and the route at rest is a canary Ingress of weight 0.

// withNginx are the routers of the scenarios that have an nginx variant.
var withNginx = []framework.Router{framework.Istio, framework.GatewayAPI, framework.Nginx}

// nginxOr runs nginx for provider nginx and fn for the others, so that a scenario keeps its
// name (TestScenarios/promotion/nginx) with an nginx variant of its own.
func nginxOr(fn, nginx func(*testing.T, Input)) func(*testing.T, Input) {
	return func(t *testing.T, in Input) {
		if in.Router == framework.Nginx {
			nginx(t, in)
			return
		}
		fn(t, in)
	}
}

// nginxCanary creates the user's Ingress, named like the app, and returns the scenarios'
// default Canary routed through it, its load test sent to the Ingress host.
func (r *rig) nginxCanary() *siskinv1.Canary {
	r.t.Helper()
	host, _, _ := strings.Cut(r.host(), ":")
	r.createObject(&knetworkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.in.Namespace, Name: r.in.Name},
		Spec: knetworkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			Rules: []knetworkingv1.IngressRule{{Host: host, IngressRuleValue: knetworkingv1.IngressRuleValue{HTTP: &knetworkingv1.HTTPIngressRuleValue{
				Paths: []knetworkingv1.HTTPIngressPath{{
					Path: "/", PathType: ptr.To(knetworkingv1.PathTypePrefix),
					Backend: knetworkingv1.IngressBackend{Service: &knetworkingv1.IngressServiceBackend{
						Name: r.in.Name, Port: knetworkingv1.ServiceBackendPort{Number: r.in.Port},
					}},
				}},
			}}}},
		},
	})
	c := r.canary()
	c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: r.in.Name}
	c.Spec.Analysis.Webhooks = []siskinv1.CanaryWebhook{r.loadTest("http://" + r.host() + "/")}
	return c
}

// expectIngressAtRest fails unless the canary Ingress sends nothing to the canary: weight 0 and
// no header or cookie rule (or no canary Ingress at all).
func (r *rig) expectIngressAtRest() {
	r.t.Helper()
	var rt *framework.Route
	err := framework.Eventually(r.ctx, 15*time.Second, "the Ingresses at rest", func(ctx context.Context) (bool, error) {
		var err error
		if rt, err = r.in.Env.Route(ctx, r.in.Router.Provider, r.in.Namespace, r.in.Name); err != nil {
			return false, err
		}
		return len(rt.Rules) == 1 && rt.Weight("", r.in.Name+"-canary") == 0 && rt.Weight("", r.in.Name) == 100, nil
	})
	if err != nil {
		r.fatalf("Ingresses are %s; expected %s 100, no canary weight and no match (%v)", rt, r.in.Name, err)
	}
}

// expectIngressMetrics fails unless Prometheus has ingress-nginx's request metrics of the canary
// Ingress: what the built-in nginx queries read.
func (r *rig) expectIngressMetrics() {
	r.t.Helper()
	q := fmt.Sprintf(`sum(nginx_ingress_controller_requests{namespace=%q,ingress=%q})`, r.in.Namespace, r.in.Name+"-canary")
	r.eventually(30*time.Second, "Prometheus to hold "+q, func(ctx context.Context) (bool, error) {
		v, err := r.query(ctx, q)
		return v > 0, err
	})
}

// NginxPromotion: Promotion through ingress-nginx canary Ingresses. A good release goes through
// every weight step of the canary Ingress and is promoted; the users of the Ingress host see no
// failure and reach the canary during the analysis.
func NginxPromotion(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.nginxCanary())
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
		r.fatalf("canary Ingress weights went %v; expected 0, 30, 60, 0\n%s", w, framework.Format(snaps))
	}
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the promotion; expected 1.1.0", v)
	}
	r.expectIngressAtRest()
	r.expectServed(5, "1.1.0", nil)
	expectNoLoss(t, r, "during the promotion", stats)
	if stats.Versions["1.1.0"] == 0 {
		r.fatalf("users never reached the canary during the analysis: %s", stats)
	}
	r.expectIngressMetrics()
	r.slackContains("New revision", "canary weight increased to 30%", "canary weight increased to 60%", "Promotion started", "Promotion completed")
	t.Logf("users: %s", stats)
}

// NginxRollbackOnErrors: RollbackOnErrors through ingress-nginx canary Ingresses. A release
// answering 20% of requests with 500 is rolled back on request-success-rate, read from the
// canary Ingress's metrics; the user's Ingress keeps all traffic on the primary.
func NginxRollbackOnErrors(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.nginxCanary())
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
	r.expectIngressAtRest()
	r.expectServed(10, "1.0.0", nil)
	r.slackContains("New revision", "request-success-rate", "Rolled back")
}

// NginxABTesting: ABTesting through ingress-nginx canary Ingresses. During the analysis,
// requests with the header x-canary: insider go to the new version (canary-by-header) and every
// other request to the primary; the load test sends the header, since only what the canary
// Ingress routes is in its metrics; then the new version is promoted.
func NginxABTesting(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	c := r.nginxCanary()
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
	// The Ingress is written in the same round as the status; give the data plane its ~20 ms.
	time.Sleep(500 * time.Millisecond)
	r.expectServed(10, "1.1.0", insider)
	r.expectServed(10, "1.0.0", nil)
	r.expectServed(5, "1.0.0", map[string]string{"x-canary": "outsider"})

	r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded)
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the promotion; expected 1.1.0\n%s", v, framework.Format(rec.Snapshots()))
	}
	r.expectIngressAtRest()
	r.expectServed(5, "1.1.0", nil)
	r.expectServed(5, "1.1.0", insider)
}
