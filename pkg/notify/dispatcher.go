package notify

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// laneTTL is how long an idle provider's state (health, Slack threads) is kept.
const laneTTL = threadTTL

// Dispatcher sends Canaries' events to their alert providers. Notify queues and returns; Start
// delivers. It is safe for concurrent use.
type Dispatcher struct {
	o       Options
	log     logr.Logger
	globals []globalDestination
	now     func() time.Time

	wake chan struct{}
	wg   sync.WaitGroup

	// mu guards the fields below; each lane has its own lock for its queue and health.
	mu            sync.Mutex
	started       bool
	intake        fifo[item]
	intakeDropped int64
	lanes         map[types.NamespacedName]*lane
	lastPrune     time.Time
}

// item is a message waiting to be resolved to its providers.
type item struct {
	msg    message
	alerts []siskinv1.CanaryAlert
}

type globalDestination struct {
	key  types.NamespacedName
	dest destination
}

// New returns a Dispatcher. It fails only on invalid global options; AlertProviders are read
// and checked when a message is sent to them.
func New(o Options) (*Dispatcher, error) {
	if o.Reader == nil {
		return nil, errors.New("notify: Options.Reader is required")
	}
	o.defaults()
	globals, err := globalDestinations(o.Global)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log.GetSink() == nil {
		log = ctrl.Log.WithName("notify")
	}
	d := &Dispatcher{
		o:      o,
		log:    log,
		now:    time.Now,
		wake:   make(chan struct{}, 1),
		intake: fifo[item]{max: o.IntakeSize},
		lanes:  map[types.NamespacedName]*lane{},
	}
	for _, k := range []types.NamespacedName{GlobalSlack, GlobalMSTeams} {
		if dest, ok := globals[k]; ok {
			d.globals = append(d.globals, globalDestination{key: k, dest: dest})
		}
	}
	return d, nil
}

// Notify queues the announcement of e about c and returns at once; it never waits on a
// provider or the API server. A muted event is not announced. Nothing of c is kept: the
// message is a copy of c's status as it is now.
func (d *Dispatcher) Notify(ctx context.Context, c *siskinv1.Canary, e canary.Event) {
	if c == nil || e.Mute {
		return
	}
	it := item{msg: newMessage(c, e, d.o.Global.ClusterName)}
	if c.Spec.Analysis != nil && len(c.Spec.Analysis.Alerts) > 0 {
		// A Canary with alerts is announced to those only, even when all are refused.
		if it.alerts = d.admit(ctx, c, it.msg, c.Spec.Analysis.Alerts); len(it.alerts) == 0 {
			return
		}
	} else if len(d.globals) == 0 {
		return
	}
	d.mu.Lock()
	old, dropped := d.intake.push(it)
	if dropped {
		d.intakeDropped++
	}
	total := d.intakeDropped
	d.mu.Unlock()
	if dropped {
		ctrl.LoggerFrom(ctx).Info("notification queue full; dropped the oldest notification",
			"canary", old.msg.canaryKey().String(), "reason", old.msg.Reason, "dropped", total)
		d.failed(old.msg, unknownType)
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// admit returns the alerts of c that receive m and may be sent to. An alert naming an
// AlertProvider in another namespace is refused unless AllowCrossNamespaceRefs: the refusal is
// logged, recorded as a Warning event on c and counted through OnFailure, once per provider.
// The other namespace's AlertProvider is left alone: neither read nor marked failing, so a
// Canary cannot change what another team's provider reports.
func (d *Dispatcher) admit(ctx context.Context, c *siskinv1.Canary, m message, alerts []siskinv1.CanaryAlert) []siskinv1.CanaryAlert {
	out := make([]siskinv1.CanaryAlert, 0, len(alerts))
	refused := map[types.NamespacedName]bool{}
	for _, a := range alerts {
		if !receives(a.Severity, m.Severity) {
			continue
		}
		key := providerKey(c.Namespace, a)
		err := checkRef(c.Namespace, key, d.o.AllowCrossNamespaceRefs)
		if err == nil {
			out = append(out, a)
			continue
		}
		if refused[key] {
			continue
		}
		refused[key] = true
		ctrl.LoggerFrom(ctx).Error(err, "alert refused; nothing sent",
			"canary", m.canaryKey().String(), "provider", key.String(), "reason", m.Reason)
		if d.o.Events != nil {
			d.o.Events.Eventf(c, nil, corev1.EventTypeWarning, ReasonCrossNamespaceRefRefused, "Notify",
				"alert %s not sent: %s", a.Name, err.Error())
		}
		d.failed(m, unknownType)
	}
	return out
}

// NeedLeaderElection is false: delivery runs on every replica, and only the leader has
// anything to deliver.
func (d *Dispatcher) NeedLeaderElection() bool { return false }

// Start delivers queued notifications until ctx is done, then waits for the in-flight
// deliveries to stop (ctx cancels them) and returns. It implements manager.Runnable. Messages
// still queued at that moment are lost, and logged as such.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return errors.New("notify: dispatcher already started")
	}
	d.started = true
	d.mu.Unlock()

	for ctx.Err() == nil {
		d.drain(ctx)
		select {
		case <-ctx.Done():
		case <-d.wake:
		}
	}
	d.wg.Wait()
	if lost := d.pending(); lost > 0 {
		d.log.Info("notifications not sent before shutdown", "dropped", lost)
	}
	return nil
}

