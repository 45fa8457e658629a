package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/target"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// gatherHold is how long a round waits on its worker for the gates and checks of a step. Most
// answer within it, and the round goes on as if they were synchronous; slower ones finish off
// the worker, and their end brings the Canary back. So one Canary's hanging webhook or slow
// query never holds one of the workers every other Canary needs.
const gatherHold = 2 * time.Second

// gatherLimit bounds a step's gathering as a whole: webhook timeouts are at most
// webhooks.MaxTimeout each, and queries have their own timeouts.
const gatherLimit = webhooks.MaxTimeout + time.Minute

// gatherPoll is the safety-net requeue of a round whose gathering goes on off the worker.
const gatherPoll = 10 * time.Second

// gathered is what one round's gates, checks and look answered.
type gathered struct {
	gates  map[siskinv1.WebhookType]canary.Gate
	checks []siskinv1.CheckResult
	// comparisons are the look's counts, when Needs.Compare asked for them.
	comparisons []canary.ComparisonSample
}

// gathering is one step's calls, running off the workers.
type gathering struct {
	key    string
	done   chan struct{}
	cancel context.CancelFunc
	result gathered
}

// gatherings holds the gatherings in flight, one per Canary at most. Nothing in it must
// survive a restart: a gathering lost with the process is started again by the next round,
// from the same status (a webhook of that step may then be called once more, as a retry).
type gatherings struct {
	mu      sync.Mutex
	running map[types.NamespacedName]*gathering
}

// start returns the gathering of key for c, starting run off the worker if none runs. A
// gathering of another key (an older step, another revision) is cancelled and replaced.
func (g *gatherings) start(ctx context.Context, c types.NamespacedName, key string, run func(ctx context.Context) gathered, done func()) *gathering {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur, ok := g.running[c]; ok {
		if cur.key == key {
			return cur
		}
		cur.cancel()
	}
	if g.running == nil {
		g.running = map[types.NamespacedName]*gathering{}
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), gatherLimit)
	cur := &gathering{key: key, done: make(chan struct{}), cancel: cancel}
	g.running[c] = cur
	go func() {
		defer cancel()
		defer close(cur.done)
		defer func() {
			if v := recover(); v != nil {
				// A panic here would end the controller, every tenant's rollouts with it.
				ctrl.LoggerFrom(ctx).Error(fmt.Errorf("%v", v), "analysis step gathering panicked")
				cur.result = gathered{checks: []siskinv1.CheckResult{{Name: "gathering", Kind: "webhook", Verdict: siskinv1.VerdictError,
					Message: fmt.Sprintf("the step's checks could not be made: %v", v)}}}
			}
		}()
		cur.result = run(gctx)
		if done != nil {
			done()
		}
	}()
	return cur
}

// take removes a finished gathering of key for c and returns its result.
func (g *gatherings) take(c types.NamespacedName, cur *gathering) gathered {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[c] == cur {
		delete(g.running, c)
	}
	return cur.result
}

// forget cancels and drops what runs for a Canary that is gone.
func (g *gatherings) forget(c types.NamespacedName) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur, ok := g.running[c]; ok {
		cur.cancel()
		delete(g.running, c)
	}
}

// gatherKey names one round's gathering: the same Canary, revision, step and needs (a look is
// told apart by its start, Needs.CompareSince).
func gatherKey(c *siskinv1.Canary, obs *canary.Observation, needs canary.Needs) string {
	var last string
	if c.Status.LastStepTime != nil {
		last = c.Status.LastStepTime.UTC().Format(time.RFC3339)
	}
	// The same instant read again (from the cache, in another location, with a monotonic
	// reading or without) is the same look.
	needs.CompareSince = needs.CompareSince.UTC()
	return fmt.Sprintf("%s|%s|%s|%s|%v", c.UID, obs.Target.Fingerprint, c.Status.Phase, last, needs)
}

// gather calls the gates, runs the analysis step and reads the comparison's look that the
// planner needs this round. They run concurrently, each bounded by its own timeout, off the
// worker. It returns 0 when obs holds what was needed, or how soon to look again when they
// still run.
func (r *CanaryReconciler) gather(ctx context.Context, c *siskinv1.Canary, obs *canary.Observation, needs canary.Needs) time.Duration {
	if len(needs.Gates) == 0 && !needs.Step && !needs.Compare {
		return 0
	}
	key := client.ObjectKeyFromObject(c)
	run := r.gatherer(c, *obs, needs)
	wake := func() {
		select {
		case r.wake <- event.GenericEvent{Object: c.DeepCopy()}:
		default: // the safety-net requeue brings it back
		}
	}
	cur := r.gathers.start(ctx, key, gatherKey(c, obs, needs), run, wake)
	timer := time.NewTimer(gatherHold)
	defer timer.Stop()
	select {
	case <-cur.done:
	case <-timer.C:
		return gatherPoll
	case <-ctx.Done():
		return gatherPoll
	}
	res := r.gathers.take(key, cur)
	obs.Gates = res.gates
	if needs.Step {
		obs.Checks = res.checks
		if obs.Checks == nil {
			obs.Checks = []siskinv1.CheckResult{}
		}
	}
	if needs.Compare {
		obs.Comparisons = res.comparisons
		if len(obs.Comparisons) != len(comparedMetrics(c)) {
			// The gathering panicked, or the spec changed under it: no counts of this look.
			obs.Comparisons = lookFailed(c, "the look's counts could not be read")
		}
	}
	return 0
}

