package notify

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// A provider that never answers holds up neither Notify nor the other providers, of the same
// Canary or of another; its request is bounded by the timeout, and it is then retried.
func TestHangingProviderDelaysNoOne(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	hanging := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	fast := newReceiver(t, nil)
	other := newReceiver(t, nil)
	fails := newFailures()
	d := start(t, Options{
		Reader: fakeReader(t,
			provider("hanging", TypeSlack, hanging.url("/services/T/B/X")),
			provider("fast", TypeGeneric, fast.url("/fast")),
			provider("other", TypeDiscord, other.url("/other")),
		),
		Timeout:     time.Second,
		MaxAttempts: 2,
		OnFailure:   fails.record,
	})
	c := testCanary(alert("hanging", "", "hanging"), alert("fast", "", "fast"))
	otherCanary := testCanary(alert("other", "", "other"))
	otherCanary.Name = "frontend"

	// Notify returns at once, however many messages wait for the hanging provider.
	t0 := time.Now()
	for range 50 {
		d.Notify(t.Context(), c, checkFailed)
	}
	if took := time.Since(t0); took > 100*time.Millisecond {
		t.Errorf("50 Notify calls took %s; Notify must not wait on a provider", took)
	}

	hanging.next(t) // the first message is stuck at the hanging provider
	d.Notify(t.Context(), otherCanary, checkFailed)
	for range 50 {
		fast.next(t)
	}
	other.next(t)
	if n := hanging.n.Load(); n != 1 || fails.count() != 0 {
		t.Errorf("the hanging provider got %d requests and %d messages were given up; want the first still hanging while the others were delivered",
			n, fails.count())
	}

	// The hanging request times out and is retried; after MaxAttempts it is given up.
	if got := fails.next(t); got != "test/podinfo slack" {
		t.Errorf("OnFailure(%s)", got)
	}
	key := types.NamespacedName{Namespace: testNS, Name: "hanging"}
	if h, _ := d.Health(key); !h.Failing() {
		t.Errorf("Health(hanging) = %+v, want failing", h)
	}
}

// Rocket.Chat and Google Chat requests are bounded by the timeout like every other provider's,
// retried, and given up after MaxAttempts.
func TestRocketAndGChatRequestsTimeOut(t *testing.T) {
	for _, typ := range []string{TypeRocket, TypeGChat} {
		t.Run(typ, func(t *testing.T) {
			hanging := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
			fails := newFailures()
			d := start(t, Options{
				Reader:  fakeReader(t, provider("p", typ, hanging.url("/hooks/x"))),
				Timeout: 200 * time.Millisecond, MaxAttempts: 2, OnFailure: fails.record,
			})
			d.Notify(t.Context(), testCanary(alert("a", "", "p")), checkFailed)
			if got := fails.next(t); got != "test/podinfo "+typ {
				t.Errorf("OnFailure(%s)", got)
			}
			if n := hanging.n.Load(); n != 2 {
				t.Errorf("%d requests, want 2 (MaxAttempts)", n)
			}
			h, _ := d.Health(types.NamespacedName{Namespace: testNS, Name: "p"})
			if !h.Failing() || !strings.Contains(h.LastError, "post to "+hanging.srv.URL) {
				t.Errorf("Health = %+v, want failing with the host named", h)
			}
		})
	}
}
