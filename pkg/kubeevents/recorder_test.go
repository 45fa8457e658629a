package kubeevents

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	eventsclient "k8s.io/client-go/kubernetes/typed/events/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func testScheme(t testing.TB) *k8sruntime.Scheme {
	t.Helper()
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := siskinv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func canary(name, rv string) *siskinv1.Canary {
	return &siskinv1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, UID: types.UID("uid-" + name), ResourceVersion: rv}}
}

// run starts r until the test ends.
func run(t *testing.T, r *Recorder) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// created waits for n events in the fake clientset and returns them.
func created(t *testing.T, cs *fake.Clientset, n int) []eventsv1.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := cs.EventsV1().Events("").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) >= n {
			return list.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events written within 10s, want %d", len(list.Items), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type drops struct {
	mu      sync.Mutex
	reasons []string
}

func (d *drops) add(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reasons = append(d.reasons, reason)
}

func (d *drops) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.reasons...)
}

func TestEventfWritesTheEventOnItsObject(t *testing.T) {
	cs := fake.NewClientset()
	at := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	r := New(Options{Client: cs.EventsV1(), Scheme: testScheme(t), Controller: "siskin", Instance: "siskin-0", Now: func() time.Time { return at }})
	run(t, r)
	r.Eventf(canary("podinfo", "42"), nil, corev1.EventTypeNormal, "StepWeightIncreased", "Progressing", "canary weight %d", 25)
	ev := created(t, cs, 1)[0]
	if ev.Namespace != "apps" || !strings.HasPrefix(ev.Name, "podinfo.") {
		t.Errorf("event %s/%s, want apps/podinfo.<suffix>", ev.Namespace, ev.Name)
	}
	want := corev1.ObjectReference{Kind: "Canary", APIVersion: siskinv1.GroupVersion.String(), Namespace: "apps", Name: "podinfo", UID: "uid-podinfo", ResourceVersion: "42"}
	if ev.Regarding != want {
		t.Errorf("regarding %+v, want %+v", ev.Regarding, want)
	}
	if ev.Type != corev1.EventTypeNormal || ev.Reason != "StepWeightIncreased" || ev.Action != "Progressing" || ev.Note != "canary weight 25" {
		t.Errorf("type, reason, action, note = %q, %q, %q, %q", ev.Type, ev.Reason, ev.Action, ev.Note)
	}
	if ev.ReportingController != "siskin" || ev.ReportingInstance != "siskin-0" || !ev.EventTime.Time.Equal(at) || ev.Series != nil {
		t.Errorf("reporting %q/%q, time %v, series %v", ev.ReportingController, ev.ReportingInstance, ev.EventTime, ev.Series)
	}
}

// The API server refuses a note over 1,024 bytes, which would lose the whole event.
func TestALongNoteIsCutOnACharacterBoundary(t *testing.T) {
	cs := fake.NewClientset()
	r := New(Options{Client: cs.EventsV1(), Scheme: testScheme(t), Controller: "siskin"})
	run(t, r)
	r.Eventf(canary("podinfo", "1"), nil, corev1.EventTypeWarning, "AnalysisError", "Progressing", "%s", strings.Repeat("é", 600))
	note := created(t, cs, 1)[0].Note
	if len(note) > maxNoteBytes || !utf8.ValidString(note) || !strings.HasSuffix(note, "...") {
		t.Errorf("note of %d bytes (valid UTF-8 %v), want at most %d ending in ...", len(note), utf8.ValidString(note), maxNoteBytes)
	}
	if got := truncate("short", 10); got != "short" {
		t.Errorf("truncate kept %q of a short string", got)
	}
}

func TestEventsAtTheSameInstantGetTheirOwnNames(t *testing.T) {
	cs := fake.NewClientset()
	at := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	r := New(Options{Client: cs.EventsV1(), Scheme: testScheme(t), Controller: "siskin", Now: func() time.Time { return at }})
	run(t, r)
	for i := range 3 {
		r.Eventf(canary("podinfo", fmt.Sprint(i)), nil, corev1.EventTypeNormal, "Synced", "Initialized", "n %d", i)
	}
	names := map[string]bool{}
	for _, ev := range created(t, cs, 3) {
		names[ev.Name] = true
	}
	if len(names) != 3 {
		t.Errorf("3 events at one instant got names %v", names)
	}
}

