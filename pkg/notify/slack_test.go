package notify

import (
	"net/url"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// With a bot token, one rollout is one thread: the first message of a revision is posted to the
// channel, later ones reply to it (thread_ts), and a retry or a new revision starts a new thread.
func TestSlackBotTokenThreadsOneRollout(t *testing.T) {
	api := newReceiver(t, slackAPI)
	p, s := withSecret(provider("slack-bot", TypeSlack, ""), map[string]string{
		SecretKeyToken: "xoxb-test-token", SecretKeyAddress: api.url("/api/chat.postMessage"),
	})
	d := start(t, Options{Reader: fakeReader(t, p, s), Global: GlobalOptions{ClusterName: "prod-eu-1"}})
	c := testCanary(alert("slack", siskinv1.SeverityInfo, "slack-bot"))

	c.Status.Phase, c.Status.CanaryWeight, c.Status.FailedChecks = siskinv1.PhaseProgressing, 0, 0
	d.Notify(t.Context(), c, event(siskinv1.ReasonNewRevision, siskinv1.SeverityInfo, "new revision 7f9c2ba4e88f of podinfo detected"))
	c.Status.CanaryWeight, c.Status.FailedChecks = 20, 1
	d.Notify(t.Context(), c, checkFailed)
	c.Status.Phase, c.Status.FailedChecks, c.Status.CanaryWeight = siskinv1.PhaseFailed, 2, 0
	d.Notify(t.Context(), c, event(siskinv1.ReasonRolledBack, siskinv1.SeverityError, "revision 7f9c2ba4e88f rolled back: metric request-duration value 640 above max 500; failed checks 2/2"))

	first, second, third := api.next(t), api.next(t), api.next(t)
	if first.Path != "/api/chat.postMessage" {
		t.Fatalf("path = %q, want /api/chat.postMessage", first.Path)
	}
	formGolden(t, "slack-bot-first.txt", first.Body)
	formGolden(t, "slack-bot-reply.txt", second.Body)
	if got := form(t, first).Get("thread_ts"); got != "" {
		t.Errorf("first message has thread_ts %q; it must start the thread", got)
	}
	if got := form(t, second).Get("thread_ts"); got != "1700000000.000001" {
		t.Errorf("second message thread_ts = %q, want the first message's ts 1700000000.000001", got)
	}
	rb := form(t, third)
	if rb.Get("thread_ts") != "1700000000.000001" || rb.Get("reply_broadcast") != "true" {
		t.Errorf("rollback: thread_ts = %q, reply_broadcast = %q; want a reply in the thread, also shown in the channel",
			rb.Get("thread_ts"), rb.Get("reply_broadcast"))
	}

	// A retry of the same revision is a new rollout: a new thread.
	c.Status.Phase = siskinv1.PhaseProgressing
	d.Notify(t.Context(), c, event(siskinv1.ReasonManualRetry, siskinv1.SeverityInfo, "siskin.dev/retry=1: retrying revision 7f9c2ba4e88f"))
	d.Notify(t.Context(), c, event(siskinv1.ReasonStepWeightIncreased, siskinv1.SeverityInfo, "weight 10"))
	if got := form(t, api.next(t)).Get("thread_ts"); got != "" {
		t.Errorf("retry has thread_ts %q; it must start a new thread", got)
	}
	if got := form(t, api.next(t)).Get("thread_ts"); got != "1700000000.000004" {
		t.Errorf("reply in the retried rollout: thread_ts = %q, want 1700000000.000004", got)
	}

	// The next revision is the next rollout: a new thread.
	c.Status.LastAppliedSpec = "0b1c2d3e4f5a6b7c8d9e"
	c.Status.Phase, c.Status.FailedChecks = siskinv1.PhaseProgressing, 0
	d.Notify(t.Context(), c, event(siskinv1.ReasonNewRevision, siskinv1.SeverityInfo, "new revision 0b1c2d3e4f5a of podinfo detected"))
	d.Notify(t.Context(), c, event(siskinv1.ReasonStepWeightIncreased, siskinv1.SeverityInfo, "weight 10"))
	if got := form(t, api.next(t)).Get("thread_ts"); got != "" {
		t.Errorf("first message of a new revision has thread_ts %q; it must start a new thread", got)
	}
	if got := form(t, api.next(t)).Get("thread_ts"); got != "1700000000.000006" {
		t.Errorf("reply in the new rollout: thread_ts = %q, want 1700000000.000006", got)
	}
}

// A provider with a token and no address uses the Web API at Options.SlackAPIURL (in production
// https://slack.com/api/); an incoming-webhook address does too.
func TestSlackAPIBase(t *testing.T) {
	cases := map[string]struct{ address, want string }{
		"no address":                {"", "https://slack.example/api/"},
		"API base without a slash":  {"https://slack.example/api", "https://slack.example/api/"},
		"chat.postMessage endpoint": {"https://slack.example/api/chat.postMessage", "https://slack.example/api/"},
		"incoming webhook address":  {"https://hooks.slack.com/services/T/B/X", "https://slack.example/api/"},
	}
	for name, tc := range cases {
		if got := slackAPIBase(tc.address, "https://slack.example/api/"); got != tc.want {
			t.Errorf("%s: slackAPIBase(%q) = %q, want %q", name, tc.address, got, tc.want)
		}
	}
	if got := slackAPIBase("", ""); got != "https://slack.com/api/" {
		t.Errorf("default API = %q", got)
	}
}

func form(t *testing.T, r received) url.Values {
	t.Helper()
	v, err := url.ParseQuery(string(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A new revision that arrives while another is being promoted is announced in the promotion's
// thread: the Canary still rolls out the promoted revision (status.lastAppliedSpec).
func TestSlackNewRevisionDuringPromotionStaysInThread(t *testing.T) {
	api := newReceiver(t, slackAPI)
	p, s := withSecret(provider("slack-bot", TypeSlack, ""), map[string]string{SecretKeyToken: "xoxb-test-token"})
	d := start(t, Options{Reader: fakeReader(t, p, s), SlackAPIURL: api.url("/api/")})
	c := testCanary(alert("slack", siskinv1.SeverityInfo, "slack-bot"))
	c.Status.Phase = siskinv1.PhasePromoting
	d.Notify(t.Context(), c, event(siskinv1.ReasonPromotionStarted, siskinv1.SeverityInfo, "promoting revision 7f9c2ba4e88f"))
	d.Notify(t.Context(), c, event(siskinv1.ReasonNewRevision, siskinv1.SeverityInfo,
		"revision 0b1c2d3e4f5a arrived during the promotion of revision 7f9c2ba4e88f; all traffic goes to the primary, and the new revision is analysed after the promotion"))
	api.next(t)
	if got := form(t, api.next(t)).Get("thread_ts"); got != "1700000000.000001" {
		t.Errorf("thread_ts = %q, want the promotion's thread 1700000000.000001", got)
	}
}
