package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/localenv/envfile"
)

// runSize runs every measurement for a fleet of n canaries in a namespace of its own. It
// returns what it measured so far even when a later step fails.
func runSize(ctx context.Context, cfg *config, feats features, env *envfile.Env, cl *cluster, n int, runID string) (*Result, error) {
	ns := fmt.Sprintf("bench-%d-%s", n, runID)
	res := &Result{N: n, Namespace: ns}
	deadline := time.Now().Add(cfg.budget)
	// within is d, or what is left of the budget if that is less.
	within := func(d time.Duration) time.Duration { return max(0, min(d, time.Until(deadline))) }
	names := fleetNames(n)
	logf("N=%d: %d Deployments and Canaries in namespace %s", n, n, ns)

	if err := cl.createNamespace(ctx, ns); err != nil {
		return nil, err
	}
	t := time.Now()
	if err := cl.create(ctx, names, func(name string) client.Object { return deployment(ns, name, cfg.testapp) }); err != nil {
		return nil, err
	}
	if err := cl.waitDeploymentsAvailable(ctx, ns, n, within(cfg.timeout)); err != nil {
		return nil, err
	}
	res.Setup.DeploymentsAvailableSeconds = seconds(time.Since(t))
	logf("  %d Deployments available after %s", n, time.Since(t).Round(100*time.Millisecond))

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	rec, err := startRecorder(watchCtx, cl, ns)
	if err != nil {
		return nil, err
	}
	// Canaries are created before the controller starts, all of them or the first batch
	// (-canary-batch); the rest follow half a batch at a time, whenever no more than half a
	// batch of those created is still initializing, so that the API server always has
	// Services to allocate (it allocates them one at a time) and never more than a batch.
	batch := n
	if cfg.canaryBatch > 0 {
		batch = min(cfg.canaryBatch, n)
	}
	newCanary := func(name string) client.Object { return canaryFor(ns, name, cfg) }
	if err := cl.create(ctx, names[:batch], newCanary); err != nil {
		return nil, err
	}

	// Initialization: from the controller's start until every Canary is Initialized.
	ctrl, err := startController(ctx, cfg, feats, env, ns, fmt.Sprintf("n%d", n))
	if err != nil {
		return nil, err
	}
	defer ctrl.stop()
	// peak is the highest VmHWM seen of the controllers of this size.
	var peak int64
	defer func() {
		res.PeakRSSMB = max(res.PeakRSSMB, mb(peak))
		res.keepResident(ctrl.resident)
	}()
	s0, err := ctrl.sample(ctx)
	if err != nil {
		return nil, err
	}
	errs0, lag0 := ctrl.logCounts()
	t = time.Now()
	initialized := func(_ string, o observation) bool { return o.phase == siskinv1.PhaseInitialized }
	initialize := func() error {
		step := max(1, batch/2)
		for created := batch; created < n; {
			if _, err := rec.waitAtLeast(ctx, names[:created], created-step, within(cfg.timeout), "canaries created Initialized", initialized); err != nil {
				return err
			}
			next := min(created+step, n)
			if err := cl.create(ctx, names[created:next], newCanary); err != nil {
				return err
			}
			created = next
		}
		_, err := rec.waitAll(ctx, names, within(cfg.timeout), "canaries Initialized", initialized)
		return err
	}
	if err := initialize(); err != nil {
		// Keep what was measured: how far initialization got, and the memory it took.
		res.Setup.CanariesInitializedSeconds = seconds(time.Since(t))
		for name, o := range rec.latest(names) {
			if initialized(name, o) {
				res.Setup.Initialized++
			}
		}
		if s, serr := ctrl.sample(ctx); serr == nil {
			res.PeakRSSMB = mb(s.hwmKB)
			res.Setup.RequestsPerCanary = perCanary(diffMethods(s0, s), res.Setup.Initialized)
		}
		errs1, lag1 := ctrl.logCounts()
		res.Setup.ReconcileErrors, res.Setup.CacheWaitTimeouts = errs1-errs0, lag1-lag0
		res.Notes = append(res.Notes, fmt.Sprintf("initialization did not finish: %d/%d Canaries Initialized after %s", res.Setup.Initialized, n, time.Since(t).Round(time.Second)))
		return res, errors.Join(err, ctrl.exited())
	}
	res.Setup.Initialized = n
	res.Setup.CanariesInitializedSeconds = seconds(time.Since(t))
	logf("  %d Canaries Initialized after %s", n, time.Since(t).Round(100*time.Millisecond))
	if err := ctrl.waitIdle(ctx, time.Minute); err != nil {
		return res, err
	}
	s1, err := ctrl.sample(ctx)
	if err != nil {
		return res, err
	}
	res.Setup.RequestsPerCanary = perCanary(diffMethods(s0, s1), n)
	errs1, lag1 := ctrl.logCounts()
	res.Setup.ReconcileErrors, res.Setup.CacheWaitTimeouts = errs1-errs0, lag1-lag0

	// At rest.
	if time.Until(deadline) < cfg.rest+time.Minute {
		return res, fmt.Errorf("the budget of %s leaves no time for the at-rest window and a fleet-wide change", cfg.budget)
	}
	logf("  at rest for %s", cfg.rest)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(cfg.rest):
	}
	s2, err := ctrl.sample(ctx)
	if err != nil {
		return res, err
	}
	peak = max(peak, s2.hwmKB)
	res.Rest = restResult(s1, s2, n)
	if err := ctrl.exited(); err != nil {
		return res, err
	}

	// Reaction: M Deployments updated one by one, each timed to its Canary leaving rest. Their
	// rollouts are not waited for: the fleet-wide change replaces their revision at once.
	m := min(cfg.reactions, n)
	delays, err := measureReaction(ctx, cl, rec, ns, names[:m], "1")
	res.Reaction = Reaction{M: m, Milliseconds: summarise(delays)}
	if err != nil {
		return res, err
	}
	logf("  reaction p50 %.0f ms, p99 %.0f ms", res.Reaction.Milliseconds.P50, res.Reaction.Milliseconds.P99)

	// Fleet-wide change, as configured; it may take what is left of the budget.
	if cfg.unlimited {
		f, err := fleetChange(ctx, cfg, cl, rec, ctrl, ns, names, "2", "all", 0, within(cfg.timeout+3*cfg.idealRollout()))
		peak = max(peak, f.peakKB)
		res.Fleet = append(res.Fleet, f)
		if err != nil {
			return res, err
		}
		if f.Promoted < n {
			res.Notes = append(res.Notes, fmt.Sprintf("the fleet-wide change did not finish within the budget (%d/%d promoted); the run stops there", f.Promoted, n))
			return res, nil
		}
	} else {
		res.Notes = append(res.Notes, "the fleet-wide change without a concurrency limit was skipped (-unlimited=false)")
	}

	// The same with --max-concurrent-canaries, if the controller has it and the budget allows
	// twice its ideal schedule.
	k := cfg.maxConcurrent
	if k == 0 {
		k = (n + 1) / 2
	}
	waves := time.Duration((n + max(k, 1) - 1) / max(k, 1))
	switch {
	case !feats.maxConcurrent:
		res.Notes = append(res.Notes, "--max-concurrent-canaries is not in bin/siskin --help: that fleet-wide change was not run")
	case cfg.maxConcurrent < 0:
		res.Notes = append(res.Notes, "the fleet-wide change with --max-concurrent-canaries was skipped (-max-concurrent -1)")
	case time.Until(deadline) < 2*waves*cfg.idealRollout():
		res.Notes = append(res.Notes, "the fleet-wide change with --max-concurrent-canaries was skipped: too little of the budget left")
	default:
		ctrl.stop()
		ctrl2, err := startController(ctx, cfg, feats, env, ns, fmt.Sprintf("n%d-max%d", n, k), fmt.Sprintf("--max-concurrent-canaries=%d", k))
		if err != nil {
			return res, err
		}
		defer ctrl2.stop()
		defer res.keepResident(ctrl2.resident)
		if err := ctrl2.waitIdle(ctx, time.Minute); err != nil {
			return res, err
		}
		f, err := fleetChange(ctx, cfg, cl, rec, ctrl2, ns, names, "3", fmt.Sprintf("max%d", k), k, within(cfg.timeout+3*waves*cfg.idealRollout()))
		peak = max(peak, f.peakKB)
		res.Fleet = append(res.Fleet, f)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// waitIdle waits until the controller's work queues have been empty for two scrapes a second
// apart, so a measurement does not start in the tail of the previous one.
func (c *controller) waitIdle(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	quiet := 0
	for quiet < 2 {
		if time.Now().After(deadline) {
			return fmt.Errorf("controller queues not empty after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		depth, err := c.queueDepth(ctx)
		if err != nil {
			return err
		}
		if depth == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	return c.exited()
}

func (c *controller) queueDepth(ctx context.Context) (float64, error) {
	s, err := c.scrape(ctx)
	if err != nil {
		return 0, err
	}
	return s.sum("workqueue_depth"), nil
}

// promoted is done for a Canary that is Succeeded with revision fingerprint want[name]
// promoted.
func promoted(want map[string]string) func(string, observation) bool {
	return func(name string, o observation) bool {
		return o.phase == siskinv1.PhaseSucceeded && o.promoted == want[name]
	}
}

// measureReaction patches each Deployment in turn and waits for its Canary to leave rest; the
// delay runs from sending the patch to the watch delivering the new phase.
func measureReaction(ctx context.Context, cl *cluster, rec *recorder[observation], ns string, names []string, rev string) ([]float64, error) {
	return reaction(ctx, cl, rec, ns, names, rev, "did not leave rest", func(observation) func(observation) bool {
		return func(o observation) bool { return !atRest(o.phase) }
	})
}

// reaction patches each Deployment in turn and times, from sending the patch, the first
// observation of its object that reacted (made of the object's last observation before the
// patch) accepts; it fails, saying what did not happen, when none comes within 30 s.
func reaction[T watched[T]](ctx context.Context, cl *cluster, rec *recorder[T], ns string, names []string, rev, what string, reacted func(before T) func(T) bool) ([]float64, error) {
	var delays []float64
	for _, name := range names {
		ok := reacted(rec.latest([]string{name})[name])
		sent, _, err := cl.patchRevision(ctx, ns, name, rev)
		if err != nil {
			return delays, err
		}
		timeout := time.NewTimer(30 * time.Second)
		for {
			ch := rec.next()
			if o, found := firstAfter(rec.snapshot([]string{name})[name], sent, ok); found {
				delays = append(delays, round(float64(o.arrived().Sub(sent).Microseconds())/1000, 1))
				break
			}
			select {
			case <-ch:
				continue
			case <-timeout.C:
				return delays, fmt.Errorf("%s %s within 30s of its Deployment's update", name, what)
			case <-ctx.Done():
				return delays, ctx.Err()
			}
		}
		timeout.Stop()
		select {
		case <-ctx.Done():
			return delays, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return delays, nil
}

// fleetChange gives every Deployment a new revision at once and waits until every Canary has
// promoted it, scraping the controller every two seconds. k is the controller's
// --max-concurrent-canaries (0: none). A change that has not finished after limit is measured
// as far as it got, with Promoted < Canaries.
func fleetChange(ctx context.Context, cfg *config, cl *cluster, rec *recorder[observation], ctrl *controller, ns string, names []string, rev, label string, k int, limit time.Duration) (Fleet, error) {
	n := len(names)
	f := Fleet{Label: label, MaxConcurrentCanaries: k, Canaries: n}
	waves := 1
	if k > 0 {
		waves = (n + k - 1) / k
	}
	ideal := time.Duration(waves) * cfg.idealRollout()
	f.IdealSeconds = seconds(ideal)
	logf("  fleet-wide change %q: %d Deployments get revision %s (ideal %s)", label, n, rev, ideal)

	errs0, lag0 := ctrl.logCounts()
	s0, err := ctrl.sample(ctx)
	if err != nil {
		return f, err
	}
	samples := []sample{s0}
	var mu sync.Mutex
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				if s, err := ctrl.sample(ctx); err == nil {
					mu.Lock()
					samples = append(samples, s)
					mu.Unlock()
				}
			}
		}
	}()
	if ctrl.pprofURL != "" && cfg.profileDir != "" {
		go func() {
			if err := ctrl.profile(ctx, cfg.profileDir, fmt.Sprintf("n%d-%s", n, label), 20*time.Second); err != nil {
				logf("  profile: %v", err)
			}
		}()
	}

	// The target Deployments, for the wait of each first step on its canary's pods.
	targetsCtx, stopTargets := context.WithCancel(ctx)
	defer stopTargets()
	targets, err := startTargetRecorder(targetsCtx, cl, ns)
	if err != nil {
		close(stopSampling)
		<-sampled
		return f, err
	}

	sent := make(map[string]time.Time, n)
	want := make(map[string]string, n)
	t0 := time.Now()
	err = forEach(ctx, names, func(ctx context.Context, name string) error {
		at, fp, err := cl.patchRevision(ctx, ns, name, rev)
		mu.Lock()
		sent[name], want[name] = at, fp
		mu.Unlock()
		return err
	})
	f.PatchSpreadSeconds = seconds(time.Since(t0))
	done := promoted(want)
	if err == nil {
		_, err = rec.waitAll(ctx, names, limit-time.Since(t0), "canaries promoted", done)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && ctrl.exited() == nil {
			logf("  fleet-wide change %q stopped after %s: %v", label, limit.Round(time.Second), err)
			err = nil
		}
	}
	close(stopSampling)
	<-sampled
	if err != nil {
		return f, fmt.Errorf("fleet-wide change %s: %w", label, errors.Join(err, ctrl.exited()))
	}
	s1, err := ctrl.sample(ctx)
	if err != nil {
		return f, err
	}
	samples = append(samples, s1)
	errs1, lag1 := ctrl.logCounts()
	f.ReconcileErrors, f.CacheWaitTimeouts = errs1-errs0, lag1-lag0

	hist := rec.snapshot(names)
	var end time.Time
	var rollouts []float64
	for _, name := range names {
		o, ok := firstAfter(hist[name], sent[name], func(o observation) bool { return done(name, o) })
		if !ok {
			continue
		}
		f.Promoted++
		rollouts = append(rollouts, o.at.Sub(sent[name]).Seconds())
		if o.at.After(end) {
			end = o.at
		}
	}
	if f.Promoted < n {
		end = s1.at
	}
	f.DurationSeconds = seconds(end.Sub(t0))
	f.RatioToIdeal = round(end.Sub(t0).Seconds()/ideal.Seconds(), 2)
	f.RolloutSeconds = roundDist(summarise(rollouts), 2)
	f.Segments = segments(hist, sent, want, cfg.interval, cfg.stepsPerRollout())

	window := s1.at.Sub(s0.at)
	f.WindowSeconds = seconds(window)
	f.Requests = diffMethods(s0, s1)
	f.FailedRequests = s1.failed - s0.failed
	writes := s1.writes() - s0.writes()
	f.RequestsPerCanaryPerMinute = perCanaryPerMinute(s1.total()-s0.total(), n, window)
	f.WritesPerCanaryPerMinute = perCanaryPerMinute(writes, n, window)
	f.Steps = countSteps(hist, t0, end)
	f.WritesPerRollout = round(writes/float64(n), 2)
	if f.Steps > 0 {
		f.WritesPerStepAll = round(writes/float64(f.Steps), 2)
	}
	f.WritesPerStep, f.SteadyReconcilesPerStep, f.SteadyWindowSeconds = steadyPerStep(hist, samples, t0)
	byStatus, byWatch := lateness(hist, t0, end, cfg.interval)
	f.LatenessStatusSeconds = roundDist(summarise(byStatus), 3)
	f.LatenessWatchSeconds = roundDist(summarise(byWatch), 3)
	f.LatenessOverTime = latenessOverTime(hist, t0, end, cfg.interval, latenessWindow)
	withAdmissionLimit(f.LatenessOverTime, samples, t0, latenessWindow)
	firsts := firstStepWaits(hist, targets.snapshot(names), want, t0, cfg.interval)
	f.FirstSteps = summariseFirstSteps(slices.Collect(maps.Values(firsts)))
	f.LatenessLessCanaryWaitsSeconds = roundDist(summarise(latenessLessCanaryWaits(hist, firsts, t0, end, cfg.interval)), 3)
	withFirstSteps(f.LatenessOverTime, firsts, t0, latenessWindow)
	stopTargets()
	logWindows(f.LatenessOverTime, true)
	if fs := f.FirstSteps; fs != nil {
		logf("    %d first steps: waiting for the canary p50 / p99 %.2f / %.2f s, after it %.2f / %.2f s; step lateness without those waits p50 / p99 %.2f / %.2f s",
			fs.N, fs.CanaryNotReady.P50, fs.CanaryNotReady.P99, fs.AfterReady.P50, fs.AfterReady.P99,
			f.LatenessLessCanaryWaitsSeconds.P50, f.LatenessLessCanaryWaitsSeconds.P99)
	}
	f.CPUSecondsPerMinute = round((s1.cpu-s0.cpu)/window.Minutes(), 2)
	f.ReconcileP50Milliseconds = round(bucketQuantile(0.5, s0.reconcileBuckets, s1.reconcileBuckets)*1000, 1)
	f.ReconcileP99Milliseconds = round(bucketQuantile(0.99, s0.reconcileBuckets, s1.reconcileBuckets)*1000, 1)
	f.Reconciles = s1.reconciles - s0.reconciles
	if f.Steps > 0 {
		f.ReconcilesPerStep = round(f.Reconciles/float64(f.Steps), 2)
	}
	if f.Reconciles > 0 {
		f.MeanReconcileMilliseconds = round((s1.reconcileSeconds-s0.reconcileSeconds)/f.Reconciles*1000, 1)
	}
	if q := s1.queued - s0.queued; q > 0 {
		f.MeanQueueWaitMilliseconds = round((s1.queueSeconds-s0.queueSeconds)/q*1000, 1)
	}
	for _, s := range samples {
		f.peakKB = max(f.peakKB, s.hwmKB)
	}
	f.PeakRSSMB = mb(f.peakKB)
	logf("  fleet-wide change %q done in %.1fs (ideal %.0fs, %.2fx)", label, f.DurationSeconds, f.IdealSeconds, f.RatioToIdeal)
	return f, nil
}

// steadyPerStep counts API writes and reconciles per analysis step in the part of a fleet-wide
// change where the only thing happening is analysis steps: after the last rollout started and
// before the first promotion. It returns zeros when there is no such window of at least five
// seconds (for example with --max-concurrent-canaries, whose waves overlap).
func steadyPerStep(hist map[string][]observation, samples []sample, t0 time.Time) (writes, reconciles, window float64) {
	var lastStart, firstPromote time.Time
	for _, h := range hist {
		for _, o := range h {
			if o.at.Before(t0) {
				continue
			}
			if o.isStart() && analysisPhase(o.phase) && o.at.After(lastStart) {
				lastStart = o.at
			}
			if o.phase == siskinv1.PhasePromoting && (firstPromote.IsZero() || o.at.Before(firstPromote)) {
				firstPromote = o.at
			}
		}
	}
	if lastStart.IsZero() || firstPromote.IsZero() {
		return 0, 0, 0
	}
	from, to := lastStart.Add(time.Second), firstPromote.Add(-500*time.Millisecond)
	var a, b *sample
	for i := range samples {
		s := &samples[i]
		if a == nil && !s.at.Before(from) {
			a = s
		}
		if !s.at.After(to) {
			b = s
		}
	}
	if a == nil || b == nil || b.at.Sub(a.at) < 5*time.Second {
		return 0, 0, 0
	}
	steps := float64(countSteps(hist, a.at, b.at))
	if steps == 0 {
		return 0, 0, 0
	}
	return round((b.writes()-a.writes())/steps, 2), round((b.reconciles-a.reconciles)/steps, 2), seconds(b.at.Sub(a.at))
}

func restResult(s1, s2 sample, n int) Rest {
	window := s2.at.Sub(s1.at)
	return Rest{
		WindowSeconds:              seconds(window),
		Requests:                   diffMethods(s1, s2),
		RequestsPerCanaryPerMinute: perCanaryPerMinute(s2.total()-s1.total(), n, window),
		Reconciles:                 s2.reconciles - s1.reconciles,
		CPUSecondsPerMinute:        round((s2.cpu-s1.cpu)/window.Minutes(), 3),
		RSSMB:                      mb(s2.rssKB),
		HeapInuseMB:                round(s2.heapBytes/(1<<20), 1),
	}
}

// diffMethods is the number of requests by method between two samples.
func diffMethods(a, b sample) map[string]float64 {
	out := map[string]float64{}
	for m, v := range b.requests {
		if d := v - a.requests[m]; d != 0 {
			out[m] = d
		}
	}
	return out
}

func perCanary(counts map[string]float64, n int) map[string]float64 {
	if n == 0 {
		return nil
	}
	out := maps.Clone(counts)
	for m := range out {
		out[m] = round(out[m]/float64(n), 2)
	}
	return out
}

func roundDist(d dist, digits int) dist {
	return dist{N: d.N, P50: round(d.P50, digits), P99: round(d.P99, digits), Max: round(d.Max, digits)}
}

// keepResident keeps the highest resident memory by kind of the controllers of this size.
func (r *Result) keepResident(p *residentPeaks) {
	anon, file := p.peaks()
	r.PeakAnonMB, r.PeakFileMB = max(r.PeakAnonMB, anon), max(r.PeakFileMB, file)
}

func mb(kb int64) float64 { return round(float64(kb)/1024, 1) }
