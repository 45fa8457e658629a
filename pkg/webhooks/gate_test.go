package webhooks

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// gateWithin runs Gate and fails the test if it has not returned within limit: a guard against
// hanging forever, not a speed target.
func gateWithin(t *testing.T, c *Client, hooks []siskinv1.CanaryWebhook, typ siskinv1.WebhookType, limit time.Duration) canary.Gate {
	t.Helper()
	done := make(chan canary.Gate, 1)
	go func() { done <- c.Gate(context.Background(), hooks, typ, testPayload) }()
	select {
	case g := <-done:
		return g
	case <-time.After(limit):
		t.Fatalf("gate %s did not return within %s", typ, limit)
		return canary.Gate{}
	}
}

func TestGateCallsEveryHookConcurrently(t *testing.T) {
	// Each request waits until all three have arrived: called one after the other, none
	// would answer 2xx.
	var arrived sync.WaitGroup
	arrived.Add(3)
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		arrived.Done()
		done := make(chan struct{})
		go func() { arrived.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			w.WriteHeader(http.StatusGatewayTimeout)
		}
	})
	hooks := []siskinv1.CanaryWebhook{
		hook("a", siskinv1.ConfirmPromotionHook, srv.URL),
		hook("b", siskinv1.ConfirmPromotionHook, srv.URL),
		hook("c", siskinv1.ConfirmPromotionHook, srv.URL),
		hook("not-called", siskinv1.ConfirmRolloutHook, srv.URL+"/wrong"),
	}
	g := gateWithin(t, testClient(), hooks, siskinv1.ConfirmPromotionHook, 30*time.Second)
	if !g.Open || g.Message != "confirm-promotion gate open: all 3 webhooks answered 2xx" {
		t.Fatalf("gate = %+v, want open", g)
	}
}

func TestGateClosedNamesTheFirstHookThatClosedIt(t *testing.T) {
	ok := newServer(t, answer(http.StatusAccepted, ""))
	denied := newServer(t, answer(http.StatusForbidden, "approval pending"))
	hooks := []siskinv1.CanaryWebhook{
		hook("load", siskinv1.ConfirmTrafficIncreaseHook, ok.URL),
		hook("approve", siskinv1.ConfirmTrafficIncreaseHook, denied.URL),
		hook("approve-2", siskinv1.ConfirmTrafficIncreaseHook, denied.URL),
	}
	g := testClient().Gate(context.Background(), hooks, siskinv1.ConfirmTrafficIncreaseHook, testPayload)
	const want = "confirm-traffic-increase gate closed: webhook approve answered 403: approval pending; 1 more of 3 webhooks did not answer 2xx"
	if g.Open || g.Message != want {
		t.Fatalf("gate = %+v, want closed with %q", g, want)
	}
}

func TestGateWithOneHookNamesIt(t *testing.T) {
	ok := newServer(t, answer(http.StatusOK, "approved"))
	g := testClient().Gate(context.Background(), []siskinv1.CanaryWebhook{hook("approve", siskinv1.ConfirmRolloutHook, ok.URL)}, siskinv1.ConfirmRolloutHook, testPayload)
	if !g.Open || g.Message != "confirm-rollout gate open: webhook approve answered 200: approved" {
		t.Fatalf("gate = %+v", g)
	}
}

func TestGateClosedByAHangingHookWithinItsTimeout(t *testing.T) {
	ok := newServer(t, answer(http.StatusOK, ""))
	slow := newHangingServer(t)
	h := hook("slow", siskinv1.ConfirmPromotionHook, slow.URL)
	h.Timeout = "100ms"
	hooks := []siskinv1.CanaryWebhook{hook("fast", siskinv1.ConfirmPromotionHook, ok.URL), h}
	g := gateWithin(t, testClient(), hooks, siskinv1.ConfirmPromotionHook, 10*time.Second)
	if g.Open || !strings.Contains(g.Message, "webhook slow") || !strings.Contains(g.Message, "deadline exceeded") {
		t.Fatalf("gate = %+v, want closed by slow", g)
	}
}

func TestGateWithoutHooksOfTheType(t *testing.T) {
	c := testClient()
	hooks := []siskinv1.CanaryWebhook{hook("load", siskinv1.RolloutHook, "http://127.0.0.1:1/")}
	if g := c.Gate(context.Background(), hooks, siskinv1.ConfirmPromotionHook, testPayload); !g.Open {
		t.Errorf("confirm gate without webhooks = %+v, want open", g)
	}
	if g := c.Gate(context.Background(), hooks, siskinv1.RollbackHook, testPayload); g.Open {
		t.Errorf("rollback gate without webhooks = %+v, want closed (no rollback)", g)
	}
}

func TestRollbackGateOpensWhenAnyHookAnswers2xx(t *testing.T) {
	no := newServer(t, answer(http.StatusNotFound, "keep going"))
	yes := newServer(t, answer(http.StatusOK, "roll back"))
	hooks := []siskinv1.CanaryWebhook{
		hook("watch-a", siskinv1.RollbackHook, no.URL),
		hook("watch-b", siskinv1.RollbackHook, yes.URL),
	}
	g := testClient().Gate(context.Background(), hooks, siskinv1.RollbackHook, testPayload)
	if !g.Open || g.Message != "rollback requested: webhook watch-b answered 200: roll back" {
		t.Fatalf("gate = %+v, want a rollback requested by watch-b", g)
	}
}