func TestAFullQueueDropsNewEventsAndCountsThem(t *testing.T) {
	cs := fake.NewClientset()
	d := &drops{}
	r := New(Options{Client: cs.EventsV1(), Scheme: testScheme(t), Controller: "siskin", QueueSize: 2, OnDrop: d.add})
	for i := range 5 { // not started: nothing drains the queue
		r.Eventf(canary(fmt.Sprintf("c%d", i), "1"), nil, corev1.EventTypeNormal, "Synced", "Initialized", "n")
	}
	if got := d.list(); len(got) != 3 || got[0] != "queue full" {
		t.Errorf("drops %v, want 3 × queue full", got)
	}
	run(t, r)
	evs := created(t, cs, 2)
	if len(evs) != 2 {
		t.Errorf("%d events written, want the 2 queued", len(evs))
	}
}

func TestAnUnknownEventTypeIsRefusedAtOnce(t *testing.T) {
	d := &drops{}
	r := New(Options{Client: fake.NewClientset().EventsV1(), Scheme: testScheme(t), Controller: "siskin", OnDrop: d.add})
	r.Eventf(canary("podinfo", "1"), nil, "Bad", "Synced", "Initialized", "n")
	if got := d.list(); len(got) != 1 || got[0] != "invalid" || len(r.queue) != 0 {
		t.Errorf("drops %v, queued %d; want one invalid drop and nothing queued", got, len(r.queue))
	}
}

// failing makes the fake clientset answer the first n creates of events with err.
func failing(cs *fake.Clientset, n int32, err error) *atomic.Int32 {
	var calls atomic.Int32
	cs.PrependReactor("create", "events", func(k8stesting.Action) (bool, k8sruntime.Object, error) {
		if calls.Add(1) <= n {
			return true, nil, err
		}
		return false, nil, nil
	})
	return &calls
}

func TestATransientErrorIsRetried(t *testing.T) {
	cs := fake.NewClientset()
	calls := failing(cs, 2, apierrors.NewServiceUnavailable("etcd is down"))
	d := &drops{}
	r := New(Options{Client: cs.EventsV1(), Scheme: testScheme(t), Controller: "siskin", Backoff: time.Millisecond, OnDrop: d.add})
	run(t, r)
	r.Eventf(canary("podinfo", "1"), nil, corev1.EventTypeNormal, "Synced", "Initialized", "n")
	created(t, cs, 1)
	if calls.Load() != 3 || len(d.list()) != 0 {
		t.Errorf("%d create calls and drops %v, want 3 calls (2 refused) and none dropped", calls.Load(), d.list())
	}
}

func TestARefusedEventIsNotRetried(t *testing.T) {
	cs := fake.NewClientset()
	refused := apierrors.NewInvalid(schema.GroupKind{Group: "events.k8s.io", Kind: "Event"}, "x", nil)
	calls := failing(cs, 100, refused)
	d := &drops{}
	r := New(Options{Client: cs.EventsV1(), Scheme: testScheme(t), Controller: "siskin", Backoff: time.Millisecond, OnDrop: d.add})
	run(t, r)
	r.Eventf(canary("podinfo", "1"), nil, corev1.EventTypeNormal, "Synced", "Initialized", "n")
	deadline := time.Now().Add(5 * time.Second)
	for len(d.list()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := d.list(); calls.Load() != 1 || len(got) != 1 || got[0] != "not written" {
		t.Errorf("%d create calls and drops %v, want 1 call and one 'not written' drop", calls.Load(), got)
	}
}

func TestQueuedEventsAreWrittenWhenTheRecorderStops(t *testing.T) {
	cs := fake.NewClientset()
	r := New(Options{Client: cs.EventsV1(), Scheme: testScheme(t), Controller: "siskin"})
	for i := range 3 {
		r.Eventf(canary(fmt.Sprintf("c%d", i), "1"), nil, corev1.EventTypeNormal, "PromotionCompleted", "Succeeded", "done")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stopping before the workers ran: the flush writes what is queued
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if evs := created(t, cs, 3); len(evs) != 3 {
		t.Errorf("%d events written on stop, want 3", len(evs))
	}
}

// discard is an events client that counts what it is asked to create and keeps nothing.
type discard struct {
	eventsclient.EventInterface
	n atomic.Int64
}

func (d *discard) Create(_ context.Context, ev *eventsv1.Event, _ metav1.CreateOptions) (*eventsv1.Event, error) {
	d.n.Add(1)
	return ev, nil
}

func (d *discard) Patch(_ context.Context, name string, _ types.PatchType, _ []byte, _ metav1.PatchOptions, _ ...string) (*eventsv1.Event, error) {
	return &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: name}}, nil
}

