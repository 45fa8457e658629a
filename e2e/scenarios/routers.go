//go:build e2e

package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// routerKit is everything the scenarios need to know of one router: what the user writes for
// it before the Canary, what its Canary changes, how its route looks at rest, what its data
// plane counts, and which of the common scenarios it runs. The scenarios themselves are
// written once (rollout.go, strategy.go) and ask the kit; a router's e2e is its kit and a line
// in routerKits.
type routerKit struct {
	framework.Router
	// scenarios names the common scenarios (those of the scenarios table built with common)
	// the router runs.
	scenarios []string
	// kind names the object that carries the weights, in failure messages ("route" when empty).
	kind string
	// objects are what the user writes before the Canary (an Ingress, a root HTTPProxy, a
	// MetricTemplate); created once, just before the Canary.
	objects func(r *rig) []client.Object
	// routedLoad says that the router's metrics count only what its route sent: the load test
	// goes through the router's host (Router.Host) instead of straight to the canary Service.
	routedLoad bool
	// canary changes the scenarios' default Canary: a reference to the user's object, the
	// router's own metrics.
	canary func(r *rig, c *siskinv1.Canary)
	// successRate is the metric a release with errors is rolled back on; by default the
	// built-in request-success-rate.
	successRate string
	// atRest reports whether the live route sends nothing to the canary, and says what it
	// expects for a failure message; by default the primary at 100, the canary at 0, no mirror.
	atRest func(rt *framework.Route, name string) (bool, string)
	// metrics is a PromQL query of the data plane's statistics of the canary, which the
	// router's built-in metrics read, with {namespace}, {name} and {port} for the app's (and
	// {underscored namespace} and {underscored name}, each character other than a letter, digit
	// or underscore an underscore): the scenarios check that it counted requests. Empty: nothing
	// to check.
	metrics string
}

// routerKits are the routers of the common scenarios, in the order their subtests run.
var routerKits = []routerKit{
	{Router: framework.Istio, scenarios: []string{"promotion", "rollback-errors", "ab-testing"}},
	{Router: framework.GatewayAPI, scenarios: []string{"promotion", "rollback-errors", "ab-testing"}},
	nginxKit,
	traefikKit,
	contourKit,
	linkerdKit,
	envoyGatewayKit,
	skipperKit,
}

// kitOf is the kit of rt; a router without one (the replicas router of the target kinds) is
// driven by the defaults.
func kitOf(rt framework.Router) routerKit {
	for _, k := range routerKits {
		if k.Provider == rt.Provider {
			return k
		}
	}
	return routerKit{Router: rt}
}

// common is a scenario that runs for every router whose kit names it.
func common(name string, fn func(*testing.T, Input)) scenario {
	var routers []framework.Router
	for _, k := range routerKits {
		if slices.Contains(k.scenarios, name) {
			routers = append(routers, k.Router)
		}
	}
	return scenario{name: name, fn: fn, routers: routers}
}

// checkKits fails unless the table runs every scenario a kit names for the kit's router: a
// misspelt name, or a scenario not built with common, would otherwise drop it without a word.
func checkKits(t *testing.T, table []scenario) {
	t.Helper()
	for _, k := range routerKits {
		for _, name := range k.scenarios {
			if !slices.ContainsFunc(table, func(s scenario) bool { return s.name == name && slices.Contains(s.routers, k.Router) }) {
				t.Errorf("router %s names scenario %q, which the scenarios table does not run for it (a common scenario?)", k.Provider, name)
			}
		}
	}
}

// kit is the kit of the rig's router.
func (r *rig) kit() routerKit { return kitOf(r.in.Router) }

// prepare creates what the user writes for the router before the Canary, once.
func (r *rig) prepare() {
	r.t.Helper()
	k := r.kit()
	if r.prepared || k.objects == nil {
		return
	}
	r.prepared = true
	for _, o := range k.objects(r) {
		r.createObject(o)
	}
}

// loadTarget is the URL the load test sends to: the router's host when the router's metrics
// count only what its route sent, the canary Service otherwise.
func (r *rig) loadTarget() string {
	if r.kit().routedLoad {
		return "http://" + r.host() + "/"
	}
	return fmt.Sprintf("http://%s-canary.%s:%d/", r.in.Name, r.in.Namespace, r.in.Port)
}

// routeKind names the object that carries the router's weights.
func (k routerKit) routeKind() string {
	if k.kind == "" {
		return "route"
	}
	return k.kind
}

// successRateMetric is the metric a release with errors is rolled back on.
func (k routerKit) successRateMetric() string {
	if k.successRate == "" {
		return siskinv1.MetricRequestSuccessRate
	}
	return k.successRate
}

// routeAtRest is the default atRest: the primary at 100, the canary at 0, no mirror.
func routeAtRest(rt *framework.Route, name string) (bool, string) {
	return rt.Weight("", name+"-primary") == 100 && rt.Weight("", name+"-canary") == 0 && !rt.HasMirror(),
		"primary 100, canary 0, no mirror"
}

// expectRouteAtRest fails unless the live route sends everything to the primary.
func (r *rig) expectRouteAtRest() {
	r.t.Helper()
	atRest := r.kit().atRest
	if atRest == nil {
		atRest = routeAtRest
	}
	// The rollout's end is written before the route is converged to it (the status is the
	// intent): give the router a few seconds to catch up.
	var rt *framework.Route
	var want string
	err := framework.Eventually(r.ctx, 15*time.Second, "the route at rest", func(ctx context.Context) (bool, error) {
		var err error
		if rt, err = r.in.Env.Route(ctx, r.in.Router.Provider, r.in.Namespace, r.in.Name); err != nil {
			return false, err
		}
		ok, w := atRest(rt, r.in.Name)
		want = w
		return ok, nil
	})
	if err != nil {
		r.fatalf("%s is %s; expected %s (%v)", r.kit().routeKind(), rt, want, err)
	}
}

// expectDataPlaneMetrics fails unless Prometheus holds the data plane's statistics of the
// canary that the router's built-in metrics read; nothing to check for a router without them.
func (r *rig) expectDataPlaneMetrics() {
	r.t.Helper()
	k := r.kit()
	if k.metrics == "" {
		return
	}
	q := strings.NewReplacer("{namespace}", r.in.Namespace, "{name}", r.in.Name, "{port}", strconv.Itoa(int(r.in.Port)),
		"{underscored namespace}", underscored(r.in.Namespace), "{underscored name}", underscored(r.in.Name)).Replace(k.metrics)
	r.eventually(30*time.Second, "Prometheus to hold "+q, func(ctx context.Context) (bool, error) {
		v, err := r.query(ctx, q)
		return v > 0, err
	})
}
