package controller

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestRestartMidAnalysisContinuesAtTheNextStep(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	stop := startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	url, _, calls := hookServer(t)
	c := blueGreen(ns, 3, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupRollout(t, ns, c)

	release(t, ns, "podinfo:6.1.0")
	first := waitForWithin(t, keyOf(c), "the first step", 2*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing && c.Status.Iterations == 1
	})
	restartBetweenSteps(t, ns, c, stop, calls, first, "the second step", func(c *siskinv1.Canary) bool {
		return c.Status.Iterations == 2
	})
	waitForWithin(t, keyOf(c), "Succeeded", 3*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
}

// restartBetweenSteps stops the controller (stop) right after the step recorded in last, starts
// it again half an interval later, and waits for the next step (reached). That step must come
// one interval after last, with one call of the rollout webhook counted by calls: a restart
// neither repeats, compresses nor skips a step. It returns the Canary at the next step.
func restartBetweenSteps(t *testing.T, ns string, c *siskinv1.Canary, stop func(), calls *atomic.Int32,
	last *siskinv1.Canary, what string, reached func(*siskinv1.Canary) bool) *siskinv1.Canary {
	t.Helper()
	stop()
	callsAtStop := calls.Load()
	// Down for half an interval: the next step is still due at the last step + interval.
	time.Sleep(analysisInterval / 2)
	startController(t, ns, controllerOptions{})

	next := waitForWithin(t, keyOf(c), what, 2*analysisInterval, reached)
	gap := next.Status.LastStepTime.Sub(last.Status.LastStepTime.Time)
	// Status times have one-second resolution.
	if gap < analysisInterval-time.Second || gap > analysisInterval+3*time.Second {
		t.Errorf("%s %s after the step before, want one interval (%s): a restart must neither repeat, compress nor skip a step", what, gap, analysisInterval)
	}
	if n := calls.Load() - callsAtStop; n != 1 {
		t.Errorf("rollout webhook called %d times between the restart and %s, want 1", n, what)
	}
	return next
}

// annotate sets a manual-control annotation on the Canary.
func annotate(t *testing.T, key client.ObjectKey, annotation, value string) {
	t.Helper()
	c := getCanary(t, key)
	patch := client.MergeFrom(c.DeepCopy())
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annotation] = value
	if err := k8sClient.Patch(context.Background(), c, patch); err != nil {
		t.Fatal(err)
	}
}

func TestManualPromoteAbortRetryPauseAndResumeActOnce(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	c := blueGreen(ns, 50) // far more steps than the test waits for
	setupRollout(t, ns, c)
	key := keyOf(c)

	// promote: skips the remaining analysis.
	release(t, ns, "podinfo:6.1.0")
	waitFor(t, key, "Progressing", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseProgressing })
	annotate(t, key, siskinv1.AnnotationPromote, "1")
	got := waitFor(t, key, "Succeeded after promote", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseSucceeded })
	if got.Status.ManualRequests[siskinv1.AnnotationPromote] != "1" {
		t.Errorf("promote request not acknowledged: %v", got.Status.ManualRequests)
	}
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.1.0" {
		t.Errorf("primary runs %s after a manual promotion, want podinfo:6.1.0", img)
	}

	// abort: rolls back now; the handled promote request is not acted on again.
	release(t, ns, "podinfo:6.2.0")
	waitFor(t, key, "Progressing", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseProgressing })
	annotate(t, key, siskinv1.AnnotationAbort, "1")
	got = waitFor(t, key, "Failed after abort", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseFailed })
	if got.Status.ManualRequests[siskinv1.AnnotationAbort] != "1" {
		t.Errorf("abort request not acknowledged: %v", got.Status.ManualRequests)
	}
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.1.0" {
		t.Errorf("primary runs %s after abort, want podinfo:6.1.0", img)
	}
	waitForDeploymentReplicas(t, ns, "podinfo", 0)

	// retry: the same failed revision is analysed again without a template change.
	annotate(t, key, siskinv1.AnnotationRetry, "1")
	got = waitFor(t, key, "Progressing after retry", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseProgressing })
	if got.Status.FailedChecks != 0 || got.Status.Iterations != 0 {
		t.Errorf("retry starts at failedChecks=%d iterations=%d, want 0/0", got.Status.FailedChecks, got.Status.Iterations)
	}

	// pause: no step runs while paused; resume: the analysis goes on.
	annotate(t, key, siskinv1.AnnotationPause, "1")
	paused := waitFor(t, key, "paused", func(c *siskinv1.Canary) bool { return c.Status.Paused })
	time.Sleep(analysisInterval + 2*time.Second)
	if got := getCanary(t, key); got.Status.Iterations != paused.Status.Iterations || got.Status.Phase != siskinv1.PhaseProgressing {
		t.Errorf("a paused analysis moved: iterations %d -> %d, phase %s", paused.Status.Iterations, got.Status.Iterations, got.Status.Phase)
	}
	annotate(t, key, siskinv1.AnnotationResume, "1")
	waitForWithin(t, key, "a step after resume", 2*analysisInterval, func(c *siskinv1.Canary) bool {
		return !c.Status.Paused && c.Status.Iterations > paused.Status.Iterations
	})

	annotate(t, key, siskinv1.AnnotationPromote, "2")
	waitFor(t, key, "Succeeded after retry and promote", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseSucceeded })
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.2.0" {
		t.Errorf("primary runs %s after retry and promote, want podinfo:6.2.0", img)
	}
}