func TestRollbackGateStaysClosedWhenNoHookAnswers2xx(t *testing.T) {
	no := newServer(t, answer(http.StatusNotFound, ""))
	broken := newServer(t, answer(http.StatusInternalServerError, ""))
	hooks := []siskinv1.CanaryWebhook{
		hook("watch-a", siskinv1.RollbackHook, no.URL),
		hook("watch-b", siskinv1.RollbackHook, broken.URL),
		hook("unreachable", siskinv1.RollbackHook, "http://127.0.0.1:1/"),
	}
	g := testClient().Gate(context.Background(), hooks, siskinv1.RollbackHook, testPayload)
	if g.Open || g.Message != "no rollback requested: webhook watch-a answered 404" {
		t.Fatalf("gate = %+v, want no rollback", g)
	}
}

func TestChecksReportEveryRolloutHook(t *testing.T) {
	ok := newServer(t, answer(http.StatusOK, "load test started"))
	bad := newServer(t, answer(http.StatusBadGateway, "smoke test failed:\nGET / 500"))
	var rolloutTypes sync.Map
	seen := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
		var p Payload
		_ = json.NewDecoder(r.Body).Decode(&p)
		rolloutTypes.Store(p.Type, true)
	})
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	hooks := []siskinv1.CanaryWebhook{
		hook("smoke", siskinv1.RolloutHook, bad.URL),
		hook("pre", siskinv1.PreRolloutHook, ok.URL),
		hook("gate", siskinv1.ConfirmPromotionHook, bad.URL),
		hook("load", "", ok.URL),
		hook("typed", siskinv1.RolloutHook, seen.URL),
		hook("unreachable", siskinv1.RolloutHook, "http://127.0.0.1:1/hook"),
	}
	got := testClient(WithClock(func() time.Time { return now })).Checks(context.Background(), hooks, testPayload)

	want := []siskinv1.CheckResult{
		{Name: "pre", Verdict: siskinv1.VerdictPass, Message: "answered 200: load test started"},
		{Name: "smoke", Verdict: siskinv1.VerdictFail, Message: "answered 502: smoke test failed: GET / 500"},
		{Name: "load", Verdict: siskinv1.VerdictPass, Message: "answered 200: load test started"},
		{Name: "typed", Verdict: siskinv1.VerdictPass, Message: "answered 200"},
		{Name: "unreachable", Verdict: siskinv1.VerdictError, Message: "post to http://127.0.0.1:1/hook: dial tcp 127.0.0.1:1: connect: connection refused"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d checks, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.Name || g.Kind != CheckKind || g.Verdict != w.Verdict || g.Message != w.Message || !g.Time.Time.Equal(now) {
			t.Errorf("check %d = %+v, want %+v", i, g, w)
		}
	}
	if _, ok := rolloutTypes.Load(siskinv1.RolloutHook); !ok {
		t.Errorf("rollout payload did not carry type rollout")
	}
}

func TestChecksSkipRolloutHooksWhenPreRolloutFails(t *testing.T) {
	var rolloutCalls atomic.Int32
	rollout := newServer(t, func(http.ResponseWriter, *http.Request) { rolloutCalls.Add(1) })
	pre := newServer(t, answer(http.StatusConflict, "migration failed"))
	hooks := []siskinv1.CanaryWebhook{
		hook("migrate", siskinv1.PreRolloutHook, pre.URL),
		hook("load", siskinv1.RolloutHook, rollout.URL),
	}
	got := testClient().Checks(context.Background(), hooks, testPayload)
	if len(got) != 1 || got[0].Verdict != siskinv1.VerdictFail || got[0].Message != "answered 409: migration failed" {
		t.Fatalf("checks = %+v, want the failed pre-rollout only", got)
	}
	if rolloutCalls.Load() != 0 {
		t.Errorf("rollout webhook called after a failed pre-rollout")
	}
}

func TestNotifyCallsEveryGivenHookWithinTheirTimeouts(t *testing.T) {
	var types sync.Map
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		var p Payload
		_ = json.NewDecoder(r.Body).Decode(&p)
		types.Store(r.URL.Path, p.Type)
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	hang := newHangingServer(t)
	slow := hook("slow", siskinv1.PostRolloutHook, hang.URL)
	slow.Timeout = "100ms"
	hooks := []siskinv1.CanaryWebhook{
		hook("post", siskinv1.PostRolloutHook, srv.URL+"/post"),
		hook("broken", siskinv1.PostRolloutHook, srv.URL+"/broken"),
		slow,
		hook("event", siskinv1.EventHook, srv.URL+"/event"),
	}
	done := make(chan []Result, 1)
	go func() {
		done <- testClient().Notify(context.Background(), OfType(hooks, siskinv1.PostRolloutHook), testPayload)
	}()
	var got []Result
	select {
	case got = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Notify blocked past the webhooks' timeouts")
	}
	if len(got) != 3 || !got[0].OK() || got[1].OK() || got[2].OK() {
		t.Fatalf("results = %+v, want post ok, broken and slow failed", got)
	}
	if typ, _ := types.Load("/post"); typ != siskinv1.PostRolloutHook {
		t.Errorf("post-rollout payload type = %v", typ)
	}
	if _, called := types.Load("/event"); called {
		t.Errorf("event webhook called though not selected")
	}
}

func TestOfType(t *testing.T) {
	hooks := []siskinv1.CanaryWebhook{
		{Name: "a", Type: siskinv1.PreRolloutHook}, {Name: "b"}, {Name: "c", Type: siskinv1.RolloutHook},
		{Name: "d", Type: siskinv1.EventHook},
	}
	var names []string
	for _, h := range OfType(hooks, siskinv1.RolloutHook, siskinv1.PreRolloutHook) {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("OfType = %v, want a,b,c (an unset type is rollout; spec order kept)", names)
	}
}
