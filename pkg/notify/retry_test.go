package notify

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// A 500 is retried, and the retry delivers, whatever the provider's format.
func TestRetriesAfterA500(t *testing.T) {
	for _, typ := range []string{TypeMSTeams, TypeRocket, TypeGChat} {
		t.Run(typ, func(t *testing.T) {
			rv := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					http.Error(w, "upstream unavailable", http.StatusInternalServerError)
					return
				}
				w.WriteHeader(http.StatusOK)
			})
			fails := newFailures()
			d := start(t, Options{Reader: fakeReader(t, provider("p", typ, rv.url("/p"))), OnFailure: fails.record})
			d.Notify(t.Context(), testCanary(alert("a", "", "p")), checkFailed)

			first, second := rv.next(t), rv.next(t)
			if string(first.Body) != string(second.Body) {
				t.Error("the retry sent another body")
			}
			key := types.NamespacedName{Namespace: testNS, Name: "p"}
			waitFor(t, "the delivery", func() bool { h, _ := d.Health(key); return h.Delivered == 1 })
			if n := fails.count(); n != 0 {
				t.Errorf("OnFailure called %d times for a delivered message", n)
			}
		})
	}
}

// A 429 is retried after its Retry-After, not after the (much shorter) backoff.
func TestRetriesAfterA429HonouringRetryAfter(t *testing.T) {
	rv := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	d := start(t, Options{Reader: fakeReader(t, provider("p", TypeDiscord, rv.url("/p")))})
	d.Notify(t.Context(), testCanary(alert("a", "", "p")), checkFailed)

	rv.next(t)
	t0 := time.Now()
	rv.next(t)
	if waited := time.Since(t0); waited < 900*time.Millisecond {
		t.Errorf("retried after %s, want about the 1s of Retry-After", waited)
	}
}

// The Slack Web API's 429 is honoured the same way (slack-go reports it as a typed error).
func TestSlackRateLimitIsRetried(t *testing.T) {
	api := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		slackAPI(n, w, r)
	})
	p, s := withSecret(provider("bot", TypeSlack, ""), map[string]string{SecretKeyToken: "xoxb-test-token"})
	d := start(t, Options{Reader: fakeReader(t, p, s), SlackAPIURL: api.url("/api/")})
	d.Notify(t.Context(), testCanary(alert("a", "", "bot")), checkFailed)
	api.next(t)
	t0 := time.Now()
	api.next(t)
	if waited := time.Since(t0); waited < 900*time.Millisecond {
		t.Errorf("retried after %s, want about the 1s of Retry-After", waited)
	}
	key := types.NamespacedName{Namespace: testNS, Name: "bot"}
	waitFor(t, "the delivery", func() bool { h, _ := d.Health(key); return h.Delivered == 1 })
}

// A provider that keeps failing is given up after MaxAttempts: OnFailure counts the message
// once, and Failing says why, naming the host only.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	rv := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "still broken", http.StatusBadGateway)
	})
	fails := newFailures()
	p, s := withSecret(provider("slack", TypeSlack, ""), map[string]string{SecretKeyAddress: rv.url("/services/T000/B000/SECRETPATH")})
	d := start(t, Options{Reader: fakeReader(t, p, s), MaxAttempts: 3, OnFailure: fails.record})
	d.Notify(t.Context(), testCanary(alert("a", siskinv1.SeverityWarn, "slack")), checkFailed)

	if got := fails.next(t); got != "test/podinfo slack" {
		t.Errorf("OnFailure(%s), want test/podinfo slack", got)
	}
	if got := rv.n.Load(); got != 3 {
		t.Errorf("sent %d times, want 3", got)
	}
	key := types.NamespacedName{Namespace: testNS, Name: "slack"}
	want := "post to " + rv.srv.URL + ": answered 502 Bad Gateway (after 3 attempts)"
	if got := d.Failing()[key]; got != want {
		t.Errorf("Failing()[%s] = %q, want %q", key, got, want)
	}
	h, _ := d.Health(key)
	if h.ConsecutiveFailures != 1 || h.Failed != 1 || h.Type != TypeSlack {
		t.Errorf("Health = %+v", h)
	}

	// The provider recovers: the next message clears the error.
	rv2 := newReceiver(t, nil)
	d2 := start(t, Options{Reader: fakeReader(t, provider("p", TypeGeneric, rv2.url("/p")))})
	d2.Notify(t.Context(), testCanary(alert("a", "", "p")), checkFailed)
	rv2.next(t)
	waitFor(t, "no failing provider", func() bool { return len(d2.Failing()) == 0 })
}

// A 4xx other than 429 is the receiver's final word: no retry.
func TestClientErrorIsNotRetried(t *testing.T) {
	for _, typ := range []string{TypeDiscord, TypeRocket, TypeGChat} {
		t.Run(typ, func(t *testing.T) {
			rv := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				http.Error(w, `{"message": "Invalid Webhook Token", "code": 50027}`, http.StatusUnauthorized)
			})
			fails := newFailures()
			d := start(t, Options{Reader: fakeReader(t, provider("p", typ, rv.url("/api/webhooks/1/tok"))), OnFailure: fails.record})
			d.Notify(t.Context(), testCanary(alert("a", "", "p")), checkFailed)
			if got := fails.next(t); got != "test/podinfo "+typ {
				t.Errorf("OnFailure(%s), want test/podinfo %s", got, typ)
			}
			if got := rv.n.Load(); got != 1 {
				t.Errorf("sent %d times, want 1", got)
			}
			msg := d.Failing()[types.NamespacedName{Namespace: testNS, Name: "p"}]
			if !strings.Contains(msg, "answered 401 Unauthorized") || !strings.Contains(msg, "Invalid Webhook Token") {
				t.Errorf("Failing message = %q, want the status and the answer's excerpt", msg)
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	cases := map[string]time.Duration{
		"":                              0,
		"1":                             time.Second,
		"0.25":                          250 * time.Millisecond,
		"-3":                            0,
		"soon":                          0,
		"Wed, 21 Oct 2015 07:28:00 GMT": 0, // in the past
	}
	for in, want := range cases {
		if got := retryAfter(in); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := retryAfter(future); got < 59*time.Minute {
		t.Errorf("retryAfter(an hour from now) = %s", got)
	}
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	d := &Dispatcher{o: Options{Backoff: 100 * time.Millisecond, MaxBackoff: 350 * time.Millisecond}}
	for attempt, full := range map[int]time.Duration{1: 100, 2: 200, 3: 350, 10: 350} {
		full *= time.Millisecond
		for range 20 {
			if got := d.backoff(attempt); got < full/2 || got > full {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, got, full/2, full)
			}
		}
	}
}
