package controller

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The reliability tests inject the faults of the "never ship what was not analysed" issue into
// a real API server: a status write lost after the decision, a manual promote racing a new
// revision, a target deleted mid-analysis, a webhook that hangs.

// A manual promote set in the same round as a new revision used to copy the new, never
// analysed revision into the primary. Both changes are made while the controller is down, so
// its first round sees them together.
func TestManualPromoteRacingANewRevisionNeverPromotesIt(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	stop := startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	url, _, _ := hookServer(t)
	c := blueGreen(ns, 10, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupRollout(t, ns, c)
	release(t, ns, "podinfo:6.1.0")
	waitFor(t, keyOf(c), "Progressing", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseProgressing })

	stop()
	annotate(t, keyOf(c), siskinv1.AnnotationPromote, "now")
	release(t, ns, "podinfo:6.2.0-unanalysed")
	startController(t, ns, controllerOptions{})

	got := waitFor(t, keyOf(c), "the promote request acknowledged", func(c *siskinv1.Canary) bool {
		return c.Status.ManualRequests[siskinv1.AnnotationPromote] == "now"
	})
	// Give a wrong promotion time to land.
	time.Sleep(2 * time.Second)
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.0.0" {
		t.Fatalf("primary runs %s after a promote that raced a new revision, want podinfo:6.0.0 (nothing analysed was promoted)", img)
	}
	got = waitFor(t, keyOf(c), "the new revision under analysis", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing && c.Status.LastAppliedSpec != got.Status.LastPromotedSpec
	})
	if got.Status.Phase == siskinv1.PhasePromoting || got.Status.Phase == siskinv1.PhaseSucceeded {
		t.Fatalf("phase %s: the unanalysed revision is being promoted", got.Status.Phase)
	}
	waitForEvent(t, got, siskinv1.ReasonManualRequestIgnored, "has not been analysed")
}

// A status write lost after the round decided to promote (here: a Conflict, as when someone
// annotates the Canary meanwhile) used to leave the primary on the new revision while the
// status still said Progressing. Now the status is written first, so a lost write means no
// side effect at all.
func TestALostStatusWriteRunsNoSideEffect(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	var mu sync.Mutex
	var seen []string // the primary's image at each refused write
	refused := atomic.Int32{}
	intercept := &interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			c, ok := obj.(*siskinv1.Canary)
			if ok && sub == "status" && c.Status.Phase == siskinv1.PhasePromoting && refused.Load() < 3 {
				refused.Add(1)
				d := &appsv1.Deployment{}
				if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: "podinfo-primary"}, d); err == nil {
					mu.Lock()
					seen = append(seen, image(d))
					mu.Unlock()
				}
				return apierrors.NewConflict(schema.GroupResource{Group: siskinv1.GroupVersion.Group, Resource: "canaries"}, c.Name, nil)
			}
			return cl.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	}
	startController(t, ns, controllerOptions{intercept: intercept})
	runKubelet(t, ns)
	url, _, _ := hookServer(t)
	c := blueGreen(ns, 1, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupRollout(t, ns, c)
	release(t, ns, "podinfo:6.1.0")

	waitForWithin(t, keyOf(c), "Succeeded", 6*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	mu.Lock()
	defer mu.Unlock()
	if refused.Load() == 0 {
		t.Fatal("no status write was refused: the fault was not injected")
	}
	for i, img := range seen {
		if img != "podinfo:6.0.0" {
			t.Fatalf("refused write %d: the primary already ran %s, a side effect of a round whose status was lost", i+1, img)
		}
	}
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.1.0" {
		t.Errorf("primary runs %s after the promotion, want podinfo:6.1.0", img)
	}
}

