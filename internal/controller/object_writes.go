package controller

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// objectWrites remembers, per Canary, the objects the controller's last actions changed (the
// router's VirtualService or HTTPRoute, the target, the primary) with the resourceVersion each
// write replaced, and the objects they created, until the informer cache shows them changed or
// there. A round planned from a cache that has not seen the router's write yet finds the route
// "not confirmed" and would ask for it again from the old resourceVersion: a conflict at best,
// two more status writes for a wait that is not one at worst; one that has not seen a create
// would create the object again, which for a Service costs the API server a cluster IP
// allocation before it answers AlreadyExists. Such a round returns at once instead; the event
// of the write brings the Canary back (the requeue is a safety net), and after cacheWait the
// cache is taken as it is. Like statusWrites, nothing here must survive a restart.
type objectWrites struct {
	reader client.Reader
	mu     sync.Mutex
	// pending is keyed by Canary, then by the written object's kind and key.
	pending map[types.NamespacedName]map[writtenKey]pendingObject
}

type writtenKey struct {
	gvk schema.GroupVersionKind
	key client.ObjectKey
}

type pendingObject struct {
	obj      client.Object // an object of the written kind to read the cached one into
	replaced string        // the resourceVersion the write replaced; "" for a create
	at       time.Time
}

// canaryKeyOf is the context key of the Canary a round works for.
type canaryKeyOf struct{}

// forCanary returns ctx carrying the key of the Canary whose round makes the writes.
func forCanary(ctx context.Context, key types.NamespacedName) context.Context {
	return context.WithValue(ctx, canaryKeyOf{}, key)
}

// wrote records that a write in a round of the Canary in ctx moved obj from resourceVersion
// replaced to obj's. Creates (nothing replaced) and writes that changed nothing are not waited
// for.
func (w *objectWrites) wrote(ctx context.Context, s client.Client, obj client.Object, replaced string, now time.Time) {
	if replaced == "" || replaced == obj.GetResourceVersion() {
		return
	}
	w.remember(ctx, s, obj, replaced, now)
}

// created records that a round of the Canary in ctx created obj.
func (w *objectWrites) created(ctx context.Context, s client.Client, obj client.Object, now time.Time) {
	w.remember(ctx, s, obj, "", now)
}

func (w *objectWrites) remember(ctx context.Context, s client.Client, obj client.Object, replaced string, now time.Time) {
	canaryKey, ok := ctx.Value(canaryKeyOf{}).(types.NamespacedName)
	if !ok || w == nil {
		return
	}
	gvk, err := s.GroupVersionKindFor(obj)
	if err != nil {
		return
	}
	empty := obj.DeepCopyObject().(client.Object)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == nil {
		w.pending = map[types.NamespacedName]map[writtenKey]pendingObject{}
	}
	if w.pending[canaryKey] == nil {
		w.pending[canaryKey] = map[writtenKey]pendingObject{}
	}
	w.pending[canaryKey][writtenKey{gvk: gvk, key: client.ObjectKeyFromObject(obj)}] = pendingObject{obj: empty, replaced: replaced, at: now}
}

// behind reports how long a round of canary may still wait for the cache to show the objects
// its last actions wrote (0 when it shows them all, or waited limit already). Objects the
// cache shows changed, or no longer has, are forgotten.
func (w *objectWrites) behind(ctx context.Context, canary types.NamespacedName, now time.Time, limit time.Duration) time.Duration {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	objs := w.pending[canary]
	check := make(map[writtenKey]pendingObject, len(objs))
	for k, p := range objs {
		check[k] = p
	}
	w.mu.Unlock()
	var left time.Duration
	for k, p := range check {
		obj := p.obj.DeepCopyObject().(client.Object)
		err := w.reader.Get(ctx, k.key, obj)
		wait := limit - now.Sub(p.at)
		created := p.replaced == ""
		switch {
		case wait <= 0:
		case err == nil && !created && obj.GetResourceVersion() == p.replaced,
			err != nil && (created || !apierrors.IsNotFound(err)):
			// Not yet shown: the old version, or no object at all after a create.
			left = max(left, wait)
			continue
		}
		w.mu.Lock()
		if cur, ok := w.pending[canary][k]; ok && cur.at.Equal(p.at) {
			delete(w.pending[canary], k)
			if len(w.pending[canary]) == 0 {
				delete(w.pending, canary)
			}
		}
		w.mu.Unlock()
	}
	return left
}

// forget drops what is known of canary (it is gone).
func (w *objectWrites) forget(canary types.NamespacedName) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pending, canary)
}

// expectingClient is the client of the routers and the target adapters: it records each
// create, update and patch in objectWrites.
type expectingClient struct {
	client.Client
	writes *objectWrites
	now    func() time.Time
}

// Create implements client.Writer.
func (c expectingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := c.Client.Create(ctx, obj, opts...); err != nil {
		return err
	}
	c.writes.created(ctx, c.Client, obj, c.now())
	return nil
}

// Update implements client.Writer.
func (c expectingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	replaced := obj.GetResourceVersion()
	if err := c.Client.Update(ctx, obj, opts...); err != nil {
		return err
	}
	c.writes.wrote(ctx, c.Client, obj, replaced, c.now())
	return nil
}

// Patch implements client.Writer.
func (c expectingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	replaced := obj.GetResourceVersion()
	if err := c.Client.Patch(ctx, obj, patch, opts...); err != nil {
		return err
	}
	c.writes.wrote(ctx, c.Client, obj, replaced, c.now())
	return nil
}
