package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// statusWrites remembers, per Canary, the resourceVersion that its last status write
// replaced, until the informer cache has moved past it. Only this controller writes a Canary's
// status, so a cached Canary still at that version lacks the status the controller last
// decided; a round planned from it could repeat an analysis step or meet a phase that is over.
//
// A round that meets such a Canary returns at once instead of waiting with a worker; the
// update event of the write (let through by Awaited) brings the Canary back as soon as the
// cache has it. Nothing here must survive a restart: a new process starts from a fresh cache.
type statusWrites struct {
	mu      sync.Mutex
	pending map[types.NamespacedName]pendingWrite
}

type pendingWrite struct {
	replaced string    // the resourceVersion the write replaced
	at       time.Time // when the write was made
}

// wrote records a status write that moved key from resourceVersion replaced to written. A
// write the API server found empty (the same version) leaves nothing to wait for.
func (w *statusWrites) wrote(key types.NamespacedName, replaced, written string, now time.Time) {
	if replaced == "" || replaced == written {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == nil {
		w.pending = map[types.NamespacedName]pendingWrite{}
	}
	w.pending[key] = pendingWrite{replaced: replaced, at: now}
}

// behind reports whether a cached Canary at resourceVersion rv predates the last status write
// to key and, if so, how long a round may still wait for it. After limit the write is given up
// on (expired) and the cache is taken as it is. A Canary that has moved on clears the record.
func (w *statusWrites) behind(key types.NamespacedName, rv string, now time.Time, limit time.Duration) (left time.Duration, expired bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.pending[key]
	if !ok {
		return 0, false
	}
	if rv != p.replaced {
		delete(w.pending, key)
		return 0, false
	}
	if left = limit - now.Sub(p.at); left <= 0 {
		delete(w.pending, key)
		return 0, true
	}
	return left, false
}

// forget drops what is known of key (the Canary is gone).
func (w *statusWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pending, key)
}

// awaited reports whether the cache is waited on for key.
func (w *statusWrites) awaited(key types.NamespacedName) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.pending[key]
	return ok
}

// Awaited lets through the update of a Canary whose status write a round is waiting for. Other
// status updates (the controller's own, seen after the fact) stay filtered out.
func (w *statusWrites) Awaited() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectNew != nil && w.awaited(client.ObjectKeyFromObject(e.ObjectNew))
		},
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}
