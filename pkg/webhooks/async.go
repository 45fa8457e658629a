package webhooks

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Defaults of the event webhook queue (WithEventQueue).
const (
	// DefaultEventWorkers is how many event webhook calls run at once.
	DefaultEventWorkers = 8
	// DefaultEventQueue is how many event webhook calls may wait for a worker.
	DefaultEventQueue = 1024
)

// droppedEvents counts the event webhook calls NotifyAsync dropped because its queue was full.
var droppedEvents = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "siskin_event_webhooks_dropped_total",
	Help: "Event webhook calls dropped because the queue of event webhook calls was full.",
})

func init() {
	ctrlmetrics.Registry.MustRegister(droppedEvents)
}

// WithEventQueue sets how many event webhook calls run at once and how many may wait; values
// below 1 keep the defaults.
func WithEventQueue(workers, queue int) Option {
	return func(c *Client) {
		if workers > 0 {
			c.eventWorkers = workers
		}
		if queue > 0 {
			c.eventQueue = queue
		}
	}
}

type eventCall struct {
	ctx     context.Context
	hook    siskinv1.CanaryWebhook
	payload Payload
}

// NotifyAsync queues a call of every webhook in hooks with payload and returns at once: event
// webhooks are told, not asked, and must never hold up a reconcile. A fixed pool of workers
// makes the calls, one at a time each, so that a burst of events or a hanging receiver cannot
// grow the number of goroutines. When the queue is full the call is dropped and counted in
// siskin_event_webhooks_dropped_total. It returns how many calls were dropped.
//
// The calls keep ctx's values (its logger) but not its cancellation; each webhook's timeout
// bounds its call. The workers start with the first call and stop with Close.
func (c *Client) NotifyAsync(ctx context.Context, hooks []siskinv1.CanaryWebhook, payload Payload) int {
	if len(hooks) == 0 {
		return 0
	}
	c.startEvents.Do(c.startEventWorkers)
	ctx = context.WithoutCancel(ctx)
	dropped := 0
	for _, h := range hooks {
		select {
		case c.events <- eventCall{ctx: ctx, hook: h, payload: payload}:
		default:
			dropped++
			droppedEvents.Inc()
		}
	}
	if dropped > 0 {
		ctrl.LoggerFrom(ctx).Info("event webhook queue full: calls dropped", "canary", payload.Namespace+"/"+payload.Name, "reason", fmt.Sprintf("%d of %d dropped", dropped, len(hooks)))
	}
	return dropped
}

// Close stops the event webhook workers and cancels their calls; calls still queued are
// dropped. The Client's other methods keep working.
func (c *Client) Close() { c.stopEvents() }

func (c *Client) startEventWorkers() {
	c.events = make(chan eventCall, c.eventQueue)
	for range c.eventWorkers {
		go c.eventWorker()
	}
}

func (c *Client) eventWorker() {
	for {
		select {
		case <-c.stopped.Done():
			return
		case e := <-c.events:
			c.callEvent(e)
		}
	}
}

// callEvent makes one queued call; a panic is logged and the worker goes on.
func (c *Client) callEvent(e eventCall) {
	log := ctrl.LoggerFrom(e.ctx).WithValues("canary", e.payload.Namespace+"/"+e.payload.Name)
	defer func() {
		if v := recover(); v != nil {
			log.Error(fmt.Errorf("panic: %v", v), "event webhook call panicked", "reason", e.hook.Name)
		}
	}()
	if c.stopped.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	defer context.AfterFunc(c.stopped, cancel)()
	if r := c.Call(ctx, e.hook, e.payload); !r.OK() {
		log.V(1).Info("event webhook failed", "reason", fmt.Sprintf("webhook %s %s", r.Name, r.Describe()))
	}
}
