package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

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

// recorder keeps, for each Canary, every change of the status fields the bench reads, as a
// watch (an informer on the namespace's Canaries) delivers them; it never polls the API server.
type recorder struct {
	mu      sync.Mutex
	history map[string][]observation
	changed chan struct{}
}

// startRecorder watches the Canaries of a namespace until ctx ends.
func startRecorder(ctx context.Context, cl *cluster, ns string) (*recorder, error) {
	r := &recorder{history: map[string][]observation{}, changed: make(chan struct{})}
	c, err := cache.New(cl.cfg, cache.Options{Scheme: cl.scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return nil, fmt.Errorf("canary watch: %w", err)
	}
	inf, err := c.GetInformer(ctx, &siskinv1.Canary{})
	if err != nil {
		return nil, fmt.Errorf("canary watch: %w", err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.record(obj) },
		UpdateFunc: func(_, obj any) { r.record(obj) },
	}); err != nil {
		return nil, fmt.Errorf("canary watch: %w", err)
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			logf("canary watch stopped: %v", err)
		}
	}()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("canary watch did not sync: %w", ctx.Err())
	}
	return r, nil
}

func (r *recorder) record(obj any) {
	now := time.Now()
	c, ok := obj.(*siskinv1.Canary)
	if !ok {
		return
	}
	o := observation{at: now, phase: c.Status.Phase, applied: c.Status.LastAppliedSpec, promoted: c.Status.LastPromotedSpec}
	if t := c.Status.LastStepTime; t != nil {
		o.lastStep = t.Time
	}
	if t := c.Status.RolloutStartTime; t != nil {
		o.rolloutStart = t.Time
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.history[c.Name]
	if len(h) > 0 && h[len(h)-1].same(o) {
		return
	}
	r.history[c.Name] = append(h, o)
	close(r.changed)
	r.changed = make(chan struct{})
}

// next returns a channel that is closed at the next change.
func (r *recorder) next() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// latest returns the last observation of each name (zero for a Canary not seen yet).
func (r *recorder) latest(names []string) map[string]observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]observation, len(names))
	for _, n := range names {
		if h := r.history[n]; len(h) > 0 {
			out[n] = h[len(h)-1]
		}
	}
	return out
}

// snapshot copies the histories of names.
func (r *recorder) snapshot(names []string) map[string][]observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]observation, len(names))
	for _, n := range names {
		out[n] = append([]observation(nil), r.history[n]...)
	}
	return out
}

// waitAll waits until the last observation of every name satisfies done, logging progress
// every ten seconds under what.
func (r *recorder) waitAll(ctx context.Context, names []string, timeout time.Duration, what string, done func(name string, o observation) bool) error {
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
		if n == len(names) {
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
			logf("  %d/%d %s", n, len(names), what)
		case <-ctx.Done():
			return fmt.Errorf("%d/%d %s: %w", n, len(names), what, ctx.Err())
		}
	}
}

// firstAfter returns the first observation of h at or after t that satisfies ok.
func firstAfter(h []observation, t time.Time, ok func(observation) bool) (observation, bool) {
	for _, o := range h {
		if !o.at.Before(t) && ok(o) {
			return o, true
		}
	}
	return observation{}, false
}

func atRest(p siskinv1.CanaryPhase) bool {
	return p == siskinv1.PhaseInitialized || p == siskinv1.PhaseSucceeded
}
