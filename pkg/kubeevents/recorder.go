// Package kubeevents records Kubernetes events (events.k8s.io/v1) and keeps none of them once
// written.
//
// client-go's events broadcaster keeps every event it records in a map for six to twelve
// minutes, to fold later events of the same kind into a series. A Canary's events never fold:
// the reference to the Canary carries its resourceVersion, which every status write changes. So
// during a fleet-wide change the map held every event of every rollout (seven or more per
// rollout, about 1.5 kB each), growing with the fleet, for nothing. This recorder writes each
// event once, from a bounded queue, and forgets it.
package kubeevents

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	eventsclient "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/tools/reference"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Limits of events.k8s.io/v1 that the API server enforces.
const (
	maxNoteBytes  = 1024
	maxFieldBytes = 128
)

// Defaults of Options.
const (
	DefaultQueueSize = 4096
	DefaultWorkers   = 4
	DefaultAttempts  = 6
	DefaultBackoff   = time.Second
	maxBackoff       = 30 * time.Second
	// flushTimeout bounds how long Start, once its context ends, keeps writing queued events.
	flushTimeout = 5 * time.Second
)

// Options configure a Recorder.
type Options struct {
	// Client writes the events.
	Client eventsclient.EventsGetter
	// Scheme makes the references to the objects the events are about.
	Scheme *runtime.Scheme
	// Controller is the events' reportingController, such as "siskin".
	Controller string
	// Instance is the events' reportingInstance; empty means Controller-<host name>.
	Instance string
	// QueueSize bounds the events waiting to be written; when it is full, new events are
	// dropped and counted (OnDrop).
	QueueSize int
	// Workers write events at once.
	Workers int
	// Attempts bounds the writes of one event that meets a transient error (a connection
	// refused, a 5xx, a 429); an event the API server refuses as invalid is not retried.
	Attempts int
	// Backoff is the wait before the second attempt; it doubles after each, up to 30 s.
	Backoff time.Duration
	// OnDrop is called for each event dropped (queue full, attempts spent, refused).
	OnDrop func(reason string)
	// Log receives what went wrong.
	Log logr.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Recorder records events on the API server. Its Eventf never blocks. It is a manager
// Runnable: the events queued before Start are written once it runs.
type Recorder struct {
	o     Options
	queue chan *eventsv1.Event

	mu       sync.Mutex
	lastName map[string]int64 // per namespace, the last name suffix used (names stay unique)
}

// New returns a Recorder; Start writes what it records.
func New(o Options) *Recorder {
	// Zero or less takes the default.
	o.QueueSize = cmp.Or(max(o.QueueSize, 0), DefaultQueueSize)
	o.Workers = cmp.Or(max(o.Workers, 0), DefaultWorkers)
	o.Attempts = cmp.Or(max(o.Attempts, 0), DefaultAttempts)
	o.Backoff = cmp.Or(max(o.Backoff, 0), DefaultBackoff)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Instance == "" {
		host, _ := os.Hostname()
		o.Instance = truncate(o.Controller+"-"+host, maxFieldBytes)
	}
	return &Recorder{o: o, queue: make(chan *eventsv1.Event, o.QueueSize), lastName: map[string]int64{}}
}

// Eventf queues an event about regarding (and related, when not nil). The note is formatted
// with args and cut to the 1,024 bytes the API server accepts.
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	ev, err := r.event(regarding, related, eventtype, reason, action, fmt.Sprintf(note, args...))
	if err != nil {
		r.o.Log.Error(err, "event not recorded", "reason", reason, "action", action)
		r.drop("invalid")
		return
	}
	select {
	case r.queue <- ev:
	default:
		r.o.Log.V(1).Info("event dropped: the queue of events to write is full", "regarding", ev.Regarding.Name, "reason", reason)
		r.drop("queue full")
	}
}

