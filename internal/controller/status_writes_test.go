package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestStatusWrites(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "podinfo"}
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	canaryAt := func(rv string) *siskinv1.Canary {
		return &siskinv1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, ResourceVersion: rv}}
	}
	update := func(w *statusWrites, rv string) bool {
		return w.Awaited().Update(event.UpdateEvent{ObjectOld: canaryAt("1"), ObjectNew: canaryAt(rv)})
	}

	t.Run("a cache still at the replaced version is behind until the limit", func(t *testing.T) {
		var w statusWrites
		w.wrote(key, "10", "11", t0)
		if left, expired := w.behind(key, "10", t0.Add(500*time.Millisecond), 2*time.Second); left != 1500*time.Millisecond || expired {
			t.Fatalf("behind = %s, %v; want 1.5s, false", left, expired)
		}
		if !update(&w, "11") {
			t.Fatal("the update event of an awaited write was filtered out")
		}
		if left, expired := w.behind(key, "10", t0.Add(2*time.Second), 2*time.Second); left != 0 || !expired {
			t.Fatalf("at the limit: behind = %s, %v; want 0, true", left, expired)
		}
		if left, expired := w.behind(key, "10", t0.Add(3*time.Second), 2*time.Second); left != 0 || expired {
			t.Fatalf("after giving up: behind = %s, %v; want 0, false", left, expired)
		}
	})
	t.Run("a cache past the replaced version clears the record", func(t *testing.T) {
		var w statusWrites
		w.wrote(key, "10", "11", t0)
		if left, _ := w.behind(key, "11", t0, 2*time.Second); left != 0 {
			t.Fatalf("behind = %s, want 0", left)
		}
		if update(&w, "12") {
			t.Fatal("a status update nobody waits for was let through")
		}
	})
	t.Run("a write that changed nothing is not waited for", func(t *testing.T) {
		var w statusWrites
		w.wrote(key, "10", "10", t0)
		if left, _ := w.behind(key, "10", t0, 2*time.Second); left != 0 {
			t.Fatalf("behind = %s, want 0", left)
		}
	})
	t.Run("a deleted Canary is forgotten", func(t *testing.T) {
		var w statusWrites
		w.wrote(key, "10", "11", t0)
		w.forget(key)
		if left, _ := w.behind(key, "10", t0, 2*time.Second); left != 0 || update(&w, "11") {
			t.Fatal("a forgotten write is still waited for")
		}
	})
	t.Run("another Canary is not held up", func(t *testing.T) {
		var w statusWrites
		w.wrote(key, "10", "11", t0)
		other := types.NamespacedName{Namespace: "ns", Name: "other"}
		if left, _ := w.behind(other, "10", t0, 2*time.Second); left != 0 {
			t.Fatalf("behind = %s, want 0", left)
		}
	})
}
