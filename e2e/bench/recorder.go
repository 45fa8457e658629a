package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// observation is what the bench saw of a Canary's status at one watch event.
type observation struct {
	// at is when the watch event reached the bench.
	at           time.Time
	phase        siskinv1.CanaryPhase
	lastStep     time.Time
	rolloutStart time.Time
	applied      string
	promoted     string
}

// isStart reports whether the observation is the start of a rollout: the analysis clock starts
// at the rollout's start time.
func (o observation) isStart() bool {
	return !o.lastStep.IsZero() && o.lastStep.Equal(o.rolloutStart)
}

func (o observation) same(p observation) bool {
	return o.phase == p.phase && o.lastStep.Equal(p.lastStep) && o.rolloutStart.Equal(p.rolloutStart) &&
		o.applied == p.applied && o.promoted == p.promoted
}

// watched is what a recorder keeps of one object at one watch event: its time of arrival, and
// whether it says the same as the previous one.
type watched[T any] interface {
	arrived() time.Time
	same(T) bool
}

func (o observation) arrived() time.Time { return o.at }

// recorder keeps, for each object of one kind in a namespace, every change of what the bench
// reads of it, as a watch (an informer) delivers them; it never polls the API server.
type recorder[T watched[T]] struct {
	// read is what the bench reads of an object the watch delivered at at; false for an object
	// of another type.
	read func(obj any, at time.Time) (name string, o T, ok bool)

	mu      sync.Mutex
	history map[string][]T
	last    time.Time
	changed chan struct{}
}

// startRecorder watches the Canaries of a namespace until ctx ends.
func startRecorder(ctx context.Context, cl *cluster, ns string) (*recorder[observation], error) {
	return watch(ctx, cl, ns, "canary", &siskinv1.Canary{}, func(obj any, at time.Time) (string, observation, bool) {
		c, ok := obj.(*siskinv1.Canary)
		if !ok {
			return "", observation{}, false
		}
		o := observation{at: at, phase: c.Status.Phase, applied: c.Status.LastAppliedSpec, promoted: c.Status.LastPromotedSpec}
		if t := c.Status.LastStepTime; t != nil {
			o.lastStep = t.Time
		}
		if t := c.Status.RolloutStartTime; t != nil {
			o.rolloutStart = t.Time
		}
		return c.Name, o, true
	})
}

// watch records the objects of obj's kind in ns, as read reads them, until ctx ends; what names
// the watch in errors.
func watch[T watched[T]](ctx context.Context, cl *cluster, ns, what string, obj client.Object, read func(any, time.Time) (string, T, bool)) (*recorder[T], error) {
	r := &recorder[T]{read: read, history: map[string][]T{}, changed: make(chan struct{})}
	c, err := cache.New(cl.cfg, cache.Options{Scheme: cl.scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return nil, fmt.Errorf("%s watch: %w", what, err)
	}
	inf, err := c.GetInformer(ctx, obj)
	if err != nil {
		return nil, fmt.Errorf("%s watch: %w", what, err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.record(obj) },
		UpdateFunc: func(_, obj any) { r.record(obj) },
	}); err != nil {
		return nil, fmt.Errorf("%s watch: %w", what, err)
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			logf("%s watch stopped: %v", what, err)
		}
	}()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("%s watch did not sync: %w", what, ctx.Err())
	}
	return r, nil
}

func (r *recorder[T]) record(obj any) {
	name, o, ok := r.read(obj, time.Now())
	if ok {
		r.add(name, o)
	}
}

func (r *recorder[T]) add(name string, o T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.history[name]
	if len(h) > 0 && h[len(h)-1].same(o) {
		return
	}
	r.history[name] = append(h, o)
	r.last = o.arrived()
	close(r.changed)
	r.changed = make(chan struct{})
}

// next returns a channel that is closed at the next change.
func (r *recorder[T]) next() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// lastChange is when the last change arrived.
func (r *recorder[T]) lastChange() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// latest returns the last observation of each name (none for an object not seen yet).
func (r *recorder[T]) latest(names []string) map[string]T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]T, len(names))
	for _, n := range names {
		if h := r.history[n]; len(h) > 0 {
			out[n] = h[len(h)-1]
		}
	}
	return out
}

// snapshot copies the histories of names.
func (r *recorder[T]) snapshot(names []string) map[string][]T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]T, len(names))
	for _, n := range names {
		out[n] = append([]T(nil), r.history[n]...)
	}
	return out
}

// waitAll waits until the last observation of every name satisfies done, logging progress
// every ten seconds under what, and returns how many do when it stops.
func (r *recorder[T]) waitAll(ctx context.Context, names []string, timeout time.Duration, what string, done func(name string, o T) bool) (int, error) {
	return r.waitAtLeast(ctx, names, len(names), timeout, what, done)
}

// waitAtLeast is waitAll until at least k of names satisfy done.
func (r *recorder[T]) waitAtLeast(ctx context.Context, names []string, k int, timeout time.Duration, what string, done func(name string, o T) bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		ch := r.next()
		// Checking every name at each event would cost the bench CPU the controller needs at
		// large N; done times are read from the history afterwards, so a check every 200 ms
		// loses no precision.
		time.Sleep(200 * time.Millisecond)
		n := 0
		for name, o := range r.latest(names) {
			if done(name, o) {
				n++
			}
		}
		if n >= k {
			return n, nil
		}
		select {
		case <-ch:
		case <-tick.C:
			logf("  %d/%d %s", n, len(names), what)
		case <-ctx.Done():
			return n, fmt.Errorf("%d/%d %s: %w", n, len(names), what, ctx.Err())
		}
	}
}

// waitQuiet waits until no change has arrived for quiet, so that a window does not start in
// the tail of the controller's previous work.
func (r *recorder[T]) waitQuiet(ctx context.Context, quiet, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Since(r.lastChange()) < quiet {
		if time.Now().After(deadline) {
			return fmt.Errorf("objects still changing after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// firstAfter returns the first observation of h that arrived at or after t and satisfies ok.
func firstAfter[T watched[T]](h []T, t time.Time, ok func(T) bool) (T, bool) {
	for _, o := range h {
		if !o.arrived().Before(t) && ok(o) {
			return o, true
		}
	}
	var none T
	return none, false
}

func atRest(p siskinv1.CanaryPhase) bool {
	return p == siskinv1.PhaseInitialized || p == siskinv1.PhaseSucceeded
}
