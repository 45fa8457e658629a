package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The floor (-floor) is what the control plane alone takes for the workload side of a
// fleet-wide change, with no controller running: the same Deployments, the same pod template,
// the same change, and for each Deployment exactly the Deployment writes a canary rollout
// needs, each made as soon as the schedule allows: the user's new revision, the canary scaled
// up, the primary given the revision once the canary is ready and the steps' ideal time has
// passed, the canary scaled down once the primary has rolled out. No route, status or event is
// written, so what it measures is kube-controller-manager, the scheduler, kwok and the API
// server: a floor under any controller's fleet-wide change on this machine.
//
// With -floor-writes it also makes, at the moments a controller on schedule would, the writes
// Siskin makes for such a rollout besides the three Deployment writes (TestAPIWritesPerRollout):
// eight status writes to an inert Canary (the start, four weights, Promoting, Finalising,
// Succeeded), five to a VirtualService (four weights and the route back) and seven events.
// Against the floor without them it shows what that many writes cost this control plane, with
// no controller's logic, queue or admission in the way.

// FloorResult is one fleet size of the floor.
type FloorResult struct {
	N         int    `json:"n"`
	Namespace string `json:"namespace"`
	// SetupSeconds is until the N targets and N primaries were available.
	SetupSeconds float64 `json:"setupSeconds"`
	// RollingUpdateSeconds is Kubernetes' own rolling update of the N primaries to a new
	// revision, all patched at once: what the change costs with no canary at all.
	RollingUpdateSeconds float64 `json:"rollingUpdateSeconds"`
	// The canary-shaped change: from the first revision patched until the last canary was
	// scaled down, against the controllers' ideal (steps × interval).
	IdealSeconds float64 `json:"idealSeconds"`
	FleetSeconds float64 `json:"fleetSeconds"`
	FleetRatio   float64 `json:"fleetRatio"`
	Done         int     `json:"done"`
	// Per rollout: start (its revision patched) until its canary was ready, the primary's
	// rollout from its patch, the canary's scale-down from its write, and the whole rollout.
	CanaryReady    dist `json:"canaryReadySeconds"`
	PrimaryRollout dist `json:"primaryRolloutSeconds"`
	ScaleDown      dist `json:"scaleDownSeconds"`
	Rollout        dist `json:"rolloutSeconds"`
	// StepLateness is how long after it was due each weight step and promoting step had made
	// its writes; the first step waits for the canary's pods.
	StepLateness dist `json:"stepLatenessSeconds"`
	// Writes says whether the status, route and event writes were made (-floor-writes);
	// WritesPerRollout counts each rollout's writes besides the user's new revision.
	Writes           bool     `json:"writes"`
	WritesPerRollout int      `json:"writesPerRollout"`
	LoadAverage      string   `json:"loadAverage"`
	LoadAverageEnd   string   `json:"loadAverageEnd"`
	Notes            []string `json:"notes,omitempty"`
}

// depState is what the floor reads of a Deployment.
type depState struct {
	seen                        bool
	generation, observed        int64
	replicas                    int32 // spec
	current, updated, available int32 // status
	revision                    string
}

func depStateOf(d *appsv1.Deployment) depState {
	return depState{
		seen: true, generation: d.Generation, observed: d.Status.ObservedGeneration,
		replicas: ptr.Deref(d.Spec.Replicas, 1), current: d.Status.Replicas,
		updated: d.Status.UpdatedReplicas, available: d.Status.AvailableReplicas,
		revision: d.Spec.Template.Annotations[revisionAnnotation],
	}
}

// rolledOut reports whether the Deployment runs revision rev on n available pods and no other.
func (s depState) rolledOut(rev string, n int32) bool {
	return s.seen && s.observed >= s.generation && s.revision == rev && s.replicas == n &&
		s.current == n && s.updated == n && s.available == n
}

// depWatch keeps the last state of each Deployment of a namespace and wakes whoever waits on
// one when it changes.
type depWatch struct {
	mu    sync.Mutex
	state map[string]depState
	wake  map[string]chan struct{}
}

