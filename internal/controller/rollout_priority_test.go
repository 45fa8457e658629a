package controller

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv"
)

// fleetQueue is a rolloutQueue over a cache holding a Canary of each given phase, named after
// its key in phases.
func fleetQueue(t *testing.T, phases map[string]siskinv1.CanaryPhase) priorityqueue.PriorityQueue[reconcile.Request] {
	t.Helper()
	scheme, err := testenv.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	var objs []client.Object
	for name, phase := range phases {
		c := &siskinv1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
		c.Status.Phase = phase
		objs = append(objs, c)
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Millisecond, time.Second)
	q := newRolloutQueue(reader, logr.Discard())("canary", limiter)
	t.Cleanup(q.ShutDown)
	pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request])
	if !ok {
		t.Fatalf("the Canary controller's queue is a %T, not a priority queue: watch handlers would not set priorities", q)
	}
	return pq
}

func req(name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: name}}
}

// drain gets n keys from q, in the order a worker would.
func drain(t *testing.T, q priorityqueue.PriorityQueue[reconcile.Request], n int) []string {
	t.Helper()
	got := make(chan string, n)
	go func() {
		for range n {
			item, _, shutdown := q.GetWithPriority()
			if shutdown {
				return
			}
			q.Done(item)
			got <- item.Name
		}
	}()
	var names []string
	for range n {
		select {
		case name := <-got:
			names = append(names, name)
		case <-time.After(5 * time.Second):
			t.Fatalf("queue gave %v, then nothing for 5s; want %d keys", names, n)
		}
	}
	return names
}

// waitLen waits until n keys are ready in q.
func waitLen(t *testing.T, q priorityqueue.PriorityQueue[reconcile.Request], n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for q.Len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d keys ready in the queue after 5s, want %d", q.Len(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestADueStepOfARolloutInFlightIsServedBeforeNewRolloutsQueuedEarlier(t *testing.T) {
	phases := map[string]siskinv1.CanaryPhase{"step": siskinv1.PhaseProgressing}
	var starts []string
	for i := range 5 {
		name := fmt.Sprintf("new-%d", i)
		phases[name] = siskinv1.PhaseSucceeded
		starts = append(starts, name)
	}
	q := fleetQueue(t, phases)

	// The Canary in flight asked to come back when its next step is due (its round's
	// RequeueAfter, which the controller adds with its own default priority)...
	q.AddWithOpts(priorityqueue.AddOpts{After: 50 * time.Millisecond}, req("step"))
	// ...and meanwhile a fleet-wide change patched five targets: their Canaries at rest are
	// added by the watch, now.
	for _, name := range starts {
		q.Add(req(name))
	}
	time.Sleep(100 * time.Millisecond) // the step is due, behind five keys that came first
	waitLen(t, q, 6)

	got := drain(t, q, 6)
	want := append([]string{"step"}, starts...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("workers got %v, want %v: the due step first, then the new rollouts in the order they came", got, want)
	}
}

func TestEveryPhaseOfARolloutInFlightGoesFirstAndAtRestKeepsItsOrder(t *testing.T) {
	phases := map[string]siskinv1.CanaryPhase{
		"initialized": siskinv1.PhaseInitialized,
		"succeeded":   siskinv1.PhaseSucceeded,
		"failed":      siskinv1.PhaseFailed,
		"waiting":     siskinv1.PhaseWaiting,
		"progressing": siskinv1.PhaseProgressing,
		"promotion":   siskinv1.PhaseWaitingPromotion,
		"promoting":   siskinv1.PhasePromoting,
		"finalising":  siskinv1.PhaseFinalising,
	}
	q := fleetQueue(t, phases)
	order := []string{"initialized", "waiting", "succeeded", "progressing", "unknown", "promotion", "failed", "promoting", "finalising"}
	for _, name := range order {
		q.Add(req(name))
	}
	waitLen(t, q, len(order))
	got := drain(t, q, len(order))
	want := []string{"waiting", "progressing", "promotion", "promoting", "finalising", "initialized", "succeeded", "unknown", "failed"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("workers got %v, want %v", got, want)
	}
}

func TestAnUnchangedEventOfARolloutInFlightIsNotLowered(t *testing.T) {
	q := fleetQueue(t, map[string]siskinv1.CanaryPhase{
		"resting": siskinv1.PhaseSucceeded, "flight": siskinv1.PhaseProgressing,
	})
	// A watch handler adds an event that changed nothing (a resync) at LowPriority; a retry is
	// rate limited.
	q.Add(req("resting"))
	q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(handler.LowPriority)}, req("flight"))
	waitLen(t, q, 2)
	if got := drain(t, q, 2); fmt.Sprint(got) != "[flight resting]" {
		t.Fatalf("workers got %v, want [flight resting]", got)
	}

	q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(handler.LowPriority)}, req("resting"))
	q.AddRateLimited(req("flight"))
	time.Sleep(20 * time.Millisecond) // past the limiter's first delay
	waitLen(t, q, 2)
	if got := drain(t, q, 2); fmt.Sprint(got) != "[flight resting]" {
		t.Fatalf("after a retry workers got %v, want [flight resting]", got)
	}
}