// One Canary's hanging webhooks used to hold the shared workers (two in these tests) for their
// whole timeout, so no other Canary moved.
func TestHangingWebhooksDoNotStallOtherCanaries(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	block := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); hang.Close() })
	url, _, _ := hookServer(t)

	ctx := context.Background()
	var hanging []*siskinv1.Canary
	for _, name := range []string{"slow-a", "slow-b", "slow-c"} {
		if err := k8sClient.Create(ctx, appDeployment(ns, name, "app:1")); err != nil {
			t.Fatal(err)
		}
		c := blueGreen(ns, 3, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: hang.URL, Timeout: "5m"})
		c.Name, c.Spec.TargetRef.Name = name, name
		if err := k8sClient.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		hanging = append(hanging, c)
	}
	c := blueGreen(ns, 2, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupRollout(t, ns, c)
	for _, h := range hanging {
		waitFor(t, keyOf(h), "Initialized", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseInitialized })
		d := getDeployment(t, ns, h.Name)
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Template.Spec.Containers[0].Image = "app:2"
		if err := k8sClient.Patch(ctx, d, patch); err != nil {
			t.Fatal(err)
		}
	}
	// Let the hanging Canaries reach their first step, so their calls are in flight.
	time.Sleep(analysisInterval + 2*time.Second)
	release(t, ns, "podinfo:6.1.0")
	// Two iterations, a switch step and the promotion: about four intervals when nothing stalls.
	waitForWithin(t, keyOf(c), "Succeeded while other Canaries' webhooks hang", 6*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
}

// Two replicas reconciling the same Canaries at once (the worst case of a leader handover: the
// old leader has not noticed it lost its lease) must not count a step twice nor promote twice:
// the status write of every round carries the resourceVersion it was planned from, and the
// side effects only follow a write that won.
func TestTwoReplicasAtOnceCountEveryStepOnce(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	url, _, _ := hookServer(t)
	c := blueGreen(ns, 3, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupRollout(t, ns, c)
	release(t, ns, "podinfo:6.1.0")

	followRollout(t, ns, c, "podinfo:6.0.0", 8*analysisInterval)
	if got := getCanary(t, keyOf(c)); got.Status.FailedChecks != 0 {
		t.Errorf("failedChecks %d after a clean rollout", got.Status.FailedChecks)
	}
	waitForEventCount(t, keyOf(c), siskinv1.ReasonPromotionCompleted, 1)
}

// waitForEventCount checks, after a short settling time, that exactly n events of reason were
// recorded for the Canary (each counted once, however many replicas ran).
func waitForEventCount(t *testing.T, key client.ObjectKey, reason string, n int) {
	t.Helper()
	time.Sleep(2 * time.Second)
	list := &eventsv1.EventList{}
	if err := k8sClient.List(context.Background(), list, client.InNamespace(key.Namespace)); err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, e := range list.Items {
		if e.Reason == reason && e.Regarding.Name == key.Name {
			got += 1 + int(max(0, e.DeprecatedCount-1))
			if e.Series != nil {
				got += int(e.Series.Count) - 1
			}
		}
	}
	if got != n {
		t.Errorf("%d %s events, want %d", got, reason, n)
	}
}

// failingWrites fails every other Create, Update and Patch of the objects match selects, with
// a 500 or a timeout in turn, as a struggling API server does.
func failingWrites(match func(client.Object) bool) (*interceptor.Funcs, *atomic.Int32) {
	var n, failed atomic.Int32
	fault := func(obj client.Object) error {
		if !match(obj) {
			return nil
		}
		switch n.Add(1) % 4 {
		case 1:
			failed.Add(1)
			return apierrors.NewInternalError(errors.New("injected: etcd leader changed"))
		case 3:
			failed.Add(1)
			return apierrors.NewTimeoutError("injected: request timed out", 1)
		}
		return nil
	}
	return &interceptor.Funcs{
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := fault(obj); err != nil {
				return err
			}
			return cl.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if err := fault(obj); err != nil {
				return err
			}
			return cl.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if err := fault(obj); err != nil {
				return err
			}
			return cl.Patch(ctx, obj, patch, opts...)
		},
		SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if err := fault(obj); err != nil {
				return err
			}
			return cl.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	}, &failed
}