func startDepWatch(ctx context.Context, cl *cluster, ns string, names []string) (*depWatch, error) {
	w := &depWatch{state: map[string]depState{}, wake: map[string]chan struct{}{}}
	for _, n := range names {
		w.wake[n] = make(chan struct{}, 1)
	}
	c, err := cache.New(cl.cfg, cache.Options{Scheme: cl.scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return nil, fmt.Errorf("deployment watch: %w", err)
	}
	inf, err := c.GetInformer(ctx, &appsv1.Deployment{})
	if err != nil {
		return nil, fmt.Errorf("deployment watch: %w", err)
	}
	record := func(obj any) {
		if d, ok := obj.(*appsv1.Deployment); ok {
			w.set(d.Name, depStateOf(d))
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
	}); err != nil {
		return nil, fmt.Errorf("deployment watch: %w", err)
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			logf("deployment watch stopped: %v", err)
		}
	}()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("deployment watch did not sync: %w", ctx.Err())
	}
	return w, nil
}

func (w *depWatch) set(name string, s depState) {
	w.mu.Lock()
	w.state[name] = s
	ch := w.wake[name]
	w.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (w *depWatch) get(name string) depState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state[name]
}

// waitFor waits until the Deployment's state satisfies ok and returns when it saw it.
func (w *depWatch) waitFor(ctx context.Context, name string, ok func(depState) bool) (time.Time, error) {
	w.mu.Lock()
	ch := w.wake[name]
	w.mu.Unlock()
	for {
		if s := w.get(name); ok(s) {
			return time.Now(), nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("deployment %s: %w", name, ctx.Err())
		}
	}
}

// floorRollout is one Deployment's rollout in the floor.
type floorRollout struct {
	start, canaryReady, promoted, primaryDone, scaledDown, done time.Time
	// late is, for each weight step and the promoting step, how long after it was due its
	// writes were done.
	late []float64
}

// withLimits is a cluster whose client has its own rate limits.
func (cl *cluster) withLimits(qps, burst int) (*cluster, error) {
	cfg := rest.CopyConfig(cl.cfg)
	cfg.QPS, cfg.Burst = float32(qps), burst
	c, err := client.New(cfg, client.Options{Scheme: cl.scheme})
	if err != nil {
		return nil, err
	}
	return &cluster{cfg: cfg, scheme: cl.scheme, c: c}, nil
}

func (cl *cluster) scale(ctx context.Context, ns, name string, n int32) error {
	body := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
	obj := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := cl.c.Patch(ctx, obj, client.RawPatch(types.StrategicMergePatchType, body)); err != nil {
		return fmt.Errorf("scale deployment %s to %d: %w", name, n, err)
	}
	return nil
}

