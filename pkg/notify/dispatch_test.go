package notify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestSeverityFilter(t *testing.T) {
	cases := []struct {
		alert, event siskinv1.AlertSeverity
		want         bool
	}{
		{siskinv1.SeverityInfo, siskinv1.SeverityInfo, true},
		{siskinv1.SeverityInfo, siskinv1.SeverityWarn, true},
		{siskinv1.SeverityInfo, siskinv1.SeverityError, true},
		{siskinv1.SeverityWarn, siskinv1.SeverityInfo, false},
		{siskinv1.SeverityWarn, siskinv1.SeverityWarn, true},
		{siskinv1.SeverityWarn, siskinv1.SeverityError, true},
		{siskinv1.SeverityError, siskinv1.SeverityInfo, false},
		{siskinv1.SeverityError, siskinv1.SeverityWarn, false},
		{siskinv1.SeverityError, siskinv1.SeverityError, true},
		// An alert without a severity is an info alert (in the Flagger model it never fired).
		{"", siskinv1.SeverityInfo, true},
		{"", siskinv1.SeverityError, true},
		// An event without a severity is info.
		{siskinv1.SeverityInfo, "", true},
		{siskinv1.SeverityWarn, "", false},
	}
	for _, tc := range cases {
		if got := receives(tc.alert, tc.event); got != tc.want {
			t.Errorf("alert %q receives event %q = %v, want %v", tc.alert, tc.event, got, tc.want)
		}
	}
}