func TestDeletingACanaryHandsTrafficBackToTheTarget(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	c := blueGreen(ns, 2)
	setupRollout(t, ns, c)
	ctx := context.Background()

	if err := k8sClient.Delete(ctx, getCanary(t, keyOf(c))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	drained := false // seen Terminated, traffic handed back, primary still there
	for {
		live := &siskinv1.Canary{}
		err := k8sClient.Get(ctx, keyOf(c), live)
		if client.IgnoreNotFound(err) == nil && err != nil {
			break
		}
		if err == nil && live.Status.Phase == siskinv1.PhaseTerminated {
			apex := &corev1.Service{}
			primary := &appsv1.Deployment{}
			if k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, apex) == nil && apex.Spec.Selector["app"] == "podinfo" &&
				k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-primary"}, primary) == nil && primary.DeletionTimestamp.IsZero() {
				drained = true
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("canary still exists 20s after deletion: %+v", getCanary(t, keyOf(c)).Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !drained {
		t.Error("the canary went away without a moment where traffic was handed back and the primary still served (the hand-back drain)")
	}
	if n := *getDeployment(t, ns, "podinfo").Spec.Replicas; n != 2 {
		t.Errorf("target has %d replicas after the canary was deleted, want 2", n)
	}
	svc := &corev1.Service{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, svc); err != nil {
		t.Fatalf("apex service after deletion: %v", err)
	}
	if svc.Spec.Selector["app"] != "podinfo" {
		t.Errorf("apex service selects %v after deletion, want the target's pods (app=podinfo)", svc.Spec.Selector)
	}
	for _, ref := range svc.OwnerReferences {
		if ref.Kind == siskinv1.CanaryKind {
			t.Errorf("apex service still owned by the canary, the garbage collector would delete it: %v", ref)
		}
	}
}

// requestCounter counts the controller's API requests, leaving out long-running watches.
type requestCounter struct {
	mu    sync.Mutex
	reads int
	write int
	log   []string
}

func (rc *requestCounter) wrap(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.URL.Query().Get("watch") != "true" {
				rc.mu.Lock()
				if req.Method == http.MethodGet {
					rc.reads++
				} else {
					rc.write++
				}
				rc.log = append(rc.log, req.Method+" "+req.URL.Path)
				rc.mu.Unlock()
			}
			return rt.RoundTrip(req)
		})
	})
}

