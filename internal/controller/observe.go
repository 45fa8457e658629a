package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// manualAnnotations are the manual-control annotations passed to the planner.
var manualAnnotations = []string{
	siskinv1.AnnotationPromote, siskinv1.AnnotationAbort, siskinv1.AnnotationRetry,
	siskinv1.AnnotationPause, siskinv1.AnnotationResume,
}

// observe reads everything a round needs from the informer caches: the target, the primary,
// the baseline (when the analysis compares with one), the route and the manual-control
// annotations. It also returns the checksums of the target's
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
	obs.Target, obs.Primary = tgt, primary
	if comparesWithBaseline(c) {
		if obs.Baseline, err = r.observeBaseline(ctx, c); err != nil {
			return obs, nil, fmt.Errorf("observe baseline: %w", err)
		}
	}

	// Everything below is a fact for the planner, not a reason to stop the round: a missing
	// target is rolled back from, a route the router cannot change runs into the deadlines.
	var configs map[string]string
	if tgt.Exists {
		if configs, err = r.Target.Configs(ctx, c); apierrors.IsNotFound(err) {
			// The target reports the missing config (not ready); keep the configs tracked so far.
			configs, err = nil, nil
		}
		if err != nil {
			return obs, nil, fmt.Errorf("track configs: %w", err)
		}
		if obs.RolloutQueued, obs.QueuedBehindSchedule, err = r.rolloutQueued(ctx, c, tgt.Fingerprint); err != nil {
			return obs, nil, err
		}
	}

	obs.Route, err = r.observeRoute(ctx, c, obs.Provider)
	if err != nil {
		return obs, nil, err
	}
	return obs, configs, nil
}

// comparesWithBaseline reports whether the analysis of c compares the canary with a baseline.
func comparesWithBaseline(c *siskinv1.Canary) bool {
	a := c.Spec.Analysis
	return a != nil && a.Comparison != nil && a.Comparison.Control == siskinv1.ControlBaseline
}

// observeBaseline reads the baseline Deployment and its Service as one workload. It exists
// while either is there (there is something to remove), and it is ready only when the
// Deployment is ready and the Service selects its pods (it can be routed to).
func (r *CanaryReconciler) observeBaseline(ctx context.Context, c *siskinv1.Canary) (canary.Workload, error) {
	w, err := r.Target.ObserveBaseline(ctx, c)
	if err != nil {
		return w, err
	}
	svcExists, msg, err := r.Services.ObserveBaselineService(ctx, c)
	if err != nil {
		return w, err
	}
	w.Exists = w.Exists || svcExists
	if w.Ready && msg != "" {
		w.Ready, w.Message = false, msg
	}
	return w, nil
}

// observeRoute reads the live route. A route that is not Siskin's, or a router whose API is
// not installed, is reported in Route.Problem; only a failed read is an error.
func (r *CanaryReconciler) observeRoute(ctx context.Context, c *siskinv1.Canary, provider string) (canary.Route, error) {
	route, err := r.routerFor(provider).Observe(ctx, c)
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return route, nil
	case errors.Is(err, router.ErrNotOwned), errors.Is(err, target.ErrNotOwned):
		return canary.Route{Problem: siskinv1.ReasonNotOwned, Message: err.Error()}, nil
	case meta.IsNoMatchError(err):
		return canary.Route{Problem: siskinv1.ReasonRouterUnavailable,
			Message: fmt.Sprintf("the %s router's API is not installed in the cluster: %v", provider, err)}, nil
	}
	return route, fmt.Errorf("observe route: %w", err)
}

// rolloutQueued reports whether a new revision of c must wait because as many rollouts are in
// flight as the controller admits (rolloutLimit), and whether the adaptive limit is the one
// reached. It looks only when c is at rest with a new revision.
func (r *CanaryReconciler) rolloutQueued(ctx context.Context, c *siskinv1.Canary, fingerprint string) (queued, behind bool, err error) {
	st := &c.Status
	limit, adaptive := r.rolloutLimit()
	if limit <= 0 || activePhases[st.Phase] ||
		fingerprint == st.LastAppliedSpec || fingerprint == st.LastPromotedSpec {
		return false, false, nil
	}
	active := &siskinv1.CanaryList{}
	if err := r.List(ctx, active, client.MatchingFields{indexActive: "true"}, client.UnsafeDisableDeepCopy); err != nil {
		return false, false, fmt.Errorf("count active rollouts: %w", err)
	}
	if r.slots.admit(client.ObjectKeyFromObject(c), active.Items, limit, r.now()) {
		return false, false, nil
	}
	return true, adaptive, nil
}

