package notify

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Each provider type receives the failed-check event in its own format, byte for byte as in
// testdata, at the address from spec.address or from its Secret.
func TestEachProviderTypeReceivesItsFormat(t *testing.T) {
	cases := []struct {
		name       string
		typ        string
		fromSecret bool
		token      string
		golden     string
		header     func(t *testing.T, h http.Header)
	}{
		{name: "slack incoming webhook from the Secret", typ: TypeSlack, fromSecret: true, golden: "slack-webhook.json"},
		{name: "msteams adaptive card", typ: TypeMSTeams, golden: "msteams.json"},
		{name: "discord embed", typ: TypeDiscord, golden: "discord.json"},
		{name: "rocket.chat attachment from the Secret", typ: TypeRocket, fromSecret: true, golden: "rocket.json"},
		{name: "google chat card", typ: TypeGChat, golden: "gchat.json"},
		{name: "generic JSON without a token", typ: TypeGeneric, golden: "generic.json",
			header: func(t *testing.T, h http.Header) {
				if got := h.Get("Authorization"); got != "" {
					t.Errorf("Authorization = %q, want none without a token", got)
				}
			}},
		{name: "generic JSON with a bearer token", typ: TypeGeneric, fromSecret: true, token: "s3cr3t-generic-token", golden: "generic.json",
			header: func(t *testing.T, h http.Header) {
				if got := h.Get("Authorization"); got != "Bearer s3cr3t-generic-token" {
					t.Errorf("Authorization = %q, want the Secret's token as a bearer token", got)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rv := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				if tc.typ == TypeDiscord {
					w.WriteHeader(http.StatusNoContent) // what Discord answers
					return
				}
				w.WriteHeader(http.StatusOK)
			})
			address := rv.url("/hooks/T000/B000/XXXX")
			var objs []client.Object
			p := provider("chat", tc.typ, address)
			if tc.fromSecret {
				data := map[string]string{SecretKeyAddress: address}
				if tc.token != "" {
					data[SecretKeyToken] = tc.token
				}
				p.Spec.Address = "https://wrong.example.com/spec-address-is-overridden"
				ap, s := withSecret(p, data)
				objs = append(objs, ap, s)
			} else {
				objs = append(objs, p)
			}
			d := start(t, Options{Reader: fakeReader(t, objs...), Global: GlobalOptions{ClusterName: "prod-eu-1"}})

			d.Notify(t.Context(), testCanary(alert("chat", "", "chat")), checkFailed)

			r := rv.next(t)
			if r.Path != "/hooks/T000/B000/XXXX" {
				t.Errorf("path = %q", r.Path)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tc.header != nil {
				tc.header(t, r.Header)
			}
			jsonGolden(t, tc.golden, r.Body)
			waitFor(t, "health to record the delivery", func() bool {
				h, ok := d.Health(types.NamespacedName{Namespace: testNS, Name: "chat"})
				return ok && h.Delivered == 1 && !h.Failing()
			})
		})
	}
}

// A Canary without alerts goes to the global senders of the flags: Slack and Teams, with the
// cluster name; a Canary with alerts does not.
func TestCanaryWithoutAlertsGoesToTheGlobalSenders(t *testing.T) {
	slackRV := newReceiver(t, nil)
	teamsRV := newReceiver(t, nil)
	own := newReceiver(t, nil)
	d := start(t, Options{
		Reader: fakeReader(t, provider("own", TypeGeneric, own.url("/own"))),
		Global: GlobalOptions{
			SlackURL: slackRV.url("/services/T000/B000/XXXX"), SlackChannel: "#deploys", SlackUser: "siskin-prod",
			MSTeamsURL: teamsRV.url("/webhookb2/XXXX"), ClusterName: "prod-eu-1",
		},
	})

	promoted := event(siskinv1.ReasonPromotionCompleted, siskinv1.SeverityInfo, "revision 7f9c2ba4e88f promoted; podinfo is scaled to zero")
	c := testCanary()
	c.Status.Phase, c.Status.CanaryWeight, c.Status.FailedChecks = siskinv1.PhaseSucceeded, 0, 0
	d.Notify(t.Context(), c, promoted)

	jsonGolden(t, "global-slack-webhook.json", slackRV.next(t).Body)
	jsonGolden(t, "global-msteams.json", teamsRV.next(t).Body)

	d.Notify(t.Context(), testCanary(alert("own", siskinv1.SeverityInfo, "own")), promoted)
	own.next(t)
	slackRV.quiet(t, 100*time.Millisecond)
	teamsRV.quiet(t, 10*time.Millisecond)
}

func TestNewRejectsInvalidGlobalOptions(t *testing.T) {
	r := fakeReader(t)
	for name, g := range map[string]GlobalOptions{
		"slack URL is no URL":           {SlackURL: "hooks.slack.com/services/x"},
		"slack token without a channel": {SlackToken: "xoxb-1"},
		"teams URL is no http URL":      {MSTeamsURL: "ftp://teams.example.com/x"},
		"slack proxy is no http(s) URL": {SlackURL: "https://hooks.slack.com/services/x", SlackProxyURL: "socks5://p:1080"},
	} {
		if _, err := New(Options{Reader: r, Global: g}); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := New(Options{Global: GlobalOptions{}}); err == nil {
		t.Error("New without a Reader succeeded")
	}
}

// An event message that quotes a mention (a webhook's answer, say) pings no one in Rocket.Chat
// or Google Chat, and Google Chat's card shows markup in it as text.
func TestRocketAndGChatKeepQuotedMentionsQuiet(t *testing.T) {
	m := newMessage(testCanary(), event(siskinv1.ReasonAnalysisCheckFailed, siskinv1.SeverityWarn,
		`webhook smoke answered 500: "@here <users/all> <b>down</b> @all"`), "")

	rocket := rocketPayload(m, destination{}).(rocketMessage)
	text := rocket.Attachments[0].Text
	if strings.Contains(text, "@here") || strings.Contains(text, "@all") {
		t.Errorf("rocket text %q still mentions the room", text)
	}
	if strings.ReplaceAll(text, "\u200b", "") != m.Text {
		t.Errorf("rocket text %q reads differently from %q", text, m.Text)
	}

	gchat := gchatPayload(m, destination{}).(gchatMessage)
	if gchat.Text != "test/podinfo: Analysis check failed" {
		t.Errorf("gchat text = %q, want the title only", gchat.Text)
	}
	card := gchat.CardsV2[0].Card.Sections[0].Widgets[0].TextParagraph.Text
	if strings.Contains(card, "<users/all>") || strings.Contains(card, "<b>down") ||
		!strings.Contains(card, "&lt;users/all&gt; &lt;b&gt;down&lt;/b&gt;") {
		t.Errorf("gchat card text %q: the message's markup is not escaped", card)
	}
}
