package controller

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// A write made for a Canary is waited for until the cache (here the same fake store, read
// before and after a second write) shows the object changed, and no longer than the limit.
func TestObjectWritesWaitForTheCacheToShowTheWrite(t *testing.T) {
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "podinfo"}}
	store := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(svc).Build()
	cached := &corev1.Service{}
	if err := store.Get(ctx, client.ObjectKeyFromObject(svc), cached); err != nil {
		t.Fatal(err)
	}
	// The cache lags: it answers with the object as it was before the write.
	lagging := &laggingReader{Reader: store, frozen: cached.DeepCopy()}
	w := &objectWrites{reader: lagging}
	now := time.Unix(1000, 0)
	c := expectingClient{Client: store, writes: w, now: func() time.Time { return now }}
	canary := types.NamespacedName{Namespace: "ns", Name: "podinfo"}

	patch := client.MergeFrom(cached.DeepCopy())
	cached.Labels = map[string]string{"weight": "25"}
	if err := c.Patch(ctx, cached, patch); err != nil { // no Canary in ctx: not recorded
		t.Fatal(err)
	}
	if left := w.behind(ctx, canary, now, 2*time.Second); left != 0 {
		t.Fatalf("a write outside a Canary's round is waited for (%s)", left)
	}

	lagging.frozen = cached.DeepCopy()
	patch = client.MergeFrom(cached.DeepCopy())
	cached.Labels = map[string]string{"weight": "50"}
	if err := c.Patch(forCanary(ctx, canary), cached, patch); err != nil {
		t.Fatal(err)
	}
	if left := w.behind(ctx, canary, now.Add(500*time.Millisecond), 2*time.Second); left != 1500*time.Millisecond {
		t.Fatalf("behind a cache without the write: %s left, want 1.5s", left)
	}
	if left := w.behind(ctx, types.NamespacedName{Namespace: "ns", Name: "other"}, now, 2*time.Second); left != 0 {
		t.Fatalf("another Canary waits for this one's write (%s)", left)
	}
	if left := w.behind(ctx, canary, now.Add(3*time.Second), 2*time.Second); left != 0 {
		t.Fatalf("waited past the limit: %s", left)
	}

	// A new write, and the cache catches up.
	lagging.frozen = cached.DeepCopy()
	patch = client.MergeFrom(cached.DeepCopy())
	cached.Labels = map[string]string{"weight": "75"}
	if err := c.Patch(forCanary(ctx, canary), cached, patch); err != nil {
		t.Fatal(err)
	}
	waitedForUntilShown(t, w, canary, now, func() { lagging.frozen = nil })
}

// waitedForUntilShown checks that Canary canary's round waits for its last write until show
// makes the cache show it, and that the write is then forgotten.
func waitedForUntilShown(t *testing.T, w *objectWrites, canary types.NamespacedName, now time.Time, show func()) {
	t.Helper()
	ctx := context.Background()
	if left := w.behind(ctx, canary, now, 2*time.Second); left == 0 {
		t.Fatal("a write the cache has not shown is not waited for")
	}
	show()
	if left := w.behind(ctx, canary, now, 2*time.Second); left != 0 {
		t.Fatalf("the cache shows the write, yet %s left", left)
	}
	if len(w.pending) != 0 {
		t.Fatalf("writes the cache shows are still remembered: %v", w.pending)
	}
}

// laggingReader answers with frozen while it is set.
type laggingReader struct {
	client.Reader
	frozen *corev1.Service
}

func (r *laggingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if r.frozen != nil {
		r.frozen.DeepCopyInto(obj.(*corev1.Service))
		return nil
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// A create made for a Canary is waited for until the cache shows the object: a round planned
// before would create it again (for a Service, a cluster IP allocation on the API server before
// it answers AlreadyExists).
func TestObjectWritesWaitForTheCacheToShowACreate(t *testing.T) {
	ctx := context.Background()
	store := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).Build()
	cache := &missingReader{Reader: store, missing: true}
	w := &objectWrites{reader: cache}
	now := time.Unix(1000, 0)
	c := expectingClient{Client: store, writes: w, now: func() time.Time { return now }}
	canary := types.NamespacedName{Namespace: "ns", Name: "podinfo"}

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "podinfo-primary"}}
	if err := c.Create(forCanary(ctx, canary), svc); err != nil {
		t.Fatal(err)
	}
	if left := w.behind(ctx, canary, now.Add(500*time.Millisecond), 2*time.Second); left != 1500*time.Millisecond {
		t.Fatalf("behind a cache without the created Service: %s left, want 1.5s", left)
	}
	if left := w.behind(ctx, canary, now.Add(3*time.Second), 2*time.Second); left != 0 {
		t.Fatalf("waited past the limit: %s", left)
	}

	canarySvc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "podinfo-canary"}}
	if err := c.Create(forCanary(ctx, canary), canarySvc); err != nil {
		t.Fatal(err)
	}
	waitedForUntilShown(t, w, canary, now, func() { cache.missing = false })
	// A create that fails (AlreadyExists) is not waited for.
	if err := c.Create(forCanary(ctx, canary), canarySvc.DeepCopy()); err == nil {
		t.Fatal("creating the same Service twice succeeded")
	}
	if len(w.pending) != 0 {
		t.Fatalf("a failed create is remembered: %v", w.pending)
	}
}

// missingReader answers NotFound for every object while missing is set.
type missingReader struct {
	client.Reader
	missing bool
}

func (r *missingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if r.missing {
		return apierrors.NewNotFound(corev1.Resource("services"), key.Name)
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}
