package controller

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/target"
)

// workerReplicas is the worker Deployment's own replica count, the primary's after
// initialization.
const workerReplicas = 4

// workerCanary is a worker canary (provider replicas, no spec.service) of the Deployment
// "worker": shares of 25% and 50% of the primary's replicas, then promotion; one failed check
// rolls it back.
func workerCanary(ns string, hooks ...siskinv1.CanaryWebhook) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: ns},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderReplicas,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "worker"},
			Analysis: &siskinv1.CanaryAnalysis{
				Interval:    analysisInterval.String(),
				Threshold:   1,
				StepWeights: []int32{25, 50},
				Webhooks:    hooks,
			},
		},
	}
}

// setupWorker creates the worker Deployment (4 replicas) and its Canary, and checks the
// initialization: worker-primary runs the first revision on 4 replicas, the target is at zero
// remembering its 4, and no Service was generated.
func setupWorker(t *testing.T, ns string, c *siskinv1.Canary) {
	t.Helper()
	ctx := context.Background()
	dep := appDeployment(ns, "worker", "worker:1")
	dep.Spec.Replicas = ptr.To[int32](workerReplicas)
	if err := k8sClient.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, keyOf(c), "Initialized", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseInitialized })
	waitForDeploymentReplicas(t, ns, "worker", 0)
	primary := getDeployment(t, ns, "worker-primary")
	if n := *primary.Spec.Replicas; n != workerReplicas || image(primary) != "worker:1" {
		t.Fatalf("primary runs %s on %d replicas, want worker:1 on %d", image(primary), n, workerReplicas)
	}
	if m := getDeployment(t, ns, "worker").Annotations[target.AnnotationReplicas]; m != fmt.Sprint(workerReplicas) {
		t.Errorf("target at rest remembers %q replicas, want %d", m, workerReplicas)
	}
	checkNoServices(t, ns)
}

// checkNoServices fails the test if any Service exists in ns: a worker canary has none.
func checkNoServices(t *testing.T, ns string) {
	t.Helper()
	list := &corev1.ServiceList{}
	if err := k8sClient.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		t.Errorf("service %s exists: a worker canary generates no Services", s.Name)
	}
}

// releaseWorker changes the worker's image, as a GitOps sync of a new version would.
func releaseWorker(t *testing.T, ns, img string) time.Time {
	t.Helper()
	d := getDeployment(t, ns, "worker")
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].Image = img
	if err := k8sClient.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// shareState is what a worker rollout looks like at one moment.
type shareState struct {
	targetReplicas  int32
	weight          string // the target's AnnotationWeight
	primaryReplicas int32
	primaryImage    string
}

func (s shareState) String() string {
	w := s.weight
	if w == "" {
		w = "-"
	}
	return fmt.Sprintf("target %d@%s primary %d %s", s.targetReplicas, w, s.primaryReplicas, s.primaryImage)
}

// shareRecorder polls the worker and its primary, keeping every distinct state.
type shareRecorder struct {
	ns     string
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	states []shareState
}

func recordShares(t *testing.T, ns string) *shareRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &shareRecorder{ns: ns, cancel: cancel, done: make(chan struct{})}
	t.Cleanup(r.stop)
	go func() {
		defer close(r.done)
		for ctx.Err() == nil {
			r.poll(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
		// The state the test waited for before stopping is the last one seen.
		r.poll(context.Background())
	}()
	return r
}

func (r *shareRecorder) poll(ctx context.Context) {
	tgt, primary := &appsv1.Deployment{}, &appsv1.Deployment{}
	if k8sClient.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: "worker"}, tgt) != nil ||
		k8sClient.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: "worker-primary"}, primary) != nil {
		return
	}
	s := shareState{
		targetReplicas:  ptr.Deref(tgt.Spec.Replicas, 1),
		weight:          tgt.Annotations[target.AnnotationWeight],
		primaryReplicas: ptr.Deref(primary.Spec.Replicas, 1),
		primaryImage:    image(primary),
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.states); n == 0 || r.states[n-1] != s {
		r.states = append(r.states, s)
	}
}