type discardClient struct {
	eventsclient.EventsV1Interface
	d *discard
}

func (c discardClient) Events(string) eventsclient.EventInterface { return c.d }

// retainedPerEvent records n events about n Canaries (as a fleet-wide change does, each
// reference with its own resourceVersion), waits until the client was asked to write them all,
// and returns the heap still in use per event.
func retainedPerEvent(t *testing.T, n int, d *discard, record events.EventRecorder) float64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		record.Eventf(canary(fmt.Sprintf("app-%05d", i), fmt.Sprint(1000+i)), nil, corev1.EventTypeNormal, "StepWeightIncreased", "Progressing",
			"advance podinfo canary weight %d; checks passed: request-success-rate 99.9%%, request-duration 120ms", 25)
		if i%200 == 199 {
			time.Sleep(time.Millisecond) // let the writers keep up, as they do between rounds
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for d.n.Load() < int64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events written within 20s", d.n.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the writers return from their last call
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// The events of a fleet-wide change are not kept once written. client-go's events
// broadcaster (which controller-runtime's GetEventRecorder uses) keeps each in a map for six
// to twelve minutes; it is measured too, to show the measurement sees what is kept.
func TestRecorderKeepsNoEventOnceWritten(t *testing.T) {
	const n = 4000
	scheme := testScheme(t)

	ours := &discard{}
	r := New(Options{Client: discardClient{d: ours}, Scheme: scheme, Controller: "siskin", QueueSize: n})
	run(t, r)
	kept := retainedPerEvent(t, n, ours, r)

	theirs := &discard{}
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: discardClient{d: theirs}})
	stop := make(chan struct{})
	b.StartRecordingToSink(stop)
	defer close(stop)
	keptByBroadcaster := retainedPerEvent(t, n, theirs, b.NewRecorder(scheme, "siskin"))

	t.Logf("heap kept per event written: %.0f bytes by this recorder, %.0f bytes by client-go's broadcaster", kept, keptByBroadcaster)
	if kept > 100 {
		t.Errorf("%.0f bytes kept per event once written, want none (at most 100 for the measurement's noise)", kept)
	}
	if keptByBroadcaster < 500 {
		t.Errorf("client-go's broadcaster kept %.0f bytes per event: the measurement does not see what is kept", keptByBroadcaster)
	}
}

func TestZeroOrNegativeOptionsTakeTheDefaults(t *testing.T) {
	r := New(Options{QueueSize: -1, Workers: 0, Attempts: -3, Backoff: -time.Second, Controller: "siskin"})
	if cap(r.queue) != DefaultQueueSize || r.o.Workers != DefaultWorkers || r.o.Attempts != DefaultAttempts || r.o.Backoff != DefaultBackoff || r.o.Now == nil {
		t.Errorf("options %+v, queue of %d: want the defaults", r.o, cap(r.queue))
	}
	if !strings.HasPrefix(r.o.Instance, "siskin-") {
		t.Errorf("reporting instance %q, want siskin-<host name>", r.o.Instance)
	}
}
