package controller

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	istioapi "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/target"
)

// The router scenarios drive a weighted Canary through the Istio and the Gateway API routers
// against the real API server, and check the weights on the live VirtualService or HTTPRoute
// as a mesh or a Gateway would read them.

// canaryWatchLag delays every read of the controller's Canary watch in the promotion and
// rollback scenarios, as a loaded API server does: its informer cache then lags the Canary's
// status behind the controller's own writes. Off by default; for example
// go test -run 'Istio|GatewayAPI' ./internal/controller/ -args -canary-watch-lag=300ms
var canaryWatchLag = flag.Duration("canary-watch-lag", 0, "delay each read of the controller's Canary watch in the router scenarios")

// liveRoute is what a mesh or a Gateway would act on.
type liveRoute struct {
	weights routeWeights
	// programmed is false while a Gateway has not accepted the route's current generation.
	programmed bool
}

// routeWeights are the primary and canary weights of a live route.
type routeWeights struct{ primary, canary int32 }

func (w routeWeights) String() string { return fmt.Sprintf("%d/%d", w.primary, w.canary) }

var (
	allToPrimary = routeWeights{primary: 100}
	halfAndHalf  = routeWeights{primary: 50, canary: 50}
)

// routerCase wires one router into the scenarios.
type routerCase struct {
	provider string
	// prepare sets up what the router needs besides the Canary, before the Canary exists.
	prepare func(t *testing.T, ns string)
	// spec adds the provider's fields to a Canary.
	spec func(c *siskinv1.Canary)
	// route reads the live routing object; ok is false while it is missing.
	route func(ctx context.Context, ns string) (r liveRoute, ok bool, err error)
	// handWritten is a routing object named like the apex Service that a user wrote.
	handWritten func(ns string) client.Object
}

func TestIstioRouter(t *testing.T) {
	t.Parallel()
	runRouterScenarios(t, routerCase{
		provider:    siskinv1.ProviderIstio,
		prepare:     func(*testing.T, string) {},
		spec:        func(*siskinv1.Canary) {},
		route:       virtualServiceRoute,
		handWritten: handWrittenVirtualService,
	})
}

func TestGatewayAPIRouter(t *testing.T) {
	t.Parallel()
	runRouterScenarios(t, routerCase{
		provider: siskinv1.ProviderGatewayAPI,
		prepare: func(t *testing.T, ns string) {
			createGateway(t, ns)
			runGateway(t, ns, gatewayDelay)
		},
		spec: func(c *siskinv1.Canary) {
			c.Spec.Service.GatewayRefs = []siskinv1.ParentReference{{Name: testGatewayName}}
			c.Spec.Service.Hosts = []string{"podinfo.example.com"}
		},
		route:       httpRouteRoute,
		handWritten: handWrittenHTTPRoute,
	})
}

func runRouterScenarios(t *testing.T, rc routerCase) {
	t.Run("promotion", func(t *testing.T) {
		t.Parallel()
		promotionScenario(t, rc)
	})
	t.Run("rollback", func(t *testing.T) {
		t.Parallel()
		rollbackScenario(t, rc)
	})
	t.Run("hand-written route is NotOwned", func(t *testing.T) {
		t.Parallel()
		notOwnedScenario(t, rc)
	})
	t.Run("target deleted mid-analysis", func(t *testing.T) {
		t.Parallel()
		targetDeletedScenario(t, rc)
	})
	t.Run("rollback with lost status writes", func(t *testing.T) {
		t.Parallel()
		lostRollbackWriteScenario(t, rc)
	})
}