func (r *shareRecorder) stop() {
	r.cancel()
	<-r.done
}

// seen stops the recorder and returns the states it saw.
func (r *shareRecorder) seen() []shareState {
	r.stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]shareState(nil), r.states...)
}

func describeShares(states []shareState) string {
	parts := make([]string, len(states))
	for i, s := range states {
		parts[i] = s.String()
	}
	return strings.Join(parts, " -> ")
}

// targetWalk is the target's replica counts in the order they came, each once in a row.
func targetWalk(states []shareState) []int32 {
	var walk []int32
	for _, s := range states {
		if n := len(walk); n == 0 || walk[n-1] != s.targetReplicas {
			walk = append(walk, s.targetReplicas)
		}
	}
	return walk
}

// checkShares checks what every worker rollout must keep: the primary always has its 4
// replicas, and the target never more than the share of the weight it carries (one replica at
// weight 0, while it starts).
func checkShares(t *testing.T, states []shareState) {
	t.Helper()
	share := map[string]int32{"": 1, "0": 2, "25": 1, "50": 2}
	for _, s := range states {
		if s.primaryReplicas != workerReplicas {
			t.Errorf("primary at %d replicas, want %d throughout: %s", s.primaryReplicas, workerReplicas, describeShares(states))
			return
		}
		if max, ok := share[s.weight]; !ok || s.targetReplicas > max {
			t.Errorf("target at %d replicas with weight %q, more than its share: %s", s.targetReplicas, s.weight, describeShares(states))
			return
		}
	}
}

func TestWorkerRolloutSharesThePrimaryReplicasAndIsPromoted(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	url, _, calls := hookServer(t)
	c := workerCanary(ns, siskinv1.CanaryWebhook{Name: "jobs", Type: siskinv1.RolloutHook, URL: url})
	setupWorker(t, ns, c)

	rec := recordShares(t, ns)
	released := releaseWorker(t, ns, "worker:2")
	got := waitForWithin(t, keyOf(c), "Succeeded", 6*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	waitForDeploymentReplicas(t, ns, "worker", 0)
	t.Logf("release to Succeeded: %s", time.Since(released).Round(time.Millisecond))
	states := rec.seen()
	t.Logf("observed: %s", describeShares(states))

	checkShares(t, states)
	walk := targetWalk(states)
	if want := []int32{0, 1, 2, 0}; fmt.Sprint(walk) != fmt.Sprint(want) {
		t.Errorf("target replicas went %v, want %v (1 to start, ceil(4*25/100)=1, ceil(4*50/100)=2, 0 at rest)", walk, want)
	}
	for _, w := range []struct {
		weight string
		want   int32
	}{{"25", 1}, {"50", 2}} {
		found := false
		for _, s := range states {
			if s.weight == w.weight && s.targetReplicas == w.want {
				found = true
			}
		}
		if !found {
			t.Errorf("never saw the target at %d replicas with weight %s: %s", w.want, w.weight, describeShares(states))
		}
	}
	primary := getDeployment(t, ns, "worker-primary")
	if image(primary) != "worker:2" || *primary.Spec.Replicas != workerReplicas {
		t.Errorf("primary runs %s on %d replicas after the promotion, want worker:2 on %d", image(primary), *primary.Spec.Replicas, workerReplicas)
	}
	if m := getDeployment(t, ns, "worker").Annotations[target.AnnotationReplicas]; m != fmt.Sprint(workerReplicas) {
		t.Errorf("target at rest remembers %q replicas, want the user's %d", m, workerReplicas)
	}
	if got.Status.CanaryWeight != 0 || got.Status.LastPromotedSpec != got.Status.LastAppliedSpec {
		t.Errorf("status after promotion: canaryWeight=%d lastPromotedSpec=%q lastAppliedSpec=%q",
			got.Status.CanaryWeight, got.Status.LastPromotedSpec, got.Status.LastAppliedSpec)
	}
	if n := calls.Load(); n < 2 {
		t.Errorf("rollout webhook called %d times, want one call per step (at least 2)", n)
	}
	checkNoServices(t, ns)
}

func TestWorkerRolloutIsRolledBackByAFailingCheck(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	url, code, _ := hookServer(t)
	c := workerCanary(ns, siskinv1.CanaryWebhook{Name: "jobs", Type: siskinv1.RolloutHook, URL: url})
	setupWorker(t, ns, c)

	rec := recordShares(t, ns)
	released := releaseWorker(t, ns, "worker:2-broken")
	// The first step passes and gives the canary its 25%; the next one fails, and one failure
	// is the threshold.
	waitForWithin(t, keyOf(c), "weight 25", 3*analysisInterval, func(c *siskinv1.Canary) bool { return c.Status.CanaryWeight == 25 })
	code.Store(http.StatusInternalServerError)
	got := waitForWithin(t, keyOf(c), "Failed", 3*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseFailed
	})
	waitForDeploymentReplicas(t, ns, "worker", 0)
	t.Logf("release to rolled back: %s", time.Since(released).Round(time.Millisecond))
	states := rec.seen()
	t.Logf("observed: %s", describeShares(states))

	checkShares(t, states)
	for _, s := range states {
		if s.primaryImage != "worker:1" {
			t.Errorf("primary ran %s during the rolled-back rollout: %s", s.primaryImage, describeShares(states))
			break
		}
	}
	if walk := targetWalk(states); fmt.Sprint(walk) != fmt.Sprint([]int32{0, 1, 0}) {
		t.Errorf("target replicas went %v, want [0 1 0]", walk)
	}
	if m := getDeployment(t, ns, "worker").Annotations[target.AnnotationReplicas]; m != fmt.Sprint(workerReplicas) {
		t.Errorf("target at rest remembers %q replicas, want the user's %d", m, workerReplicas)
	}
	if got.Status.CanaryWeight != 0 || got.Status.LastPromotedSpec == got.Status.LastAppliedSpec {
		t.Errorf("status after the rollback: canaryWeight=%d, lastPromotedSpec=%q lastAppliedSpec=%q",
			got.Status.CanaryWeight, got.Status.LastPromotedSpec, got.Status.LastAppliedSpec)
	}
	checkNoServices(t, ns)
}

