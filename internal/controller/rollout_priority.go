package controller

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// priorityInFlight is the work-queue priority of a Canary whose rollout is in flight (one of
// activePhases). Every other Canary keeps the priority its event came with: 0, or
// controller-runtime's handler.LowPriority for an event that changed nothing.
const priorityInFlight = 10

// rolloutQueue is the Canary controller's work queue: controller-runtime's priority queue, in
// which a Canary whose rollout is in flight goes before every Canary at rest, whatever added
// it (its own requeue when a step is due, a watch event of an object it owns, a retry).
//
// When the API server is the limit, the workers are all busy and keys wait in the queue; in
// first-in, first-out order a fleet-wide change would start hundreds of new rollouts (each a
// handful of writes) ahead of the due steps of the rollouts already in flight, and every step
// would run late. In priority order a new rollout starts only when no step of a rollout in
// flight is due: rollouts already started keep their schedule, and the fleet starts new ones
// at the rate the API server leaves room for.
//
// The priority is read from the cache at the moment a key is added; the cache shows a status
// write before the watch event that follows it, so the round that starts a rollout is followed
// by an event that raises its key. The priority queue keeps the highest priority a key was
// added with and the earliest time it is due.
type rolloutQueue struct {
	priorityqueue.PriorityQueue[reconcile.Request]
	// inFlight reports whether the Canary of a request has a rollout in flight.
	inFlight func(reconcile.Request) bool
}

// newRolloutQueue returns the controller option NewQueue for the Canary controller: a
// rolloutQueue that reads the Canaries' phases from reader (the informer cache).
func newRolloutQueue(reader client.Reader, log logr.Logger) func(string, workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	return func(name string, limiter workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
		return &rolloutQueue{
			PriorityQueue: priorityqueue.New(name, func(o *priorityqueue.Opts[reconcile.Request]) {
				o.RateLimiter = limiter
				o.Log = log.WithValues("controller", name)
			}),
			inFlight: canaryInFlight(reader),
		}
	}
}

// canaryInFlight reports from reader whether a Canary's rollout is in flight. A Canary the
// cache does not hold (deleted, or not seen yet) is not.
func canaryInFlight(reader client.Reader) func(reconcile.Request) bool {
	return func(req reconcile.Request) bool {
		c := &siskinv1.Canary{}
		// Only the phase is read: the cached object is not copied.
		if err := reader.Get(context.Background(), req.NamespacedName, c, client.UnsafeDisableDeepCopy); err != nil {
			return false
		}
		return activePhases[c.Status.Phase]
	}
}

// AddWithOpts adds items, raising those whose rollout is in flight to priorityInFlight.
func (q *rolloutQueue) AddWithOpts(o priorityqueue.AddOpts, items ...reconcile.Request) {
	given := ptr.Deref(o.Priority, 0)
	if given >= priorityInFlight {
		q.PriorityQueue.AddWithOpts(o, items...)
		return
	}
	var rest []reconcile.Request
	for _, item := range items {
		if q.inFlight(item) {
			raised := o
			raised.Priority = ptr.To(priorityInFlight)
			q.PriorityQueue.AddWithOpts(raised, item)
			continue
		}
		rest = append(rest, item)
	}
	q.PriorityQueue.AddWithOpts(o, rest...)
}

// Add adds item now.
func (q *rolloutQueue) Add(item reconcile.Request) {
	q.AddWithOpts(priorityqueue.AddOpts{}, item)
}

// AddAfter adds item after d.
func (q *rolloutQueue) AddAfter(item reconcile.Request, d time.Duration) {
	q.AddWithOpts(priorityqueue.AddOpts{After: d}, item)
}

// AddRateLimited adds item after its rate limiter's delay.
func (q *rolloutQueue) AddRateLimited(item reconcile.Request) {
	q.AddWithOpts(priorityqueue.AddOpts{RateLimited: true}, item)
}