// lostRollbackWriteScenario refuses the status writes of a rollback (a Conflict, as when
// someone annotates the Canary meanwhile) caused by a check that fails once and passes when
// asked again. The route used to go to 100/0 before the write, and the next round, planned from
// the old status, passed the step and sent traffic back to the canary. Now the route moves only
// after the rollback is recorded: a rollback that was never recorded never moved it, and a
// route once back at 100/0 stays there.
func lostRollbackWriteScenario(t *testing.T, rc routerCase) {
	ns := newNamespace(t)
	var refused atomic.Int32
	intercept := &interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if c, ok := obj.(*siskinv1.Canary); ok && sub == "status" && c.Status.Phase == siskinv1.PhaseFailed && refused.Load() < 3 {
				refused.Add(1)
				return apierrors.NewConflict(schema.GroupResource{Group: siskinv1.GroupVersion.Group, Resource: "canaries"}, c.Name, nil)
			}
			return cl.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	}
	startController(t, ns, controllerOptions{provider: rc.provider, intercept: intercept})
	runKubelet(t, ns)
	rc.prepare(t, ns)
	var failNext atomic.Bool
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failNext.CompareAndSwap(true, false) {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(hooks.Close)
	c := weightedCanary(ns, rc, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: hooks.URL})
	setupRollout(t, ns, c)
	rec := recordRoute(t, ns, rc)
	release(t, ns, "podinfo:6.1.0")
	waitForRoute(t, ns, rc, halfAndHalf, 3*analysisInterval)
	failNext.Store(true)
	waitForWithin(t, keyOf(c), "the rollout ended", 5*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseFailed || c.Status.Phase == siskinv1.PhaseSucceeded
	})
	waitForDeploymentReplicas(t, ns, "podinfo", 0)
	snaps := rec.stop(t)
	if refused.Load() == 0 {
		t.Fatal("no status write of the rollback was refused: the fault was not injected")
	}
	half := firstWith(snaps, halfAndHalf)
	back := half + firstWith(snaps[half:], allToPrimary)
	for _, s := range snaps[back:] {
		if s.route.weights.canary > 0 {
			t.Fatalf("traffic went back to the canary after the route reached %s: %s", allToPrimary, describeSnapshots(snaps))
		}
	}
}

// targetDeletedScenario deletes the target while the canary has half the traffic. Observing a
// missing target used to fail the round before planning, so traffic stayed on an empty canary
// Service and no deadline ever fired; now the rollout is rolled back within an interval.
func targetDeletedScenario(t *testing.T, rc routerCase) {
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{provider: rc.provider})
	runKubelet(t, ns)
	rc.prepare(t, ns)
	url, _, _ := hookServer(t)
	c := weightedCanary(ns, rc, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	c.Spec.Analysis.MaxWeight = ptr.To[int32](100) // stay at 50% for a while
	c.Spec.Analysis.Threshold = 5
	setupRollout(t, ns, c)
	release(t, ns, "podinfo:6.1.0")
	waitForRoute(t, ns, rc, halfAndHalf, 3*analysisInterval)

	if err := k8sClient.Delete(context.Background(), getDeployment(t, ns, "podinfo")); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	got := waitForWithin(t, keyOf(c), "Failed (TargetNotFound)", analysisInterval+5*time.Second, func(c *siskinv1.Canary) bool {
		p := meta.FindStatusCondition(c.Status.Conditions, siskinv1.ConditionPromoted)
		return c.Status.Phase == siskinv1.PhaseFailed && p != nil && strings.Contains(p.Message, "not found")
	})
	waitForRoute(t, ns, rc, allToPrimary, analysisInterval+5*time.Second-time.Since(deleted))
	if got.Status.CanaryWeight != 0 {
		t.Errorf("canaryWeight %d after the target was deleted, want 0", got.Status.CanaryWeight)
	}
	waitForEvent(t, got, siskinv1.ReasonTargetNotFound, "not found")
}