func TestWorkerRolloutResumesAfterARestartWithoutSteppingTwice(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	stop := startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	url, _, calls := hookServer(t)
	c := workerCanary(ns, siskinv1.CanaryWebhook{Name: "jobs", Type: siskinv1.RolloutHook, URL: url})
	setupWorker(t, ns, c)

	rec := recordShares(t, ns)
	releaseWorker(t, ns, "worker:2")
	first := waitForWithin(t, keyOf(c), "the first step", 3*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing && c.Status.CanaryWeight == 25
	})
	waitForDeploymentReplicas(t, ns, "worker", 1)
	restartBetweenSteps(t, ns, c, stop, calls, first, "the second step", func(c *siskinv1.Canary) bool {
		return c.Status.CanaryWeight == 50
	})
	waitForDeploymentReplicas(t, ns, "worker", 2)
	waitForWithin(t, keyOf(c), "Succeeded", 3*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	waitForDeploymentReplicas(t, ns, "worker", 0)
	states := rec.seen()
	t.Logf("observed: %s", describeShares(states))
	checkShares(t, states)
	if walk := targetWalk(states); fmt.Sprint(walk) != fmt.Sprint([]int32{0, 1, 2, 0}) {
		t.Errorf("target replicas went %v across the restart, want [0 1 2 0]", walk)
	}
	var weights []string
	for _, s := range states {
		if n := len(weights); n == 0 || weights[n-1] != s.weight {
			weights = append(weights, s.weight)
		}
	}
	if want := []string{"", "25", "50", "0"}; fmt.Sprint(weights) != fmt.Sprint(want) {
		t.Errorf("applied weights went %q across the restart, want %q (no step twice, none skipped)", weights, want)
	}
	if image(getDeployment(t, ns, "worker-primary")) != "worker:2" {
		t.Errorf("primary runs %s, want worker:2", image(getDeployment(t, ns, "worker-primary")))
	}
}
