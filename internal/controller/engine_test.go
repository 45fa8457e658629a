package controller

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// analysisInterval is the shortest interval the API accepts; every rollout here waits for it
// between steps, in real time.
const analysisInterval = 10 * time.Second

// blueGreen is a Canary on the kubernetes provider (no mesh): iterations analysis steps, then
// promotion.
func blueGreen(ns string, iterations int32, hooks ...siskinv1.CanaryWebhook) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderKubernetes,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   siskinv1.CanaryService{Port: 9898},
			Analysis: &siskinv1.CanaryAnalysis{
				Interval:   analysisInterval.String(),
				Threshold:  2,
				Iterations: iterations,
				Webhooks:   hooks,
			},
		},
	}
}

// hookServer answers webhooks with the status code in code (200 unless changed).
func hookServer(t *testing.T) (url string, code *atomic.Int32, calls *atomic.Int32) {
	t.Helper()
	code, calls = &atomic.Int32{}, &atomic.Int32{}
	code.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(int(code.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, code, calls
}

// setupRollout creates the target and the Canary, and waits until the Canary is Initialized.
func setupRollout(t *testing.T, ns string, c *siskinv1.Canary) {
	t.Helper()
	ctx := context.Background()
	if err := k8sClient.Create(ctx, podinfoDeployment(ns, "podinfo:6.0.0")); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, keyOf(c), "Initialized", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseInitialized
	})
	// The status is written before the scale-down it decided: the target follows a moment later.
	waitForDeploymentReplicas(t, ns, "podinfo", 0)
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.0.0" {
		t.Fatalf("primary runs %s, want podinfo:6.0.0", img)
	}
}

func getDeployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	return d
}

func image(d *appsv1.Deployment) string {
	return d.Spec.Template.Spec.Containers[0].Image
}

// release changes the target's image, as a GitOps sync of a new version would, and returns when.
func release(t *testing.T, ns, img string) time.Time {
	t.Helper()
	d := getDeployment(t, ns, "podinfo")
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].Image = img
	if err := k8sClient.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

func TestRolloutIsPromotedAfterItsIterations(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	url, _, calls := hookServer(t)
	c := blueGreen(ns, 2,
		siskinv1.CanaryWebhook{Name: "smoke", Type: siskinv1.PreRolloutHook, URL: url},
		siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupRollout(t, ns, c)

	released := release(t, ns, "podinfo:6.1.0")
	got := waitFor(t, keyOf(c), "Progressing", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing
	})
	t.Logf("deployment update to Progressing (watch reaction, includes polling of 50ms): %s", time.Since(released))
	if got.Status.Iterations != 0 || got.Status.FailedChecks != 0 {
		t.Errorf("a new rollout starts at iterations=%d failedChecks=%d, want 0/0", got.Status.Iterations, got.Status.FailedChecks)
	}
	// The status is written before the round's actions: the scale-up follows a moment later.
	waitForDeploymentReplicas(t, ns, "podinfo", 2)

	got = waitForWithin(t, keyOf(c), "Succeeded", 4*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.1.0" {
		t.Errorf("primary runs %s after promotion, want podinfo:6.1.0", img)
	}
	waitForDeploymentReplicas(t, ns, "podinfo", 0)
	if got.Status.LastPromotedSpec != got.Status.LastAppliedSpec {
		t.Errorf("lastPromotedSpec %q != lastAppliedSpec %q", got.Status.LastPromotedSpec, got.Status.LastAppliedSpec)
	}
	// One pre-rollout call and one rollout call per step.
	if n := calls.Load(); n < 3 {
		t.Errorf("webhooks called %d times, want at least 3 (pre-rollout once, rollout per step)", n)
	}
	if !metav1.IsControlledBy(getDeployment(t, ns, "podinfo-primary"), got) {
		t.Error("primary is not controlled by the canary")
	}
	svc := &corev1.Service{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, svc); err != nil {
		t.Fatalf("apex service: %v", err)
	}
	if svc.Spec.Selector["app"] != "podinfo-primary" {
		t.Errorf("apex service selects %v, want the primary's pods", svc.Spec.Selector)
	}
}

func TestRolloutIsRolledBackWhenChecksFail(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	url, code, _ := hookServer(t)
	c := blueGreen(ns, 5, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupRollout(t, ns, c)

	code.Store(http.StatusInternalServerError)
	release(t, ns, "podinfo:6.1.0-broken")
	got := waitForWithin(t, keyOf(c), "Failed", 5*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseFailed
	})
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.0.0" {
		t.Errorf("primary runs %s after the rollback, want podinfo:6.0.0", img)
	}
	waitForDeploymentReplicas(t, ns, "podinfo", 0)
	if got.Status.FailedChecks < 2 {
		t.Errorf("failedChecks = %d, want the threshold 2", got.Status.FailedChecks)
	}
	var hookVerdict siskinv1.CheckVerdict
	for _, ch := range got.Status.LastChecks {
		if ch.Name == "load" {
			hookVerdict = ch.Verdict
		}
	}
	if hookVerdict != siskinv1.VerdictFail {
		t.Errorf("lastChecks does not record the failed webhook: %+v", got.Status.LastChecks)
	}
	// The same revision is not analysed again on its own.
	time.Sleep(2 * time.Second)
	if again := getCanary(t, keyOf(c)); again.Status.Phase != siskinv1.PhaseFailed {
		t.Errorf("phase = %s after the rollback settled, want Failed", again.Status.Phase)
	}
}

func waitForDeploymentReplicas(t *testing.T, ns, name string, want int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := getDeployment(t, ns, name)
		if *d.Spec.Replicas == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s has %d replicas, want %d", name, *d.Spec.Replicas, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getCanary(t *testing.T, key client.ObjectKey) *siskinv1.Canary {
	t.Helper()
	c := &siskinv1.Canary{}
	if err := k8sClient.Get(context.Background(), key, c); err != nil {
		t.Fatal(err)
	}
	return c
}