// Alerts of each severity, through real deliveries: info gets everything, warn gets warn and
// error, error gets error only; two alerts on one provider deliver once.
func TestAlertsReceiveTheirSeverities(t *testing.T) {
	rvs := map[string]*receiver{}
	var objs []*siskinv1.AlertProvider
	for _, name := range []string{"info", "warn", "error", "unset"} {
		rvs[name] = newReceiver(t, nil)
		objs = append(objs, provider(name, TypeGeneric, rvs[name].url("/"+name)))
	}
	d := start(t, Options{Reader: fakeReader(t, objs[0], objs[1], objs[2], objs[3])})
	c := testCanary(
		alert("a-info", siskinv1.SeverityInfo, "info"),
		alert("a-warn", siskinv1.SeverityWarn, "warn"),
		alert("a-error", siskinv1.SeverityError, "error"),
		alert("a-unset", "", "unset"),
		alert("a-info-again", siskinv1.SeverityError, "info"), // same provider: one message
	)

	for _, sev := range []siskinv1.AlertSeverity{siskinv1.SeverityInfo, siskinv1.SeverityWarn, siskinv1.SeverityError} {
		d.Notify(t.Context(), c, event("Test", sev, string(sev)))
	}
	want := map[string][]string{
		"info":  {"info", "warn", "error"},
		"unset": {"info", "warn", "error"},
		"warn":  {"warn", "error"},
		"error": {"error"},
	}
	for name, sevs := range want {
		for _, sev := range sevs {
			var got genericMessage
			if err := json.Unmarshal(rvs[name].next(t).Body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Severity != sev {
				t.Errorf("provider %s: got severity %q, want %q", name, got.Severity, sev)
			}
		}
	}
	for _, rv := range rvs {
		rv.quiet(t, 50*time.Millisecond)
	}
}

// A muted event is announced to no one.
func TestMutedEventIsNotAnnounced(t *testing.T) {
	rv := newReceiver(t, nil)
	d := start(t, Options{Reader: fakeReader(t, provider("p", TypeGeneric, rv.url("/p")))})
	c := testCanary(alert("a", siskinv1.SeverityInfo, "p"))
	muted := event(siskinv1.ReasonWaitingForApproval, siskinv1.SeverityInfo, "muted")
	muted.Mute = true
	d.Notify(t.Context(), c, muted)
	d.Notify(t.Context(), c, event(siskinv1.ReasonRolloutApproved, siskinv1.SeverityInfo, "approved"))
	var got genericMessage
	_ = json.Unmarshal(rv.next(t).Body, &got)
	if got.Reason != siskinv1.ReasonRolloutApproved {
		t.Errorf("first delivery is %q, want the unmuted RolloutApproved", got.Reason)
	}
}

// One provider receives a rollout's messages in the order they were announced, however slow
// it answers.
func TestMessagesArriveInOrder(t *testing.T) {
	rv := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		time.Sleep(time.Duration(n%3) * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	d := start(t, Options{Reader: fakeReader(t, provider("p", TypeGeneric, rv.url("/p")))})
	c := testCanary(alert("a", siskinv1.SeverityInfo, "p"))
	const n = 30
	for i := range n {
		c.Status.CanaryWeight = int32(i)
		d.Notify(t.Context(), c, event(siskinv1.ReasonStepWeightIncreased, siskinv1.SeverityInfo, fmt.Sprint(i)))
	}
	for i := range n {
		var got genericMessage
		_ = json.Unmarshal(rv.next(t).Body, &got)
		if got.Message != fmt.Sprint(i) || got.Fields["weight"] != fmt.Sprint(i) {
			t.Fatalf("message %d is %q (weight %s), want %d", i, got.Message, got.Fields["weight"], i)
		}
	}
}

// A provider's full queue drops its oldest message, counts it in Health and OnFailure, and
// delivers the rest in order.
func TestFullQueueDropsTheOldest(t *testing.T) {
	release := make(chan struct{})
	rv := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	fails := newFailures()
	d := start(t, Options{Reader: fakeReader(t, provider("p", TypeGeneric, rv.url("/p"))), QueueSize: 2, OnFailure: fails.record})
	c := testCanary(alert("a", siskinv1.SeverityInfo, "p"))

	d.Notify(t.Context(), c, event("Step", siskinv1.SeverityInfo, "1"))
	rv.next(t) // 1 is in flight, held by the receiver
	for i := 2; i <= 5; i++ {
		d.Notify(t.Context(), c, event("Step", siskinv1.SeverityInfo, fmt.Sprint(i)))
	}
	key := types.NamespacedName{Namespace: testNS, Name: "p"}
	waitFor(t, "two drops", func() bool { h, _ := d.Health(key); return h.Dropped == 2 })
	close(release)

	for _, want := range []string{"4", "5"} {
		var got genericMessage
		_ = json.Unmarshal(rv.next(t).Body, &got)
		if got.Message != want {
			t.Errorf("delivered %q, want %q (2 and 3 dropped)", got.Message, want)
		}
	}
	rv.quiet(t, 50*time.Millisecond)
	for range 2 {
		if got := fails.next(t); got != "test/podinfo generic" {
			t.Errorf("OnFailure(%s), want test/podinfo generic", got)
		}
	}
}

// An alert naming a missing AlertProvider, or one whose Secret lacks the address, fails that
// provider only: the failure is counted, health says why, and the other alert is delivered.
func TestUnresolvableProviderFailsAlone(t *testing.T) {
	rv := newReceiver(t, nil)
	noAddress, s := withSecret(provider("no-address", TypeDiscord, ""), map[string]string{"other": "x"})
	fails := newFailures()
	changed := make(chan types.NamespacedName, 8)
	d := start(t, Options{
		Reader:         fakeReader(t, provider("ok", TypeGeneric, rv.url("/ok")), noAddress, s),
		OnFailure:      fails.record,
		OnHealthChange: func(p types.NamespacedName) { changed <- p },
	})
	c := testCanary(
		alert("missing", siskinv1.SeverityInfo, "missing"),
		alert("no-address", siskinv1.SeverityInfo, "no-address"),
		alert("ok", siskinv1.SeverityInfo, "ok"),
	)
	d.Notify(t.Context(), c, checkFailed)
	rv.next(t)

	got := []string{fails.next(t), fails.next(t)}
	if got[0] != "test/podinfo unknown" || got[1] != "test/podinfo discord" {
		t.Errorf("OnFailure calls = %q, want the missing provider (unknown type), then the discord one", got)
	}
	failing := d.Failing()
	want := map[types.NamespacedName]string{
		{Namespace: testNS, Name: "missing"}:    "no AlertProvider test/missing",
		{Namespace: testNS, Name: "no-address"}: "alert provider test/no-address: invalid alert provider: no address (spec.address or the Secret key address)",
	}
	if len(failing) != len(want) {
		t.Errorf("Failing() = %v, want %v", failing, want)
	}
	for k, msg := range want {
		if failing[k] != msg {
			t.Errorf("Failing()[%s] = %q, want %q", k, failing[k], msg)
		}
	}
	for range 2 {
		select {
		case p := <-changed:
			if p.Name == "ok" {
				t.Errorf("OnHealthChange(%s) for a provider that never failed", p)
			}
		case <-time.After(wait):
			t.Fatal("OnHealthChange was not called for a failing provider")
		}
	}
	waitFor(t, "the ok provider's delivery", func() bool {
		h, ok := d.Health(types.NamespacedName{Namespace: testNS, Name: "ok"})
		return ok && !h.Failing() && h.Delivered == 1
	})
	if strings.Contains(fmt.Sprint(failing), "http") {
		t.Errorf("Failing() names an address: %v", failing)
	}
}