// weightedCanary steps to 50% and promotes at the next passing step; one failed check rolls
// it back.
func weightedCanary(ns string, rc routerCase, hooks ...siskinv1.CanaryWebhook) *siskinv1.Canary {
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: siskinv1.CanarySpec{
			Provider:  rc.provider,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   siskinv1.CanaryService{Port: 9898},
			Analysis: &siskinv1.CanaryAnalysis{
				Interval:   analysisInterval.String(),
				Threshold:  1,
				StepWeight: 50,
				MaxWeight:  ptr.To[int32](50),
				Webhooks:   hooks,
			},
		},
	}
	rc.spec(c)
	return c
}

func promotionScenario(t *testing.T, rc routerCase) {
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{provider: rc.provider, wrapConfig: lagCanaryWatch})
	runKubelet(t, ns)
	rc.prepare(t, ns)
	url, _, calls := hookServer(t)
	c := weightedCanary(ns, rc, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupRollout(t, ns, c)

	rec := recordRoute(t, ns, rc)
	released := release(t, ns, "podinfo:6.1.0")
	got := waitForWithin(t, keyOf(c), "Succeeded", 5*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	t.Logf("release to Succeeded: %s", time.Since(released).Round(time.Millisecond))
	snaps := rec.stop(t)
	t.Logf("observed: %s", describeSnapshots(snaps))

	checkWeights(t, snaps, allToPrimary, halfAndHalf, allToPrimary)
	checkScaledDownOnlyWithoutTraffic(t, snaps)
	// Traffic goes back to the primary only once it runs the promoted revision.
	for _, s := range snaps[firstWith(snaps, halfAndHalf):] {
		if s.route.weights == allToPrimary && s.primaryImage != "podinfo:6.1.0" {
			t.Errorf("route back at %s while the primary ran %s: %s", allToPrimary, s.primaryImage, describeSnapshots(snaps))
			break
		}
	}
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.1.0" {
		t.Errorf("primary runs %s after promotion, want podinfo:6.1.0", img)
	}
	waitForDeploymentReplicas(t, ns, "podinfo", 0)
	if got.Status.CanaryWeight != 0 || got.Status.LastPromotedSpec != got.Status.LastAppliedSpec {
		t.Errorf("status after promotion: canaryWeight=%d lastPromotedSpec=%q lastAppliedSpec=%q",
			got.Status.CanaryWeight, got.Status.LastPromotedSpec, got.Status.LastAppliedSpec)
	}
	if n := calls.Load(); n < 2 {
		t.Errorf("rollout webhook called %d times, want one call per step (2)", n)
	}
}

func rollbackScenario(t *testing.T, rc routerCase) {
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{provider: rc.provider, wrapConfig: lagCanaryWatch})
	runKubelet(t, ns)
	rc.prepare(t, ns)
	url, code, _ := hookServer(t)
	c := weightedCanary(ns, rc, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupRollout(t, ns, c)

	rec := recordRoute(t, ns, rc)
	released := release(t, ns, "podinfo:6.1.0-broken")
	// The first step passes; the next one fails, and one failure is the threshold.
	waitForRoute(t, ns, rc, halfAndHalf, 3*analysisInterval)
	code.Store(http.StatusInternalServerError)
	got := waitForWithin(t, keyOf(c), "Failed", 3*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseFailed
	})
	waitForDeploymentReplicas(t, ns, "podinfo", 0)
	t.Logf("release to rolled back: %s", time.Since(released).Round(time.Millisecond))
	snaps := rec.stop(t)
	t.Logf("observed: %s", describeSnapshots(snaps))

	checkWeights(t, snaps, allToPrimary, halfAndHalf, allToPrimary)
	checkScaledDownOnlyWithoutTraffic(t, snaps)
	for _, s := range snaps {
		if s.primaryImage != "podinfo:6.0.0" {
			t.Errorf("primary ran %s during the rolled-back rollout: %s", s.primaryImage, describeSnapshots(snaps))
			break
		}
	}
	if got.Status.FailedChecks < 1 || got.Status.CanaryWeight != 0 {
		t.Errorf("status after the rollback: failedChecks=%d canaryWeight=%d, want at least 1 and 0",
			got.Status.FailedChecks, got.Status.CanaryWeight)
	}
	if got.Status.LastPromotedSpec == got.Status.LastAppliedSpec {
		t.Errorf("the rolled-back revision %s is recorded as promoted", got.Status.LastAppliedSpec)
	}
}

