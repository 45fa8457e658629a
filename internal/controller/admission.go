package controller

import (
	"math"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Adaptive admission of new rollouts.
//
// When the API server is the limit, every rollout in flight shares it: a fleet-wide change
// that starts a thousand rollouts at once makes every step of every one of them late, and the
// lateness grows for everyone (measured at N = 1,000: step lateness p99 in minutes). The work
// queue already serves the steps of rollouts in flight before new rollouts (rolloutQueue), but
// it cannot say how many rollouts to start while no step is due. Admission can: the
// controller measures how late each due step of a rollout in flight is served, and keeps a
// limit of concurrent rollouts by additive increase and multiplicative decrease on that
// measure, as TCP keeps its window on lost packets. Until the first late step, a step served
// within the target raises the limit by one (TCP's slow start: with the rollouts in flight
// each stepping once an interval, the limit can double in an interval). A step served later
// than the target lowers it to three quarters of the rollouts in flight, and remembers how
// many were in flight then (the threshold, where the API server fell behind). A limit lowered
// takes effect only as rollouts end, a rollout's length later: while more rollouts are in
// flight than the limit, it already holds every new one back, and a late step does not lower
// it again (lowering it on every late step of that wait took the limit to the floor and
// emptied the fleet of rollouts in a run at N = 1,000). Below the threshold an on-time step
// raises the limit by one, back to where the API server kept up; at or above it, by one over
// the limit, about one rollout per interval (congestion avoidance), so the limit probes past
// the point it fell at slowly instead of doubling past it. When no rollout is in flight, the
// next fleet change starts with slow start again. A new
// revision starts its rollout only while the rollouts in flight are fewer than the limit;
// otherwise it waits at rest (phase and route unchanged, condition Queued) and is woken as
// the limit rises or a rollout ends.
//
// Only the start of rollouts is gated: a rollout in flight is never held back, and the limit
// never falls below admissionFloor, so a small fleet is never queued and a large one always
// makes progress.

const (
	// admissionFloor is the lowest the adaptive limit goes.
	admissionFloor = 10
	// admissionStart is the limit before any step was measured.
	admissionStart = 100
	// admissionDecrease is the factor a late step multiplies the limit by.
	admissionDecrease = 0.75
)

// rolloutAdmission keeps the adaptive limit of concurrent rollouts. Its zero value is off.
type rolloutAdmission struct {
	// target is the step lateness the limit is kept under; 0 turns adaptive admission off.
	target time.Duration

	mu    sync.Mutex
	limit float64
	// threshold is how many rollouts were in flight (or the limit, when the rollouts in flight
	// are not counted) when a step was last late: below it the limit rises by one per on-time
	// step, at or above it by one over the limit. Zero until a step was late, and again once no
	// rollout is in flight.
	threshold float64
	// lastDecrease is when the limit last fell.
	lastDecrease time.Time
	// measured is the due time of the step last measured per Canary, so that the rounds of
	// one step (a cache wait, gathering) count it once.
	measured map[client.ObjectKey]time.Time
	// waiting is, per Canary, the first round of a due step that did not take it (the
	// canary's pods not ready, its route not confirmed, its checks still gathering): the step
	// is measured when a round takes it, from how late that first round started.
	waiting map[client.ObjectKey]stepDue
}

// enabled reports whether the limit applies.
func (a *rolloutAdmission) enabled() bool { return a != nil && a.target > 0 }

// current returns the limit, whole.
func (a *rolloutAdmission) current() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.currentLocked()
}

func (a *rolloutAdmission) currentLocked() int {
	if a.limit == 0 {
		a.limit = admissionStart
	}
	return int(math.Floor(a.limit))
}

// observe records that the step of Canary key due at due was served at now, and returns by
// how many whole rollouts the limit rose (to wake as many queued revisions). A step measured
// before for the same due time is ignored. inFlight, when not nil, counts the rollouts in
// flight; it is called only when the limit falls.
func (a *rolloutAdmission) observe(key client.ObjectKey, due, now time.Time, inFlight func() int) (rose int) {
	if !a.enabled() || due.IsZero() || now.Before(due) {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.measured == nil {
		a.measured = map[client.ObjectKey]time.Time{}
	}
	if prev, ok := a.measured[key]; ok && prev.Equal(due) {
		return 0
	}
	a.measured[key] = due
	delete(a.waiting, key)
	before := a.currentLocked()
	if now.Sub(due) > a.target {
		if now.Sub(a.lastDecrease) < a.target {
			return 0 // the same congested moment
		}
		base := a.limit
		if inFlight != nil {
			if n := float64(inFlight()); n > a.limit {
				return 0 // the limit holds new rollouts back already; it takes effect as they end
			} else if n > 0 {
				base = n
			}
		}
		a.threshold = base
		a.limit = max(admissionFloor, base*admissionDecrease)
		a.lastDecrease = now
		return 0
	}
	// Served on time: one more below the threshold, one over the limit at or above it. The
	// limit grows only while it is used: above twice the rollouts in flight (those with a
	// step measured and not ended) it would admit a burst the API server was never shown to
	// serve.
	increase := 1.0
	if a.threshold > 0 && a.limit >= a.threshold {
		increase = 1 / a.limit
	}
	a.limit = min(a.limit+increase, float64(max(admissionStart, 2*len(a.measured))))
	return max(0, a.currentLocked()-before)
}

// measuredAlready reports whether the step of Canary key due at due was measured.
func (a *rolloutAdmission) measuredAlready(key client.ObjectKey, due time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev, ok := a.measured[key]
	return ok && prev.Equal(due)
}

// firstRound returns the first round of step s of Canary key: the round that found it due
// and did not take it, if one did, else s itself. The first round that did not take a step
// is kept for when one does.
func (a *rolloutAdmission) firstRound(key client.ObjectKey, s stepDue, taken bool) stepDue {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w, ok := a.waiting[key]; ok && w.due.Equal(s.due) {
		return w
	}
	if !taken {
		if a.waiting == nil {
			a.waiting = map[client.ObjectKey]stepDue{}
		}
		a.waiting[key] = s
	}
	return s
}

// forget drops what is kept of a Canary whose rollout ended or that was deleted.
func (a *rolloutAdmission) forget(key client.ObjectKey) {
	if !a.enabled() {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.measured, key)
	delete(a.waiting, key)
	if len(a.measured) == 0 {
		// Nothing in flight: the next fleet change finds out again what the API server serves.
		a.threshold = 0
	}
}