// Every kind of write fails half the time (500s and timeouts): the rollout still completes,
// and the primary takes the new revision only once the status says it is being promoted.
func TestFailingWritesOfEachKindNeverShipAnUnanalysedRevision(t *testing.T) {
	t.Parallel()
	kinds := map[string]func(client.Object) bool{
		"deployments": func(o client.Object) bool { _, ok := o.(*appsv1.Deployment); return ok },
		"services":    func(o client.Object) bool { _, ok := o.(*corev1.Service); return ok },
		"canary status": func(o client.Object) bool {
			_, ok := o.(*siskinv1.Canary)
			return ok
		},
		"istio routes": func(o client.Object) bool {
			switch o.(type) {
			case *networkingv1.VirtualService, *networkingv1.DestinationRule:
				return true
			}
			return false
		},
	}
	for name, match := range kinds {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			intercept, failed := failingWrites(match)
			url, _, _ := hookServer(t)
			hook := siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url}
			c := blueGreen(ns, 2, hook)
			if name == "istio routes" {
				c = weightedCanary(ns, routerCase{spec: func(*siskinv1.Canary) {}, provider: siskinv1.ProviderIstio}, hook)
			}
			startController(t, ns, controllerOptions{intercept: intercept, provider: c.Spec.Provider})
			runKubelet(t, ns)
			setupRollout(t, ns, c)
			release(t, ns, "podinfo:6.1.0")

			followRollout(t, ns, c, "podinfo:6.0.0", 8*analysisInterval)
			waitForDeploymentReplicas(t, ns, "podinfo", 0)
			if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.1.0" {
				t.Errorf("primary runs %s after the promotion, want podinfo:6.1.0", img)
			}
			if failed.Load() == 0 {
				t.Errorf("no %s write was failed: the fault was not injected", name)
			}
			t.Logf("%d %s writes failed", failed.Load(), name)
		})
	}
}

// A forced leader handover mid-analysis: the leader is stopped without releasing its Lease, the
// standby takes over once the Lease expires, and the rollout goes on from the status alone,
// with no step counted twice and no revision promoted that was not analysed.
func TestLeaderHandoverMidAnalysis(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	stopLeader := startController(t, ns, controllerOptions{leaderElection: "siskin-test"})
	runKubelet(t, ns)
	url, _, _ := hookServer(t)
	c := blueGreen(ns, 4, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupRollout(t, ns, c)
	startController(t, ns, controllerOptions{leaderElection: "siskin-test"}) // the standby
	release(t, ns, "podinfo:6.1.0")
	waitForWithin(t, keyOf(c), "iteration 1", 3*analysisInterval, func(c *siskinv1.Canary) bool { return c.Status.Iterations >= 1 })
	stopLeader()

	followRollout(t, ns, c, "podinfo:6.0.0", 10*analysisInterval)
	waitForEventCount(t, keyOf(c), siskinv1.ReasonPromotionCompleted, 1)
}

// followRollout polls the rollout of c until it is Succeeded, failing the test when a step is
// counted twice or skipped, or when the primary runs anything but oldImage outside a promotion.
// The primary is read first, then the Canary: the status that allows a promotion is written
// before the primary changes, so a Canary read after the primary must allow it.
func followRollout(t *testing.T, ns string, c *siskinv1.Canary, oldImage string, within time.Duration) {
	t.Helper()
	var last int32
	deadline := time.Now().Add(within)
	for {
		img := image(getDeployment(t, ns, "podinfo-primary"))
		got := &siskinv1.Canary{}
		if err := k8sClient.Get(context.Background(), keyOf(c), got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Iterations < last || got.Status.Iterations > last+1 {
			t.Fatalf("iterations went from %d to %d: a step was counted twice or skipped", last, got.Status.Iterations)
		}
		last = got.Status.Iterations
		switch got.Status.Phase {
		case siskinv1.PhasePromoting, siskinv1.PhaseFinalising:
		case siskinv1.PhaseSucceeded:
			return
		default:
			if img != oldImage {
				t.Fatalf("primary runs %s while the Canary is %s (iterations %d)", img, got.Status.Phase, got.Status.Iterations)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not Succeeded within %s: phase %s iterations %d", within, got.Status.Phase, got.Status.Iterations)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