// rolloutLimit is how many rollouts may be in flight at once: MaxConcurrentCanaries, or the
// adaptive limit when it is on and lower (adaptive is then true); 0 means no limit.
func (r *CanaryReconciler) rolloutLimit() (limit int, adaptive bool) {
	limit = r.MaxConcurrentCanaries
	if r.admission.enabled() {
		if a := r.admission.current(); limit <= 0 || a < limit {
			return a, true
		}
	}
	return limit, false
}

// stepDue is an analysis step of a rollout in flight that was due when a round started. It
// is measured once a round has taken it and written (measureStep), so that its lateness
// includes the time the API server took to take the round's writes, and not only how long the
// Canary waited for a worker: under load the writes are most of it.
type stepDue struct {
	due, roundStart time.Time
}

// dueStep returns the step of a rollout in flight that is due at the start of this round; its
// due time is read from the Canary's last step and interval. The zero stepDue means none.
func (r *CanaryReconciler) dueStep(c *siskinv1.Canary) stepDue {
	if !r.admission.enabled() || !activePhases[c.Status.Phase] {
		return stepDue{}
	}
	due := r.nextStep(c)
	now := r.now()
	if due.IsZero() || now.Before(due) {
		return stepDue{}
	}
	return stepDue{due: due, roundStart: now}
}

// nextStep is when the next analysis step of Canary c is due, by its status; zero when none is.
func (r *CanaryReconciler) nextStep(c *siskinv1.Canary) time.Time {
	return canary.ProgressOf(c, canary.Provider(&c.Spec, r.DefaultProvider)).NextStep
}

// stepTaken reports whether the round that wrote Canary c's status took step s: the status
// no longer has it due (the next step is scheduled, or the analysis ended).
func (r *CanaryReconciler) stepTaken(c *siskinv1.Canary, s stepDue) bool {
	return !s.due.IsZero() && !r.nextStep(c).Equal(s.due)
}

// measureStep feeds the adaptive limit with the lateness of a due step, once per step, when a
// round takes it: how late the first round that found it due started, plus how long the
// writes (status and actions) of the round that took it took. The time between the two is
// the step waiting on the application (its canary's pods not ready, its checks gathering, its
// route not yet confirmed by the data plane): it is not the controller's, and a slow-starting
// application must not lower the limit of the whole fleet; a round that waits does not count
// the step as served either. It wakes queued revisions when the limit rose.
func (r *CanaryReconciler) measureStep(ctx context.Context, key client.ObjectKey, s stepDue, taken bool, writing time.Duration) {
	if s.due.IsZero() || r.admission.measuredAlready(key, s.due) {
		return
	}
	first := r.admission.firstRound(key, s, taken)
	if !taken {
		return
	}
	late := first.roundStart.Sub(s.due) + writing
	rose := r.admission.observe(key, s.due, s.due.Add(late), func() int { return r.rolloutsInFlight(ctx) })
	r.Metrics.RecordStepLateness(late)
	limit, _ := r.rolloutLimit()
	r.Metrics.RecordAdmissionLimit(limit)
	r.wakeQueued(ctx, rose)
}

// rolloutsInFlight counts the Canaries with a rollout in flight, by the cache; 0 when the
// cache cannot say (the admission then lowers the limit from where it is).
func (r *CanaryReconciler) rolloutsInFlight(ctx context.Context) int {
	active := &siskinv1.CanaryList{}
	if err := r.List(ctx, active, client.MatchingFields{indexActive: "true"}, client.UnsafeDisableDeepCopy); err != nil {
		return 0
	}
	return len(active.Items)
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
