package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// errTargetNotFound means the Canary's target does not exist (yet).
var errTargetNotFound = errors.New("target not found")

// manualAnnotations are the manual-control annotations passed to the planner.
var manualAnnotations = []string{
	siskinv1.AnnotationPromote, siskinv1.AnnotationAbort, siskinv1.AnnotationRetry,
	siskinv1.AnnotationPause, siskinv1.AnnotationResume,
}

// observe reads everything a round needs from the informer caches: the target, the primary,
// the route and the manual-control annotations. It also returns the checksums of the target's
// tracked configs, which index the Canary for config watches.
func (r *CanaryReconciler) observe(ctx context.Context, c *siskinv1.Canary) (canary.Observation, map[string]string, error) {
	obs := canary.Observation{
		Now:      r.now(),
		Provider: canary.Provider(&c.Spec, r.DefaultProvider),
	}
	for _, a := range manualAnnotations {
		if v, ok := c.Annotations[a]; ok {
			if obs.Manual == nil {
				obs.Manual = map[string]string{}
			}
			obs.Manual[a] = v
		}
	}

	tgt, primary, err := r.Target.Observe(ctx, c)
	if err != nil {
		return obs, nil, fmt.Errorf("observe target: %w", err)
	}
	if !tgt.Exists {
		return obs, nil, fmt.Errorf("%w: %s", errTargetNotFound, tgt.Message)
	}
	obs.Target, obs.Primary = tgt, primary

	dep := &appsv1.Deployment{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.TargetRef.Name}, dep); err != nil {
		return obs, nil, fmt.Errorf("get target: %w", err)
	}
	configs, err := r.Target.TrackedConfigs(ctx, c.Namespace, &dep.Spec.Template)
	if err != nil {
		return obs, nil, fmt.Errorf("track configs: %w", err)
	}

	if obs.RolloutQueued, err = r.rolloutQueued(ctx, c, tgt.Fingerprint); err != nil {
		return obs, nil, err
	}

	route, err := r.routerFor(obs.Provider).Observe(ctx, c)
	if err != nil && !apierrors.IsNotFound(err) {
		return obs, nil, fmt.Errorf("observe route: %w", err)
	}
	obs.Route = route
	return obs, configs, nil
}

// rolloutQueued reports whether a new revision of c must wait because MaxConcurrentCanaries
// rollouts are in flight. It looks only when c is at rest with a new revision.
func (r *CanaryReconciler) rolloutQueued(ctx context.Context, c *siskinv1.Canary, fingerprint string) (bool, error) {
	st := &c.Status
	if r.MaxConcurrentCanaries <= 0 || activePhases[st.Phase] ||
		fingerprint == st.LastAppliedSpec || fingerprint == st.LastPromotedSpec {
		return false, nil
	}
	active := &siskinv1.CanaryList{}
	if err := r.List(ctx, active, client.MatchingFields{indexActive: "true"}); err != nil {
		return false, fmt.Errorf("count active rollouts: %w", err)
	}
	return !r.slots.admit(client.ObjectKeyFromObject(c), active.Items, r.MaxConcurrentCanaries, r.now()), nil
}

// slotReservation is how long an admitted rollout holds its slot before the cache shows it in
// flight (normally milliseconds).
const slotReservation = time.Minute

// rolloutSlots admits new rollouts under the concurrency limit. Workers decide in parallel and
// the cache lags their writes, so an admission is reserved here until the cache shows the
// Canary in flight. Nothing in it must survive a restart: the cache is the truth then.
type rolloutSlots struct {
	mu       sync.Mutex
	reserved map[client.ObjectKey]time.Time
	// released are rollouts that ended but may still look in flight in the cache; the slot
	// they held is free from the moment their status was written.
	released map[client.ObjectKey]time.Time
}

// release frees the slot of a rollout that ended, before the cache shows it.
func (s *rolloutSlots) release(key client.ObjectKey, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.reserved, key)
	if s.released == nil {
		s.released = map[client.ObjectKey]time.Time{}
	}
	s.released[key] = now
}

// admit reserves a slot for key if fewer than limit rollouts are in flight or reserved.
func (s *rolloutSlots) admit(key client.ObjectKey, active []siskinv1.Canary, limit int, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	inFlight := make(map[client.ObjectKey]bool, len(active))
	for i := range active {
		inFlight[client.ObjectKeyFromObject(&active[i])] = true
	}
	for k, at := range s.released {
		switch {
		case !inFlight[k] || now.Sub(at) > slotReservation:
			// The cache shows it ended (or it is long enough ago to trust the cache again).
			delete(s.released, k)
		default:
			delete(inFlight, k)
		}
	}
	used := len(inFlight)
	for k, at := range s.reserved {
		switch {
		case inFlight[k] || now.Sub(at) > slotReservation:
			delete(s.reserved, k)
		case k != key:
			used++
		}
	}
	if used >= limit {
		return false
	}
	if s.reserved == nil {
		s.reserved = map[client.ObjectKey]time.Time{}
	}
	s.reserved[key] = now
	return true
}

// routerFor returns the router of a provider: the mesh or gateway router, or the Services
// router for provider kubernetes.
func (r *CanaryReconciler) routerFor(provider string) router.Router {
	if rt, ok := r.Routers[provider]; ok {
		return rt
	}
	return r.Services
}

// gather calls the gates and runs the analysis step that the planner needs this round. Gates
// and checks of one round run concurrently; each is bounded by its own timeout.
func (r *CanaryReconciler) gather(ctx context.Context, c *siskinv1.Canary, obs *canary.Observation, needs canary.Needs) {
	if len(needs.Gates) == 0 && !needs.Step {
		return
	}
	var hooks []siskinv1.CanaryWebhook
	if c.Spec.Analysis != nil {
		hooks = c.Spec.Analysis.Webhooks
	}
	payload := webhooks.NewPayload(c, obs.Target.Fingerprint)
	if len(needs.Gates) > 0 {
		obs.Gates = make(map[siskinv1.WebhookType]canary.Gate, len(needs.Gates))
		for _, typ := range needs.Gates {
			obs.Gates[typ] = r.Webhooks.Gate(ctx, hooks, typ, payload)
		}
	}
	if !needs.Step {
		return
	}
	types := []siskinv1.WebhookType{siskinv1.RolloutHook}
	if needs.PreRollout {
		types = []siskinv1.WebhookType{siskinv1.PreRolloutHook, siskinv1.RolloutHook}
	}
	checks := make(chan []siskinv1.CheckResult, 1)
	go func() {
		checks <- r.Analyzer.Run(ctx, metrics.Step{Canary: c, Router: obs.Provider, Now: obs.Now})
	}()
	hookChecks := r.Webhooks.Checks(ctx, webhooks.OfType(hooks, types...), payload)
	obs.Checks = append(hookChecks, <-checks...)
	if obs.Checks == nil {
		obs.Checks = []siskinv1.CheckResult{}
	}
}