// runFloor measures the floor for a fleet of n.
func runFloor(ctx context.Context, cfg *config, cl *cluster, n int, runID string) (*FloorResult, error) {
	ns := fmt.Sprintf("bench-floor-%d-%s", n, runID)
	res := &FloorResult{N: n, Namespace: ns, IdealSeconds: cfg.idealRollout().Seconds(), Writes: cfg.floorWrites, WritesPerRollout: 3, LoadAverage: loadAverage()}
	if cfg.floorWrites {
		res.WritesPerRollout += floorStatusWrites + floorRouteWrites + floorEvents
	}
	deadline := time.Now().Add(cfg.budget)
	within := func(d time.Duration) time.Duration { return max(0, min(d, time.Until(deadline))) }
	names := fleetNames(n)
	primaries := make([]string, n)
	for i, name := range names {
		primaries[i] = name + "-primary"
	}
	all := append(append([]string(nil), names...), primaries...)
	logf("floor N=%d: %d targets and %d primaries in namespace %s, no controller", n, n, n, ns)
	if err := cl.createNamespace(ctx, ns); err != nil {
		return nil, err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w, err := startDepWatch(watchCtx, cl, ns, all)
	if err != nil {
		return res, err
	}

	// Setup: the targets as a user made them and the primaries as initialization leaves them,
	// then the targets scaled to zero.
	t := time.Now()
	if err := cl.create(ctx, all, func(name string) client.Object { return deployment(ns, name, cfg.testapp) }); err != nil {
		return res, err
	}
	if cfg.floorWrites {
		if err := cl.create(ctx, names, func(name string) client.Object { return canaryFor(ns, name, cfg) }); err != nil {
			return res, err
		}
		if err := cl.create(ctx, names, func(name string) client.Object { return floorVirtualService(ns, name) }); err != nil {
			return res, err
		}
	}
	if err := cl.waitDeploymentsAvailable(ctx, ns, 2*n, within(cfg.timeout)); err != nil {
		return res, err
	}
	if err := forEach(ctx, names, func(ctx context.Context, name string) error { return cl.scale(ctx, ns, name, 0) }); err != nil {
		return res, err
	}
	if err := waitEach(ctx, w, names, within(cfg.timeout), "targets scaled to zero", func(s depState) bool { return s.rolledOut("0", 0) }); err != nil {
		return res, err
	}
	res.SetupSeconds = seconds(time.Since(t))
	logf("  setup done after %s", time.Since(t).Round(100*time.Millisecond))

	// Kubernetes' own rolling update of the primaries, no canary.
	t = time.Now()
	if err := forEach(ctx, primaries, func(ctx context.Context, name string) error {
		_, _, err := cl.patchRevision(ctx, ns, name, "rolling")
		return err
	}); err != nil {
		return res, err
	}
	if err := waitEach(ctx, w, primaries, within(cfg.timeout), "primaries rolled out", func(s depState) bool { return s.rolledOut("rolling", 1) }); err != nil {
		return res, err
	}
	res.RollingUpdateSeconds = seconds(time.Since(t))
	logf("  Kubernetes' rolling update of %d Deployments: %s", n, time.Since(t).Round(100*time.Millisecond))

	// The canary-shaped change, each Deployment on its own as soon as it may. The controller's
	// writes go through a client of their own with the controller's limits (-qps, -burst), as
	// they would from a controller; the user's patches through the bench's.
	ctl, err := cl.withLimits(cfg.qps, cfg.burst)
	if err != nil {
		return res, err
	}
	ideal := cfg.idealRollout()
	rollouts := make([]floorRollout, n)
	index := make(map[string]int, n)
	for i, name := range names {
		index[name] = i
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	changeCtx, cancel := context.WithTimeout(ctx, within(cfg.timeout))
	defer cancel()
	// The user's patches go out through forEach's workers, as the bench's fleet change does;
	// each rollout goes on in its own goroutine from there.
	t0 := time.Now()
	perr := forEach(changeCtx, names, func(ctx context.Context, name string) error {
		i := index[name]
		sent, _, err := cl.patchRevision(ctx, ns, name, "floor")
		if err != nil {
			return err
		}
		rollouts[i].start = sent
		wg.Go(func() {
			f := &floorRun{cl: ctl, w: w, ns: ns, name: name, interval: cfg.interval, steps: cfg.stepsPerRollout(), writes: cfg.floorWrites}
			if err := f.run(changeCtx, &rollouts[i]); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
		return nil
	})
	logf("  %d revisions patched in %s (ideal %s per rollout)", n, time.Since(t0).Round(100*time.Millisecond), ideal)
	wg.Wait()
	res.LoadAverageEnd = loadAverage()
	var ready, primary, down, total, late []float64
	var last time.Time
	for _, r := range rollouts {
		if r.done.IsZero() {
			continue
		}
		res.Done++
		if r.done.After(last) {
			last = r.done
		}
		ready = append(ready, r.canaryReady.Sub(r.start).Seconds())
		primary = append(primary, r.primaryDone.Sub(r.promoted).Seconds())
		down = append(down, r.done.Sub(r.scaledDown).Seconds())
		total = append(total, r.done.Sub(r.start).Seconds())
		late = append(late, r.late...)
	}
	res.CanaryReady, res.PrimaryRollout = roundDist(summarise(ready), 2), roundDist(summarise(primary), 2)
	res.ScaleDown, res.Rollout = roundDist(summarise(down), 2), roundDist(summarise(total), 2)
	res.StepLateness = roundDist(summarise(late), 2)
	if res.Done > 0 {
		res.FleetSeconds = seconds(last.Sub(t0))
		res.FleetRatio = round(res.FleetSeconds/res.IdealSeconds, 2)
	}
	if res.Done < n {
		res.Notes = append(res.Notes, fmt.Sprintf("%d/%d rollouts done within %s", res.Done, n, cfg.timeout))
	}
	if perr != nil {
		errs = append(errs, perr)
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("%d rollouts failed, the first: %w", len(errs), errs[0])
	}
	logf("  floor: %d/%d done in %.1f s (%.2f× the %.0f s ideal)", res.Done, n, res.FleetSeconds, res.FleetRatio, res.IdealSeconds)
	return res, nil
}

// floorRun is one Deployment's rollout in the floor.
type floorRun struct {
	cl       *cluster
	w        *depWatch
	ns, name string
	interval time.Duration
	// steps is the number of steps up to and including the one that promotes.
	steps  int
	writes bool
	events int
}

// Writes per rollout with -floor-writes, besides the Deployments'.
const (
	floorStatusWrites = 8
	floorRouteWrites  = 5
	floorEvents       = 7
)

// run takes the rollout from its patched revision: canary up; each weight step once it is due
// and the canary is ready; the primary promoted at the promoting step; the route back once
// the primary has rolled out; canary down. Without -floor-writes only the Deployments are
// written, at the same moments.
func (f *floorRun) run(ctx context.Context, r *floorRollout) error {
	if err := f.record(ctx, "Progressing", 0, "New revision detected, starting the analysis"); err != nil {
		return err
	}
	if err := f.cl.scale(ctx, f.ns, f.name, 1); err != nil {
		return err
	}
	var err error
	if r.canaryReady, err = f.w.waitFor(ctx, f.name, func(s depState) bool { return s.rolledOut("floor", 1) }); err != nil {
		return err
	}
	// Each step is due an interval after the one before, as Siskin schedules them: a late step
	// moves the later ones (it stamps the time it ran, or the time it was due when less than a
	// second late), so each weight has an interval of traffic.
	weights := f.steps - 1
	due := r.start.Add(f.interval)
	step := func() {
		late := time.Since(due)
		r.late = append(r.late, late.Seconds())
		if late >= time.Second {
			due = time.Now()
		}
		due = due.Add(f.interval)
	}
	for k := 1; k <= weights; k++ {
		if err := sleepUntil(ctx, due); err != nil {
			return err
		}
		w := int64(100 * k / weights)
		if err := f.record(ctx, "Progressing", w, fmt.Sprintf("Advance canary weight %d", w)); err != nil {
			return err
		}
		if err := f.route(ctx, w); err != nil {
			return err
		}
		step()
	}
	if err := sleepUntil(ctx, due); err != nil {
		return err
	}
	r.promoted = time.Now()
	if err := f.record(ctx, "Promoting", 100, "Copying the canary to the primary"); err != nil {
		return err
	}
	if _, _, err := f.cl.patchRevision(ctx, f.ns, f.name+"-primary", "floor"); err != nil {
		return err
	}
	step()
	if r.primaryDone, err = f.w.waitFor(ctx, f.name+"-primary", func(s depState) bool { return s.rolledOut("floor", 1) }); err != nil {
		return err
	}
	if f.writes {
		if err := f.status(ctx, "Finalising", 100); err != nil {
			return err
		}
		if err := f.route(ctx, 0); err != nil {
			return err
		}
	}
	r.scaledDown = time.Now()
	if err := f.cl.scale(ctx, f.ns, f.name, 0); err != nil {
		return err
	}
	if err := f.record(ctx, "Succeeded", 0, "Promotion completed"); err != nil {
		return err
	}
	r.done, err = f.w.waitFor(ctx, f.name, func(s depState) bool { return s.rolledOut("floor", 0) })
	return err
}

// record writes the Canary's status and an event, with -floor-writes.
func (f *floorRun) record(ctx context.Context, phase string, weight int64, message string) error {
	if !f.writes {
		return nil
	}
	if err := f.status(ctx, phase, weight); err != nil {
		return err
	}
	f.events++
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: f.ns, Name: fmt.Sprintf("%s.floor-%d", f.name, f.events)},
		InvolvedObject: corev1.ObjectReference{APIVersion: "siskin.dev/v1beta1", Kind: "Canary", Namespace: f.ns, Name: f.name},
		Reason:         phase, Message: message, Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "siskin-bench-floor"},
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
	}
	if err := f.cl.c.Create(ctx, ev); err != nil {
		return fmt.Errorf("event for %s: %w", f.name, err)
	}
	return nil
}

func (f *floorRun) status(ctx context.Context, phase string, weight int64) error {
	now := time.Now().UTC().Format(time.RFC3339)
	body := fmt.Appendf(nil, `{"status":{"phase":%q,"canaryWeight":%d,"lastStepTime":%q,"lastTransitionTime":%q}}`, phase, weight, now, now)
	obj := &siskinv1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: f.name}}
	if err := f.cl.c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("status of %s: %w", f.name, err)
	}
	return nil
}

