package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// The baseline scenarios run the baseline's actions through the reconciler's act and observe
// against the real API server, in the order a planner asks for them. No controller plans here:
// the test is the planner.

func TestBaselineOnIstio(t *testing.T) {
	t.Parallel()
	baselineScenario(t, siskinv1.ProviderIstio)
}

func TestBaselineOnGatewayAPI(t *testing.T) {
	t.Parallel()
	baselineScenario(t, siskinv1.ProviderGatewayAPI)
}

// actor is a reconciler on an informer cache of one namespace, without its controller.
type actor struct {
	r *CanaryReconciler
	c *siskinv1.Canary
}

// newActor starts a manager whose cache watches namespace ns, and builds the reconciler on it
// without registering the controller.
func newActor(t *testing.T, ns string, c *siskinv1.Canary) *actor {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}, DefaultTransform: TrimForCache},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(mgr, Options{DefaultProvider: c.Spec.Provider, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// A manager that fails to start leaves the cache empty, and the first await says so.
	go func() { _ = mgr.Start(ctx) }()
	return &actor{r: r, c: c}
}

// do observes the world and executes the actions as the reconciler does after a round.
func (a *actor) do(t *testing.T, actions ...canary.Action) {
	t.Helper()
	ctx := context.Background()
	obs, _, err := a.r.observe(ctx, a.c)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.r.act(ctx, a.c, obs, actions); err != nil {
		t.Fatal(err)
	}
}

// await observes until cond holds, and returns that observation.
func (a *actor) await(t *testing.T, what string, cond func(canary.Observation) bool) canary.Observation {
	t.Helper()
	var last canary.Observation
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if last, _, err = a.r.observe(context.Background(), a.c); err == nil && cond(last) {
			return last
		}
	}
	t.Fatalf("%s: not within 20s; last observation %+v, error %v", what, last, err)
	return last
}

func setRoute(primary, canaryWeight, baseline int32) canary.Action {
	return canary.Action{Type: canary.SetRoute, Route: canary.DesiredRoute{PrimaryWeight: primary, CanaryWeight: canaryWeight, BaselineWeight: baseline}}
}

// routed is a condition on the observed route: converged at the given weights.
func routed(primary, canaryWeight, baseline int32) func(canary.Observation) bool {
	return func(o canary.Observation) bool {
		r := o.Route
		return r.Converged && r.PrimaryWeight == primary && r.CanaryWeight == canaryWeight && r.BaselineWeight == baseline
	}
}

func baselineScenario(t *testing.T, provider string) {
	ctx := context.Background()
	ns := newNamespace(t)
	runKubelet(t, ns)
	if err := k8sClient.Create(ctx, podinfoDeployment(ns, "podinfo:6.0.0")); err != nil {
		t.Fatal(err)
	}
	c := weightedCanary(ns, routerCase{provider: provider, spec: func(*siskinv1.Canary) {}})
	if provider == siskinv1.ProviderGatewayAPI {
		createGateway(t, ns)
		runGateway(t, ns, 0)
		c.Spec.Service.GatewayRefs = []siskinv1.ParentReference{{Name: testGatewayName}}
	}
	c.Spec.Analysis.Comparison = &siskinv1.CanaryComparison{
		Control: siskinv1.ControlBaseline,
		Metrics: []siskinv1.ComparedMetric{{Name: "request-success-rate"}},
	}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	a := newActor(t, ns, c)

	// At rest: the primary and the routing, all traffic to the primary; then a new revision.
	a.do(t, canary.Action{Type: canary.EnsurePrimary})
	a.await(t, "primary ready", func(o canary.Observation) bool { return o.Primary.Ready })
	a.do(t, canary.Action{Type: canary.EnsureServices}, canary.Action{Type: canary.EnsureRoute})
	a.await(t, "route at rest", routed(100, 0, 0))
	release(t, ns, "podinfo:6.1.0")
	obs := a.await(t, "baseline reported missing", func(o canary.Observation) bool {
		return o.Target.Fingerprint != o.Primary.Fingerprint && !o.Baseline.Exists && o.Baseline.Message != ""
	})
	if obs.Baseline.Message != fmt.Sprintf("deployment %s/podinfo-baseline not found", ns) {
		t.Fatalf("missing baseline reported as %q", obs.Baseline.Message)
	}

	t.Log("EnsureBaseline starts the primary's revision beside the canary")
	a.do(t, canary.Action{Type: canary.EnsureBaseline})
	obs = a.await(t, "baseline ready", func(o canary.Observation) bool { return o.Baseline.Ready })
	if obs.Baseline.Fingerprint != obs.Primary.Fingerprint || obs.Baseline.Fingerprint == obs.Target.Fingerprint {
		t.Fatalf("baseline fingerprint %q; primary %q, target %q", obs.Baseline.Fingerprint, obs.Primary.Fingerprint, obs.Target.Fingerprint)
	}
	if img := image(getDeployment(t, ns, "podinfo-baseline")); img != "podinfo:6.0.0" {
		t.Fatalf("baseline runs %s, want the primary's podinfo:6.0.0", img)
	}
	svc := &corev1.Service{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector["app"] != "podinfo-baseline" {
		t.Fatalf("baseline Service selects %v", svc.Spec.Selector)
	}
	a.do(t, canary.Action{Type: canary.EnsureBaseline})

	t.Log("a three-way split is applied, observed and kept by EnsureRoute")
	a.do(t, setRoute(80, 10, 10))
	a.await(t, "three-way route", routed(80, 10, 10))
	a.do(t, canary.Action{Type: canary.EnsureServices}, canary.Action{Type: canary.EnsureRoute})
	a.await(t, "three-way route after EnsureRoute", routed(80, 10, 10))

	t.Log("the route leaves the baseline, then RemoveBaseline deletes it")
	a.do(t, setRoute(90, 10, 0))
	a.await(t, "two-way route", routed(90, 10, 0))
	a.do(t, canary.Action{Type: canary.RemoveBaseline})
	a.await(t, "baseline gone", func(o canary.Observation) bool { return !o.Baseline.Exists })
	gone := []client.Object{&appsv1.Deployment{}, &corev1.Service{}}
	if provider == siskinv1.ProviderIstio {
		gone = append(gone, &networkingv1.DestinationRule{})
	}
	for _, obj := range gone {
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, obj); !apierrors.IsNotFound(err) {
			t.Fatalf("%T podinfo-baseline still there: %v", obj, err)
		}
	}
	a.do(t, canary.Action{Type: canary.RemoveBaseline})
	a.await(t, "two-way route after the baseline left", routed(90, 10, 0))
}