func notOwnedScenario(t *testing.T, rc routerCase) {
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{provider: rc.provider})
	runKubelet(t, ns)
	rc.prepare(t, ns)
	ctx := context.Background()
	mine := rc.handWritten(ns)
	if err := k8sClient.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	before := mine.DeepCopyObject().(client.Object)
	if err := k8sClient.Create(ctx, podinfoDeployment(ns, "podinfo:6.0.0")); err != nil {
		t.Fatal(err)
	}
	c := weightedCanary(ns, rc)
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}

	got := waitFor(t, keyOf(c), "Ready=False/NotOwned", func(c *siskinv1.Canary) bool {
		r := meta.FindStatusCondition(c.Status.Conditions, siskinv1.ConditionReady)
		return r != nil && r.Status == metav1.ConditionFalse && r.Reason == siskinv1.ReasonNotOwned
	})
	ready := meta.FindStatusCondition(got.Status.Conditions, siskinv1.ConditionReady)
	want := fmt.Sprintf("%s exists and is not managed by Canary podinfo", client.ObjectKeyFromObject(mine))
	if !strings.Contains(ready.Message, want) {
		t.Errorf("Ready message %q does not say %q", ready.Message, want)
	}
	// The controller retries with backoff: give it a few rounds to misbehave.
	time.Sleep(3 * time.Second)
	live := before.DeepCopyObject().(client.Object)
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(before), live); err != nil {
		t.Fatal(err)
	}
	if live.GetGeneration() != before.GetGeneration() || len(live.GetOwnerReferences()) != 0 || len(live.GetAnnotations()) != 0 {
		t.Errorf("the hand-written route was changed: generation %d→%d, owners %v, annotations %v",
			before.GetGeneration(), live.GetGeneration(), live.GetOwnerReferences(), live.GetAnnotations())
	}
	waitForEvent(t, got, siskinv1.ReasonNotOwned, "is not managed by Canary podinfo")

	// Annotated as the message says, the route is handed over: the Canary adopts it.
	patch := client.MergeFrom(live.DeepCopyObject().(client.Object))
	live.SetAnnotations(map[string]string{target.AnnotationCanary: "podinfo"})
	if err := k8sClient.Patch(ctx, live, patch); err != nil {
		t.Fatal(err)
	}
	got = waitFor(t, keyOf(c), "Initialized after the hand-over", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseInitialized
	})
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(before), live); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(live, got) {
		t.Errorf("the handed-over route is not controlled by the Canary: %v", live.GetOwnerReferences())
	}
	if rt, _, err := rc.route(ctx, ns); err != nil || rt.weights != allToPrimary {
		t.Errorf("the handed-over route carries %s (%v), want %s", rt.weights, err, allToPrimary)
	}
}

// snapshot is one poll of the world. The target is read before the route and the primary after
// it, so with a correct controller a snapshot never shows the target scaled down under a route
// that had not yet moved, nor a route that moved before the primary changed.
type snapshot struct {
	targetReplicas int32
	route          liveRoute
	primaryImage   string
	// phase and ready are the Canary's, read last, for diagnosis only.
	phase siskinv1.CanaryPhase
	ready string
}

func (s snapshot) String() string {
	pending := ""
	if !s.route.programmed {
		pending = " (not accepted yet)"
	}
	return fmt.Sprintf("[route %s%s, target %d, primary %s; %s %s]", s.route.weights, pending, s.targetReplicas, s.primaryImage, s.phase, s.ready)
}