// gatherer returns the calls of one round: the gates, then (for a step) the webhooks and
// metric queries, and (for a look) the comparison's queries, all concurrently.
func (r *CanaryReconciler) gatherer(c *siskinv1.Canary, obs canary.Observation, needs canary.Needs) func(ctx context.Context) gathered {
	c = c.DeepCopy()
	return func(ctx context.Context) gathered {
		var out gathered
		var wg sync.WaitGroup
		if needs.Compare {
			wg.Go(func() { out.comparisons = r.compare(ctx, c, obs, needs) })
		}
		var hooks []siskinv1.CanaryWebhook
		if c.Spec.Analysis != nil {
			hooks = c.Spec.Analysis.Webhooks
		}
		payload := webhooks.NewPayload(c, obs.Target.Fingerprint)
		if len(needs.Gates) > 0 {
			out.gates = make(map[siskinv1.WebhookType]canary.Gate, len(needs.Gates))
			for _, typ := range needs.Gates {
				out.gates[typ] = r.Webhooks.Gate(ctx, hooks, typ, payload)
			}
		}
		if needs.Step {
			out.checks = r.step(ctx, c, obs, needs, hooks, payload)
		}
		wg.Wait()
		return out
	}
}

// step runs the webhooks and metric checks of an analysis step concurrently.
func (r *CanaryReconciler) step(ctx context.Context, c *siskinv1.Canary, obs canary.Observation, needs canary.Needs,
	hooks []siskinv1.CanaryWebhook, payload webhooks.Payload) []siskinv1.CheckResult {
	types := []siskinv1.WebhookType{siskinv1.RolloutHook}
	if needs.PreRollout {
		types = []siskinv1.WebhookType{siskinv1.PreRolloutHook, siskinv1.RolloutHook}
	}
	var metricChecks []siskinv1.CheckResult
	var wg sync.WaitGroup
	wg.Go(func() {
		defer func() {
			if v := recover(); v != nil {
				metricChecks = []siskinv1.CheckResult{{Name: "metrics", Kind: "metric", Verdict: siskinv1.VerdictError,
					Message: fmt.Sprintf("the metric checks could not be made: %v", v)}}
			}
		}()
		step := metrics.Step{Canary: c, Router: canary.ProviderName(&c.Spec, r.DefaultProvider), Now: obs.Now, NoTraffic: needs.NoTraffic}
		step.CanaryPods, step.PrimaryPods = r.pods(ctx, c)
		if c.Status.RolloutStartTime != nil {
			step.Since = c.Status.RolloutStartTime.Time
		}
		metricChecks = r.Analyzer.Run(ctx, step)
	})
	checks := r.Webhooks.Checks(ctx, webhooks.OfType(hooks, types...), payload)
	wg.Wait()
	return append(checks, metricChecks...)
}

// pods returns the regular expressions of the names of the canary's and the primary's pods
// for {{ canaryPods }} and {{ primaryPods }}, or empty ones when the target's kind does not
// know them (a query using them then says so).
func (r *CanaryReconciler) pods(ctx context.Context, c *siskinv1.Canary) (canaryPods, primaryPods string) {
	s, ok := r.Target.(target.Sharer)
	if !ok {
		return "", ""
	}
	canaryPods, primaryPods, err := s.Pods(ctx, c)
	if err != nil {
		if !errors.Is(err, target.ErrUnsupported) {
			ctrl.LoggerFrom(ctx).Info("pod names unknown for the metric queries", "reason", err.Error())
		}
		return "", ""
	}
	return canaryPods, primaryPods
}

// compare reads the look's counts of every compared metric. A panic is an Error sample of
// each, never the end of the controller.
func (r *CanaryReconciler) compare(ctx context.Context, c *siskinv1.Canary, obs canary.Observation, needs canary.Needs) (samples []canary.ComparisonSample) {
	defer func() {
		if v := recover(); v != nil {
			ctrl.LoggerFrom(ctx).Error(fmt.Errorf("%v", v), "comparison look panicked")
			samples = lookFailed(c, fmt.Sprintf("the comparison could not be read: %v", v))
		}
	}()
	samples = r.Analyzer.Compare(ctx, c, canary.ProviderName(&c.Spec, r.DefaultProvider), needs.Control, needs.CompareSince, obs.Now)
	if samples == nil {
		samples = []canary.ComparisonSample{}
	}
	return samples
}

// comparedMetrics returns the metrics of c's comparison, if any.
func comparedMetrics(c *siskinv1.Canary) []siskinv1.ComparedMetric {
	if c.Spec.Analysis == nil || c.Spec.Analysis.Comparison == nil {
		return nil
	}
	return c.Spec.Analysis.Comparison.Metrics
}

// lookFailed returns a look whose every compared metric has the Error msg.
func lookFailed(c *siskinv1.Canary, msg string) []canary.ComparisonSample {
	ms := comparedMetrics(c)
	samples := make([]canary.ComparisonSample, len(ms))
	for i, m := range ms {
		samples[i] = canary.ComparisonSample{Name: m.Name, Error: fmt.Sprintf("%s: %s", m.Name, msg)}
	}
	return samples
}