func (r *Recorder) event(regarding, related runtime.Object, eventtype, reason, action, note string) (*eventsv1.Event, error) {
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		return nil, fmt.Errorf("event type %q is neither %s nor %s", eventtype, corev1.EventTypeNormal, corev1.EventTypeWarning)
	}
	ref, err := reference.GetReference(r.o.Scheme, regarding)
	if err != nil {
		return nil, fmt.Errorf("reference to the object: %w", err)
	}
	var rel *corev1.ObjectReference
	if related != nil {
		if rel, err = reference.GetReference(r.o.Scheme, related); err != nil {
			rel = nil // the event still says what happened to regarding
		}
	}
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	now := r.o.Now()
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", ref.Name, r.nameSuffix(ns, now)), Namespace: ns},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.o.Controller,
		ReportingInstance:   r.o.Instance,
		Action:              truncate(action, maxFieldBytes),
		Reason:              truncate(reason, maxFieldBytes),
		Regarding:           *ref,
		Related:             rel,
		Note:                truncate(note, maxNoteBytes),
		Type:                eventtype,
	}, nil
}

// nameSuffix is the time in nanoseconds, made larger than the last one given in the namespace
// if the clock has not moved on, so two events of one object never share a name.
func (r *Recorder) nameSuffix(ns string, now time.Time) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := now.UnixNano()
	if last := r.lastName[ns]; n <= last {
		n = last + 1
	}
	r.lastName[ns] = n
	return n
}

// Start writes queued events until ctx ends, then what is still queued for at most five
// more seconds: those events still say what happened.
func (r *Recorder) Start(ctx context.Context) error {
	// Writes, retries included, outlive ctx by flushTimeout at most.
	writes, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-writes.Done():
			return
		}
		t := time.NewTimer(flushTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-writes.Done():
		}
	}()
	var wg sync.WaitGroup
	for range r.o.Workers {
		wg.Go(func() {
			for {
				select {
				case ev := <-r.queue:
					r.write(writes, ev)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	<-ctx.Done()
	wg.Wait()
	for writes.Err() == nil {
		select {
		case ev := <-r.queue:
			r.write(writes, ev)
		default:
			return nil
		}
	}
	return nil
}

// NeedLeaderElection is false: every replica records the events of what it does.
func (r *Recorder) NeedLeaderElection() bool { return false }

// write creates the event, retrying a transient error with backoff.
func (r *Recorder) write(ctx context.Context, ev *eventsv1.Event) {
	backoff := wait.Backoff{Duration: r.o.Backoff, Factor: 2, Jitter: 0.2, Steps: r.o.Attempts, Cap: maxBackoff}
	var last error
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		_, err := r.o.Client.Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return true, nil // AlreadyExists: an earlier attempt was written after all
		case apierrors.IsInvalid(err), apierrors.IsForbidden(err), apierrors.IsBadRequest(err), apierrors.IsNotFound(err):
			// Refused (or its namespace is gone): the same event would be refused again.
			return false, err
		default:
			last = err
			return false, nil
		}
	})
	if err == nil {
		return
	}
	if wait.Interrupted(err) && last != nil {
		err = errors.Join(err, last)
	}
	r.o.Log.Error(err, "event not written", "namespace", ev.Namespace, "regarding", ev.Regarding.Name, "reason", ev.Reason)
	r.drop("not written")
}

func (r *Recorder) drop(reason string) {
	if r.o.OnDrop != nil {
		r.o.OnDrop(reason)
	}
}

// truncate cuts s to at most n bytes on a rune boundary, ending it with "..." when cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// ForManager returns a Recorder for the controller named controller that writes with the
// manager's configuration (its own client rate limit, as the manager's event recorder has), and
// adds it to the manager. onDrop may be nil.
func ForManager(mgr manager.Manager, controller string, onDrop func(reason string)) (*Recorder, error) {
	cs, err := eventsclient.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("events client: %w", err)
	}
	r := New(Options{Client: cs, Scheme: mgr.GetScheme(), Controller: controller, OnDrop: onDrop, Log: mgr.GetLogger().WithName("events")})
	if err := mgr.Add(r); err != nil {
		return nil, fmt.Errorf("add the event recorder: %w", err)
	}
	return r, nil
}
