package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// lane is one provider's queue. At most one goroutine serves it at a time, so its messages go
// out in the order they were queued; it exits when the queue is empty, so an idle provider
// costs no goroutine.
type lane struct {
	key types.NamespacedName

	mu      sync.Mutex
	queue   fifo[job]
	running bool
	used    time.Time
	health  Health

	// Owned by the goroutine serving the lane (handed over under mu).
	sender sender
	dest   destination
	http   *http.Client
}

// job is a message for a resolved destination. The destination travels with each message, so
// a changed AlertProvider or Secret takes effect from the next message on.
type job struct {
	msg  message
	dest destination
}

// run serves a lane until its queue is empty or ctx is done.
func (d *Dispatcher) run(ctx context.Context, l *lane) {
	defer d.wg.Done()
	for {
		l.mu.Lock()
		if ctx.Err() != nil || l.queue.len() == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		j, _ := l.queue.pop()
		l.mu.Unlock()
		d.deliver(ctx, l, j)
	}
}

// deliver sends one message, retrying what may pass later, and records the outcome.
func (d *Dispatcher) deliver(ctx context.Context, l *lane, j job) {
	s, err := l.senderFor(j.dest, &d.o)
	if err != nil {
		d.record(l.key, j.msg, j.dest.Type, err, 0)
		return
	}
	for attempt := 1; ; attempt++ {
		err := s.send(ctx, j.msg)
		if err == nil {
			d.record(l.key, j.msg, j.dest.Type, nil, attempt)
			return
		}
		if ctx.Err() != nil {
			return // shutting down: not the provider's failure
		}
		var se *sendError
		if !errors.As(err, &se) {
			se = &sendError{msg: secretsOf(j.dest).scrub(err.Error())}
		}
		if !se.retry || attempt >= d.o.MaxAttempts {
			d.record(l.key, j.msg, j.dest.Type, se, attempt)
			return
		}
		wait := d.backoff(attempt)
		if se.after > 0 {
			wait = min(se.after, d.o.MaxRetryAfter)
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// senderFor returns the lane's sender, built anew when the destination changed (a new
// address, token or proxy; for Slack, the rollout threads start over).
func (l *lane) senderFor(dest destination, o *Options) (sender, error) {
	if l.sender != nil && l.dest == dest {
		return l.sender, nil
	}
	hc, err := newHTTPClient(dest, o.Timeout)
	if err != nil {
		return nil, err
	}
	s, err := newSender(dest, hc, o)
	if err != nil {
		return nil, err
	}
	if l.http != nil {
		l.http.CloseIdleConnections()
	}
	l.sender, l.dest, l.http = s, dest, hc
	return s, nil
}

// backoff is the wait before retry number attempt: Backoff doubled per retry up to MaxBackoff,
// half of it jittered so that providers failing together do not retry together.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	w := d.o.Backoff
	for i := 1; i < attempt && w < d.o.MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, d.o.MaxBackoff)
	half := w / 2
	return half + rand.N(half+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// record notes the outcome of a message for a provider: its health, the log and OnFailure.
// attempts is 0 when nothing was sent (the provider could not be resolved).
func (d *Dispatcher) record(key types.NamespacedName, m message, typ string, err error, attempts int) {
	l := d.lane(key)
	now := d.now()
	l.mu.Lock()
	before := l.health
	h := &l.health
	h.Type = typ
	if err == nil {
		h.LastError, h.ConsecutiveFailures, h.LastSuccess = "", 0, now
		h.Delivered++
	} else {
		msg := err.Error()
		if attempts > 1 {
			msg = fmt.Sprintf("%s (after %d attempts)", msg, attempts)
		}
		h.LastError, h.LastFailure = msg, now
		h.ConsecutiveFailures++
		h.Failed++
	}
	changed := before.LastError != h.LastError
	l.mu.Unlock()

	if err != nil {
		d.log.Error(err, "notification not delivered", "provider", key.String(), "canary", m.canaryKey().String(),
			"reason", m.Reason, "attempts", attempts)
		d.failed(m, typ)
	}
	if changed && key.Namespace != "" && d.o.OnHealthChange != nil {
		d.o.OnHealthChange(key)
	}
}