// routeRecorder polls the target, the route and the primary every 50ms and keeps each distinct
// snapshot.
type routeRecorder struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	snaps  []snapshot
	err    error
	// final takes the last snapshot after the polling stopped, so a state reached between two
	// polls of a loaded machine is not missed at the end.
	final func() (snapshot, bool, error)
}

func recordRoute(t *testing.T, ns string, rc routerCase) *routeRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &routeRecorder{cancel: cancel, done: make(chan struct{})}
	r.final = func() (snapshot, bool, error) { return pollWorld(context.Background(), ns, rc) }
	t.Cleanup(func() {
		if !r.stopped() && t.Failed() {
			t.Logf("observed until the failure: %s", describeSnapshots(r.stop(t)))
			t.Logf("events of the canary: %s", canaryEvents(ns))
		}
		cancel()
	})
	go func() {
		defer close(r.done)
		for {
			s, ok, err := pollWorld(ctx, ns, rc)
			r.mu.Lock()
			if err != nil && ctx.Err() == nil {
				r.err = err
			}
			if ok && (len(r.snaps) == 0 || r.snaps[len(r.snaps)-1] != s) {
				r.snaps = append(r.snaps, s)
			}
			r.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return r
}

func pollWorld(ctx context.Context, ns string, rc routerCase) (s snapshot, ok bool, err error) {
	target, primary := &appsv1.Deployment{}, &appsv1.Deployment{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, target); err != nil {
		return s, false, err
	}
	rt, ok, err := rc.route(ctx, ns)
	if err != nil || !ok {
		return s, false, err
	}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-primary"}, primary); err != nil {
		return s, false, err
	}
	c := &siskinv1.Canary{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, c); err != nil {
		return s, false, err
	}
	s = snapshot{targetReplicas: ptr.Deref(target.Spec.Replicas, 1), route: rt, primaryImage: image(primary), phase: c.Status.Phase}
	if r := meta.FindStatusCondition(c.Status.Conditions, siskinv1.ConditionReady); r != nil {
		s.ready = r.Reason
	}
	return s, true, nil
}

// stop ends the recording after one more poll and returns what was seen.
func (r *routeRecorder) stop(t *testing.T) []snapshot {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	r.cancel()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok, err := r.final(); err == nil && ok && (len(r.snaps) == 0 || r.snaps[len(r.snaps)-1] != s) {
		r.snaps = append(r.snaps, s)
	}
	if r.err != nil {
		t.Errorf("recording the route: %v", r.err)
	}
	return r.snaps
}

func (r *routeRecorder) stopped() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// canaryEvents lists the reasons of the events about Canary podinfo in namespace ns, in order.
func canaryEvents(ns string) string {
	list := &eventsv1.EventList{}
	if err := k8sClient.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		return err.Error()
	}
	slices.SortStableFunc(list.Items, func(a, b eventsv1.Event) int { return a.EventTime.Compare(b.EventTime.Time) })
	var parts []string
	for _, e := range list.Items {
		if e.Regarding.Kind == siskinv1.CanaryKind {
			parts = append(parts, fmt.Sprintf("%s %s(%s)", e.EventTime.Format("15:04:05.000"), e.Reason, e.Action))
		}
	}
	return strings.Join(parts, ", ")
}

func describeSnapshots(snaps []snapshot) string {
	parts := make([]string, len(snaps))
	for i, s := range snaps {
		parts[i] = s.String()
	}
	return strings.Join(parts, " → ")
}

