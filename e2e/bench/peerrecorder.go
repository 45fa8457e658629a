package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// peerRecorder keeps, for each object of one controller's kind, every change of what the bench
// reads of it (peerObs) with the time the watch delivered it; it never polls.
type peerRecorder struct {
	observe func(*unstructured.Unstructured) peerObs

	mu      sync.Mutex
	history map[string][]peerObs
	last    time.Time
	changed chan struct{}
}

// startPeerRecorder watches the driver's kind in ns until ctx ends.
func startPeerRecorder(ctx context.Context, cl *cluster, d *driver, ns string) (*peerRecorder, error) {
	r := &peerRecorder{observe: d.observe, history: map[string][]peerObs{}, changed: make(chan struct{})}
	c, err := cache.New(cl.cfg, cache.Options{Scheme: cl.scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return nil, fmt.Errorf("%s watch: %w", d.gvk.Kind, err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(d.gvk)
	inf, err := c.GetInformer(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("%s watch: %w", d.gvk.Kind, err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.record(obj) },
		UpdateFunc: func(_, obj any) { r.record(obj) },
	}); err != nil {
		return nil, fmt.Errorf("%s watch: %w", d.gvk.Kind, err)
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			logf("%s watch stopped: %v", d.gvk.Kind, err)
		}
	}()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("%s watch did not sync: %w", d.gvk.Kind, ctx.Err())
	}
	return r, nil
}

func (r *peerRecorder) record(obj any) {
	now := time.Now()
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	o := r.observe(u)
	o.at = now
	r.add(u.GetName(), o)
}

func (r *peerRecorder) add(name string, o peerObs) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.history[name]
	if len(h) > 0 && h[len(h)-1].same(o) {
		return
	}
	r.history[name] = append(h, o)
	r.last = o.at
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *peerRecorder) next() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// lastChange is when the last change arrived.
func (r *peerRecorder) lastChange() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *peerRecorder) latest(names []string) map[string]peerObs {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]peerObs, len(names))
	for _, n := range names {
		if h := r.history[n]; len(h) > 0 {
			out[n] = h[len(h)-1]
		}
	}
	return out
}

func (r *peerRecorder) snapshot(names []string) map[string][]peerObs {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]peerObs, len(names))
	for _, n := range names {
		out[n] = append([]peerObs(nil), r.history[n]...)
	}
	return out
}

// waitAll waits until the last observation of every name satisfies done, and returns how many
// do when it stops.
func (r *peerRecorder) waitAll(ctx context.Context, names []string, timeout time.Duration, what string, done func(name string, o peerObs) bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		ch := r.next()
		time.Sleep(200 * time.Millisecond)
		n := 0
		for name, o := range r.latest(names) {
			if done(name, o) {
				n++
			}
		}
		if n == len(names) {
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
func (r *peerRecorder) waitQuiet(ctx context.Context, quiet, timeout time.Duration) error {
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

// firstPeerAfter returns the first observation of h at or after t that satisfies ok.
func firstPeerAfter(h []peerObs, t time.Time, ok func(peerObs) bool) (peerObs, bool) {
	for _, o := range h {
		if !o.at.Before(t) && ok(o) {
			return o, true
		}
	}
	return peerObs{}, false
}

// weightLateness is, over every history, the lateness of each weight step by the watch's
// arrival times: the gap between two consecutive increases of the canary weight within one
// revision, less the interval. Only increases after t0 and up to end count.
func weightLateness(hist map[string][]peerObs, t0, end time.Time, interval time.Duration) []float64 {
	var out []float64
	for _, h := range hist {
		var prev peerObs
		havePrev := false
		weight, applied := int64(0), ""
		for _, o := range h {
			if o.applied != applied {
				weight, applied, havePrev = 0, o.applied, false
			}
			rising := o.state == stateActive && o.weight > weight
			weight = o.weight
			if !rising {
				if o.weight == 0 {
					havePrev = false
				}
				continue
			}
			if havePrev && !o.at.Before(t0) && !o.at.After(end) {
				out = append(out, (o.at.Sub(prev.at) - interval).Seconds())
			}
			prev, havePrev = o, true
		}
	}
	return out
}