// route gives the canary weight w of the VirtualService's traffic, with -floor-writes.
func (f *floorRun) route(ctx context.Context, w int64) error {
	if !f.writes {
		return nil
	}
	body, err := json.Marshal(map[string]any{"spec": map[string]any{"http": floorHTTP(f.ns, f.name, w)}})
	if err != nil {
		return err
	}
	vs := floorVirtualService(f.ns, f.name)
	if err := f.cl.c.Patch(ctx, vs, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("virtualservice %s: %w", f.name, err)
	}
	return nil
}

// floorVirtualService is the route of name with all traffic on the primary, as Siskin makes it.
func floorVirtualService(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"hosts": []any{name}, "http": floorHTTP(ns, name, 0)},
	}}
}

func floorHTTP(ns, name string, canary int64) []any {
	host := func(svc string) string { return svc + "." + ns + ".svc.cluster.local" }
	return []any{map[string]any{
		"name": "default",
		"route": []any{
			map[string]any{"destination": map[string]any{"host": host(name + "-primary")}, "weight": 100 - canary},
			map[string]any{"destination": map[string]any{"host": host(name + "-canary")}, "weight": canary},
		},
	}}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-time.After(time.Until(t)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitEach waits until every name's Deployment satisfies the condition, logging progress
// every ten seconds.
func waitEach(ctx context.Context, w *depWatch, names []string, timeout time.Duration, what string, cond func(depState) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var done sync.WaitGroup
	var mu sync.Mutex
	count := 0
	for _, name := range names {
		done.Go(func() {
			if _, err := w.waitFor(ctx, name, cond); err == nil {
				mu.Lock()
				count++
				mu.Unlock()
			}
		})
	}
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				mu.Lock()
				logf("  %d/%d %s", count, len(names), what)
				mu.Unlock()
			}
		}
	}()
	done.Wait()
	close(stop)
	if count < len(names) {
		return fmt.Errorf("%d/%d %s: %w", count, len(names), what, context.DeadlineExceeded)
	}
	return nil
}