func (rc *requestCounter) take() (reads, writes int, log []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	reads, writes, log = rc.reads, rc.write, rc.log
	rc.reads, rc.write, rc.log = 0, 0, nil
	return reads, writes, log
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func TestAPIRequestsAtRestAndPerAnalysisStep(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	rc := &requestCounter{}
	startController(t, ns, controllerOptions{wrapConfig: rc.wrap})
	runKubelet(t, ns)
	url, _, _ := hookServer(t)
	c := blueGreen(ns, 3, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupRollout(t, ns, c)

	// At rest for more than an analysis interval.
	time.Sleep(time.Second)
	rc.take()
	time.Sleep(analysisInterval + 2*time.Second)
	reads, writes, log := rc.take()
	t.Logf("at rest for %s: %d reads, %d writes", analysisInterval+2*time.Second, reads, writes)
	if reads+writes != 0 {
		t.Errorf("a canary at rest made %d API requests, want 0:\n%s", reads+writes, strings.Join(log, "\n"))
	}

	release(t, ns, "podinfo:6.1.0")
	waitFor(t, keyOf(c), "the first step", func(c *siskinv1.Canary) bool { return c.Status.Iterations == 1 })
	rc.take()
	waitForWithin(t, keyOf(c), "the second step", 2*analysisInterval, func(c *siskinv1.Canary) bool { return c.Status.Iterations == 2 })
	time.Sleep(500 * time.Millisecond)
	reads, writes, log = rc.take()
	t.Logf("one analysis step: %d reads, %d writes: %s", reads, writes, strings.Join(log, ", "))
	if reads != 0 {
		t.Errorf("an analysis step read %d times from the API server instead of the cache:\n%s", reads, strings.Join(log, "\n"))
	}
	if writes > 5 {
		t.Errorf("an analysis step made %d writes, want at most 5:\n%s", writes, strings.Join(log, "\n"))
	}
}

func TestRolloutsBeyondTheConcurrencyLimitWaitForASlot(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{maxCanaries: 1})
	runKubelet(t, ns)
	ctx := context.Background()
	var keys []client.ObjectKey
	for _, name := range []string{"alpha", "beta"} {
		if err := k8sClient.Create(ctx, appDeployment(ns, name, "app:1")); err != nil {
			t.Fatal(err)
		}
		c := blueGreen(ns, 1)
		c.Name, c.Spec.TargetRef.Name = name, name
		if err := k8sClient.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, keyOf(c))
	}
	for _, key := range keys {
		waitFor(t, key, "Initialized", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseInitialized })
	}
	for _, key := range keys {
		d := getDeployment(t, ns, key.Name)
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Template.Spec.Containers[0].Image = "app:2"
		if err := k8sClient.Patch(ctx, d, patch); err != nil {
			t.Fatal(err)
		}
	}
	// One rolls out, the other waits with a Queued condition; then it gets the slot.
	var first, second client.ObjectKey
	waitFor(t, keys[0], "one rollout in flight", func(*siskinv1.Canary) bool {
		a, b := getCanary(t, keys[0]), getCanary(t, keys[1])
		switch {
		case activePhases[a.Status.Phase] && queued(b):
			first, second = keys[0], keys[1]
		case activePhases[b.Status.Phase] && queued(a):
			first, second = keys[1], keys[0]
		default:
			return false
		}
		return true
	})
	waitForWithin(t, first, "Succeeded", 3*analysisInterval, func(c *siskinv1.Canary) bool {
		if c.Status.Phase != siskinv1.PhaseSucceeded && activePhases[getCanary(t, second).Status.Phase] {
			t.Errorf("%s started while %s held the only slot", second.Name, first.Name)
		}
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	waitForWithin(t, second, "Succeeded after the slot freed", 4*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded && c.Status.LastPromotedSpec == c.Status.LastAppliedSpec
	})
}

func queued(c *siskinv1.Canary) bool {
	r := meta.FindStatusCondition(c.Status.Conditions, siskinv1.ConditionReconciling)
	return r != nil && r.Reason == "Queued"
}
