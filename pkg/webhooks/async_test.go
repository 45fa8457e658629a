package webhooks

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// eventually fails the test unless cond holds within limit: a guard, not a speed target.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNotifyAsyncCallsEveryHook(t *testing.T) {
	var calls atomic.Int32
	srv := newServer(t, func(http.ResponseWriter, *http.Request) { calls.Add(1) })
	c := testClient()
	t.Cleanup(c.Close)
	hooks := []siskinv1.CanaryWebhook{hook("a", siskinv1.EventHook, srv.URL), hook("b", siskinv1.EventHook, srv.URL)}
	if dropped := c.NotifyAsync(context.Background(), hooks, testPayload); dropped != 0 {
		t.Fatalf("dropped %d", dropped)
	}
	eventually(t, 10*time.Second, "both event webhooks called", func() bool { return calls.Load() == 2 })
}

func TestNotifyAsyncDropsWhenFullWithoutBlockingOrGrowingGoroutines(t *testing.T) {
	arrived := make(chan struct{}, 100)
	release := make(chan struct{})
	hang := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
		// The server notices a client that went away only once the body has been read.
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	c := testClient(WithEventQueue(1, 1))
	t.Cleanup(c.Close)
	slow := hook("slow", siskinv1.EventHook, hang.URL)
	slow.Timeout = "30s"
	before := testutil.ToFloat64(droppedEvents)

	// The one worker takes the first call and hangs on it.
	c.NotifyAsync(context.Background(), []siskinv1.CanaryWebhook{slow}, testPayload)
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never called the webhook")
	}
	goroutines := runtime.NumGoroutine()
	done := make(chan int, 1)
	go func() {
		hooks := make([]siskinv1.CanaryWebhook, 50)
		for i := range hooks {
			hooks[i] = slow
		}
		done <- c.NotifyAsync(context.Background(), hooks, testPayload)
	}()
	var dropped int
	select {
	case dropped = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("NotifyAsync blocked on a full queue")
	}
	if dropped != 49 {
		t.Errorf("dropped %d, want 49 (one fits in the queue)", dropped)
	}
	if got := testutil.ToFloat64(droppedEvents) - before; got != 49 {
		t.Errorf("siskin_event_webhooks_dropped_total grew by %v, want 49", got)
	}
	// Goroutines do not grow with events: a few for the HTTP connection at most.
	if n := runtime.NumGoroutine(); n > goroutines+5 {
		t.Errorf("goroutines %d -> %d after 50 events", goroutines, n)
	}
}

func TestNotifyAsyncWorkerSurvivesAPanic(t *testing.T) {
	var calls atomic.Int32
	srv := newServer(t, func(http.ResponseWriter, *http.Request) { calls.Add(1) })
	source := HeaderSourceFunc(func(context.Context, string, string) (map[string][]byte, error) {
		panic("broken header source")
	})
	c := testClient(WithHeaderSource(source), WithEventQueue(1, 10))
	t.Cleanup(c.Close)
	bad := hook("bad", siskinv1.EventHook, srv.URL)
	bad.SecretRef = &siskinv1.LocalObjectReference{Name: "s"}
	c.NotifyAsync(context.Background(), []siskinv1.CanaryWebhook{bad, hook("good", siskinv1.EventHook, srv.URL)}, testPayload)
	eventually(t, 10*time.Second, "the call after the panic made", func() bool { return calls.Load() == 1 })
}

func TestConcurrentCallsRecoverFromAPanic(t *testing.T) {
	source := HeaderSourceFunc(func(context.Context, string, string) (map[string][]byte, error) {
		panic("broken header source")
	})
	h := hook("bad", siskinv1.RolloutHook, "http://127.0.0.1:1/")
	h.SecretRef = &siskinv1.LocalObjectReference{Name: "s"}
	got := testClient(WithHeaderSource(source)).Checks(context.Background(), []siskinv1.CanaryWebhook{h}, testPayload)
	if len(got) != 1 || got[0].Verdict != siskinv1.VerdictError || got[0].Message != "webhook call panicked: broken header source" {
		t.Fatalf("checks = %+v, want one error", got)
	}
}

func TestTimeoutOfIsCappedAtMaxTimeout(t *testing.T) {
	for _, in := range []string{"5m", "5m1s", "1h", "2562047h"} {
		if got := timeoutOf(siskinv1.CanaryWebhook{Timeout: in}); got != MaxTimeout {
			t.Errorf("timeoutOf(%q) = %s, want MaxTimeout %s", in, got, MaxTimeout)
		}
	}
	if got := timeoutOf(siskinv1.CanaryWebhook{Timeout: "4m59s"}); got != 4*time.Minute+59*time.Second {
		t.Errorf("timeoutOf(4m59s) = %s", got)
	}
}
