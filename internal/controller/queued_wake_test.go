package controller

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv"
)

func TestAFreedSlotWakesTheLongestQueuedCanary(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	canaryQueuedAt := func(name string, since time.Time, reason string) *siskinv1.Canary {
		c := &siskinv1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
		c.Status.Conditions = []metav1.Condition{{
			Type: siskinv1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: reason,
			LastTransitionTime: metav1.NewTime(since),
		}}
		return c
	}
	scheme, err := testenv.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	objs := []client.Object{
		canaryQueuedAt("late", t0.Add(3*time.Second), siskinv1.ReasonQueued),
		canaryQueuedAt("early", t0.Add(time.Second), siskinv1.ReasonQueued),
		canaryQueuedAt("earliest-but-analysing", t0, siskinv1.ReasonProgressing),
		canaryQueuedAt("middle", t0.Add(2*time.Second), siskinv1.ReasonQueued),
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithIndex(&siskinv1.Canary{}, indexQueued, func(o client.Object) []string {
			if queuedSince(o.(*siskinv1.Canary)) != nil {
				return []string{"true"}
			}
			return nil
		}).Build()
	woken := func(r *CanaryReconciler) []string {
		var names []string
		for {
			select {
			case e := <-r.wake:
				names = append(names, e.Object.GetName())
			default:
				return names
			}
		}
	}
	r := &CanaryReconciler{Client: c, MaxConcurrentCanaries: 2, wake: make(chan event.GenericEvent, 8)}

	r.wakeQueued(context.Background(), freedSlots(siskinv1.PhaseProgressing, siskinv1.PhaseSucceeded))
	if got := woken(r); len(got) != 1 || got[0] != "early" {
		t.Fatalf("a freed slot woke %v, want [early]", got)
	}
	r.wakeQueued(context.Background(), 2)
	if got := woken(r); len(got) != 2 || got[0] != "early" || got[1] != "middle" {
		t.Fatalf("two freed slots woke %v, want [early middle]", got)
	}
	r.wakeQueued(context.Background(), freedSlots(siskinv1.PhaseProgressing, siskinv1.PhasePromoting))
	if got := woken(r); len(got) != 0 {
		t.Fatalf("a rollout still in flight woke %v", got)
	}
	r.MaxConcurrentCanaries = 0
	r.wakeQueued(context.Background(), 1)
	if got := woken(r); len(got) != 0 {
		t.Fatalf("without a limit, %v were woken", got)
	}
}

func TestAReleasedSlotIsFreeBeforeTheCacheShowsIt(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: "ns", Name: name} }
	canaryNamed := func(name string) siskinv1.Canary {
		return siskinv1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	}
	// The cache still shows alpha in flight although its rollout ended.
	stale := []siskinv1.Canary{canaryNamed("alpha")}

	var s rolloutSlots
	if s.admit(key("beta"), stale, 1, t0) {
		t.Fatal("beta was admitted while alpha held the only slot")
	}
	s.release(key("alpha"), t0)
	if !s.admit(key("beta"), stale, 1, t0) {
		t.Fatal("beta was refused the slot alpha released")
	}
	if s.admit(key("gamma"), stale, 1, t0) {
		t.Fatal("gamma was admitted to the slot reserved for beta")
	}
	// Once the cache shows alpha at rest and beta in flight, the release is forgotten.
	current := []siskinv1.Canary{canaryNamed("beta")}
	if s.admit(key("gamma"), current, 1, t0.Add(time.Second)) {
		t.Fatal("gamma was admitted while beta held the only slot")
	}
	if len(s.released) != 0 {
		t.Fatalf("released = %v, want none once the cache caught up", s.released)
	}
}