// printFloor prints the floor of each fleet size.
func printFloor(out io.Writer, rs []FloorResult) {
	for _, r := range rs {
		_, _ = fmt.Fprintf(out, "\nfloor, N = %d (no controller; load average %s at the start, %s at the end)\n", r.N, r.LoadAverage, r.LoadAverageEnd)
		_, _ = fmt.Fprintf(out, "  setup, %d Deployments available and the targets scaled to zero: %.1f s\n", 2*r.N, r.SetupSeconds)
		_, _ = fmt.Fprintf(out, "  Kubernetes' rolling update of %d Deployments, no canary: %.1f s\n", r.N, r.RollingUpdateSeconds)
		what := "the Deployments' writes only"
		if r.Writes {
			what = "with the status, route and event writes"
		}
		_, _ = fmt.Fprintf(out, "  canary-shaped change, %s: %d/%d done in %.1f s, %.2f× the %.0f s ideal (%d writes per rollout besides the new revision)\n",
			what, r.Done, r.N, r.FleetSeconds, r.FleetRatio, r.IdealSeconds, r.WritesPerRollout)
		_, _ = fmt.Fprintf(out, "  per rollout p50 / p99 (s): canary ready %.2f / %.2f, primary rollout %.2f / %.2f, scale-down %.2f / %.2f, whole %.2f / %.2f\n",
			r.CanaryReady.P50, r.CanaryReady.P99, r.PrimaryRollout.P50, r.PrimaryRollout.P99,
			r.ScaleDown.P50, r.ScaleDown.P99, r.Rollout.P50, r.Rollout.P99)
		_, _ = fmt.Fprintf(out, "  step lateness p50 / p99 / max (s): %.2f / %.2f / %.2f\n", r.StepLateness.P50, r.StepLateness.P99, r.StepLateness.Max)
		for _, n := range r.Notes {
			_, _ = fmt.Fprintf(out, "  note: %s\n", n)
		}
	}
}

// runFloors runs the floor for every size of cfg, then removes each fleet unless -keep.
func runFloors(ctx context.Context, cfg config, cl *cluster) error {
	runID := fmt.Sprintf("%d", time.Now().Unix()%100000)
	var results []FloorResult
	var err error
	for _, n := range cfg.sizes {
		var res *FloorResult
		res, err = runFloor(ctx, &cfg, cl, n, runID)
		if res != nil {
			results = append(results, *res)
			printFloor(os.Stdout, results[len(results)-1:])
			if cfg.out != "" {
				b, jerr := json.MarshalIndent(results, "", "  ")
				if jerr == nil {
					jerr = os.WriteFile(cfg.out, append(b, '\n'), 0o644)
				}
				if jerr != nil {
					return jerr
				}
			}
			if !cfg.keep {
				if derr := cl.deleteNamespace(ctx, res.Namespace, 10*time.Minute); derr != nil {
					logf("removing the floor's fleet: %v", derr)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("floor of %d: %w", n, err)
		}
	}
	return nil
}