// checkWeights fails unless the route carried exactly the weights want, in that order.
func checkWeights(t *testing.T, snaps []snapshot, want ...routeWeights) {
	t.Helper()
	var got []routeWeights
	for _, s := range snaps {
		if len(got) == 0 || got[len(got)-1] != s.route.weights {
			got = append(got, s.route.weights)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("route weights went %v, want %v", got, want)
	}
}

// checkScaledDownOnlyWithoutTraffic fails when the target was seen scaled to zero while the
// route still sent it traffic, or before a Gateway had taken the route that sends it none.
func checkScaledDownOnlyWithoutTraffic(t *testing.T, snaps []snapshot) {
	t.Helper()
	for _, s := range snaps {
		if s.targetReplicas == 0 && (s.route.weights != allToPrimary || !s.route.programmed) {
			t.Errorf("target scaled to zero under route %s: %s", s, describeSnapshots(snaps))
			return
		}
	}
}

func firstWith(snaps []snapshot, w routeWeights) int {
	for i, s := range snaps {
		if s.route.weights == w {
			return i
		}
	}
	return len(snaps)
}

// waitForRoute polls the live route until it carries want.
func waitForRoute(t *testing.T, ns string, rc routerCase, want routeWeights, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var last routeWeights
	for {
		rt, ok, err := rc.route(ctx, ns)
		if err == nil && ok {
			if rt.weights == want {
				return
			}
			last = rt.weights
		}
		select {
		case <-ctx.Done():
			t.Fatalf("route never carried %s within %s; last %s (error: %v)", want, within, last, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// virtualServiceRoute reads the weights of the default HTTP route of VirtualService podinfo.
// Istio reports nothing back: a VirtualService is programmed as soon as it is written.
func virtualServiceRoute(ctx context.Context, ns string) (liveRoute, bool, error) {
	vs := &networkingv1.VirtualService{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, vs); apierrors.IsNotFound(err) {
		return liveRoute{}, false, nil
	} else if err != nil {
		return liveRoute{}, false, err
	}
	var w routeWeights
	found := false
	for _, rt := range vs.Spec.Http {
		if rt.Name != "default" {
			continue
		}
		for _, d := range rt.Route {
			switch host := d.GetDestination().GetHost(); host {
			case "podinfo-primary." + ns + ".svc.cluster.local":
				w.primary, found = d.Weight, true
			case "podinfo-canary." + ns + ".svc.cluster.local":
				w.canary, found = d.Weight, true
			}
		}
	}
	return liveRoute{weights: w, programmed: true}, found, nil
}

func handWrittenVirtualService(ns string) client.Object {
	vs := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns}}
	vs.Spec.Hosts = []string{"podinfo"}
	vs.Spec.Http = []*istioapi.HTTPRoute{{Route: []*istioapi.HTTPRouteDestination{{Destination: &istioapi.Destination{Host: "podinfo"}}}}}
	return vs
}

// The Gateway of the Gateway API scenarios, and the controller that plays its implementation.
const (
	testGatewayName       = "public"
	testGatewayController = "example.net/test-gateway"
	gatewayDelay          = time.Second
)

// httpRouteRoute reads the weights of the last rule of HTTPRoute podinfo, the default rule,
// and whether the Gateway accepted its current generation.
func httpRouteRoute(ctx context.Context, ns string) (liveRoute, bool, error) {
	rt := &gatewayv1.HTTPRoute{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, rt); apierrors.IsNotFound(err) {
		return liveRoute{}, false, nil
	} else if err != nil {
		return liveRoute{}, false, err
	}
	if len(rt.Spec.Rules) == 0 {
		return liveRoute{}, false, nil
	}
	var w routeWeights
	found := false
	for _, b := range rt.Spec.Rules[len(rt.Spec.Rules)-1].BackendRefs {
		switch b.Name {
		case "podinfo-primary":
			w.primary, found = ptr.Deref(b.Weight, 1), true
		case "podinfo-canary":
			w.canary, found = ptr.Deref(b.Weight, 1), true
		}
	}
	return liveRoute{weights: w, programmed: routeAccepted(rt)}, found, nil
}

func handWrittenHTTPRoute(ns string) client.Object {
	rt := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns}}
	rt.Spec.ParentRefs = []gatewayv1.ParentReference{{Name: testGatewayName}}
	rt.Spec.Rules = []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
		BackendObjectReference: gatewayv1.BackendObjectReference{Name: "podinfo", Port: ptr.To[gatewayv1.PortNumber](9898)},
	}}}}}
	return rt
}