// drain resolves every queued message and hands it to its providers' lanes.
func (d *Dispatcher) drain(ctx context.Context) {
	for ctx.Err() == nil {
		d.mu.Lock()
		it, ok := d.intake.pop()
		d.mu.Unlock()
		if !ok {
			break
		}
		d.route(ctx, it)
	}
	d.prune()
}

// route sends a message to the providers of the alerts that receive its severity, once per
// provider however many alerts name it; a Canary without alerts goes to the global senders.
func (d *Dispatcher) route(ctx context.Context, it item) {
	if len(it.alerts) == 0 {
		for _, g := range d.globals {
			d.enqueue(ctx, g.key, g.dest, it.msg)
		}
		return
	}
	seen := map[types.NamespacedName]bool{}
	for _, a := range it.alerts {
		if !receives(a.Severity, it.msg.Severity) {
			continue
		}
		key := providerKey(it.msg.Namespace, a)
		if seen[key] {
			continue
		}
		seen[key] = true
		rctx, cancel := context.WithTimeout(ctx, DefaultResolveTimeout)
		dest, err := resolve(rctx, d.o.Reader, key)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			typ := dest.Type
			if typ == "" {
				typ = unknownType
			}
			d.record(key, it.msg, typ, err, 0)
			continue
		}
		d.enqueue(ctx, key, dest, it.msg)
	}
}

// enqueue puts a message on the provider's lane and starts the lane's goroutine if it has none.
func (d *Dispatcher) enqueue(ctx context.Context, key types.NamespacedName, dest destination, m message) {
	l := d.lane(key)
	l.mu.Lock()
	l.used = d.now()
	old, dropped := l.queue.push(job{msg: m, dest: dest})
	if dropped {
		l.health.Dropped++
	}
	total := l.health.Dropped
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if dropped {
		d.log.Info("notification queue of the alert provider full; dropped the oldest notification",
			"provider", key.String(), "canary", old.msg.canaryKey().String(), "reason", old.msg.Reason, "dropped", total)
		d.failed(old.msg, old.dest.Type)
	}
	if start {
		d.wg.Add(1)
		go d.run(ctx, l)
	}
}

// lane returns the lane of a provider, creating it.
func (d *Dispatcher) lane(key types.NamespacedName) *lane {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.lanes[key]
	if !ok {
		l = &lane{key: key, queue: fifo[job]{max: d.o.QueueSize}, used: d.now()}
		d.lanes[key] = l
	}
	return l
}

// prune forgets providers idle for laneTTL, at most once an hour, so that deleted
// AlertProviders do not accumulate.
func (d *Dispatcher) prune() {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.lastPrune) < time.Hour {
		return
	}
	d.lastPrune = now
	for k, l := range d.lanes {
		l.mu.Lock()
		idle := !l.running && l.queue.len() == 0 && now.Sub(l.used) > laneTTL
		l.mu.Unlock()
		if idle {
			delete(d.lanes, k)
		}
	}
}

// pending counts the messages not yet delivered.
func (d *Dispatcher) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.intake.len()
	for _, l := range d.lanes {
		l.mu.Lock()
		n += l.queue.len()
		l.mu.Unlock()
	}
	return n
}

// failed counts a message that was not delivered.
func (d *Dispatcher) failed(m message, providerType string) {
	if d.o.OnFailure != nil {
		d.o.OnFailure(m.Namespace, m.Canary, providerType)
	}
}

// fifo is a bounded first-in first-out queue that drops its oldest entry when full.
type fifo[T any] struct {
	max   int
	items []T
}

// push appends v; when the queue is full it removes and returns the oldest entry.
func (q *fifo[T]) push(v T) (old T, dropped bool) {
	if len(q.items) >= q.max {
		old, dropped = q.items[0], true
		var zero T
		q.items[0] = zero
		q.items = q.items[1:]
	}
	q.items = append(q.items, v)
	return old, dropped
}

func (q *fifo[T]) pop() (T, bool) {
	var zero T
	if len(q.items) == 0 {
		return zero, false
	}
	v := q.items[0]
	q.items[0] = zero
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = nil // let the backing array go
	}
	return v, true
}

func (q *fifo[T]) len() int { return len(q.items) }