func createGateway(t *testing.T, ns string) {
	t.Helper()
	gw := &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: testGatewayName, Namespace: ns},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: "test",
			Listeners:        []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}},
		},
	}
	if err := k8sClient.Create(context.Background(), gw); err != nil {
		t.Fatal(err)
	}
}

// runGateway plays the implementation of the Gateways of namespace ns, which envtest does not
// run: it accepts every HTTPRoute there at its current generation, for each of its parents,
// once that generation is delay old, the time a real Gateway takes to program a route. A
// router that does not wait for the acceptance moves on within that delay.
func runGateway(t *testing.T, ns string, delay time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		seen := map[string]time.Time{} // first sight of each route generation
		for {
			list := &gatewayv1.HTTPRouteList{}
			if err := k8sClient.List(ctx, list, client.InNamespace(ns)); err == nil {
				for i := range list.Items {
					rt := &list.Items[i]
					gen := fmt.Sprintf("%s/%d", rt.Name, rt.Generation)
					if _, ok := seen[gen]; !ok {
						seen[gen] = time.Now()
					}
					if time.Since(seen[gen]) < delay {
						continue
					}
					// A conflict is retried at the next poll, as a controller would.
					_ = acceptRoute(ctx, rt)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
}

func acceptRoute(ctx context.Context, rt *gatewayv1.HTTPRoute) error {
	if routeAccepted(rt) {
		return nil
	}
	now := metav1.Now()
	cond := func(typ gatewayv1.RouteConditionType, reason gatewayv1.RouteConditionReason) metav1.Condition {
		return metav1.Condition{
			Type: string(typ), Status: metav1.ConditionTrue, ObservedGeneration: rt.Generation,
			Reason: string(reason), Message: "programmed by the test gateway", LastTransitionTime: now,
		}
	}
	rt.Status.Parents = nil
	for _, p := range rt.Spec.ParentRefs {
		rt.Status.Parents = append(rt.Status.Parents, gatewayv1.RouteParentStatus{
			ParentRef:      p,
			ControllerName: testGatewayController,
			Conditions: []metav1.Condition{
				cond(gatewayv1.RouteConditionAccepted, gatewayv1.RouteReasonAccepted),
				cond(gatewayv1.RouteConditionResolvedRefs, gatewayv1.RouteReasonResolvedRefs),
			},
		})
	}
	return k8sClient.Status().Update(ctx, rt)
}

// routeAccepted reports whether every parent of rt has accepted its current generation.
func routeAccepted(rt *gatewayv1.HTTPRoute) bool {
	if len(rt.Status.Parents) != len(rt.Spec.ParentRefs) {
		return false
	}
	for _, s := range rt.Status.Parents {
		c := meta.FindStatusCondition(s.Conditions, string(gatewayv1.RouteConditionAccepted))
		if c == nil || c.ObservedGeneration != rt.Generation {
			return false
		}
	}
	return true
}

// lagCanaryWatch wraps the controller's transport so that its Canary watch lags by
// canaryWatchLag.
func lagCanaryWatch(cfg *rest.Config) {
	if *canaryWatchLag <= 0 {
		return
	}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return laggingWatch{next: rt, lag: *canaryWatchLag}
	})
}

// laggingWatch delays the Canary watch streams that go through it.
type laggingWatch struct {
	next http.RoundTripper
	lag  time.Duration
}

func (l laggingWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err == nil && req.URL.Query().Get("watch") == "true" && strings.HasSuffix(req.URL.Path, "/canaries") {
		resp.Body = laggingBody{ReadCloser: resp.Body, lag: l.lag}
	}
	return resp, err
}

// laggingBody delays each read of a watch stream.
type laggingBody struct {
	io.ReadCloser
	lag time.Duration
}

func (b laggingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	time.Sleep(b.lag)
	return n, err
}
