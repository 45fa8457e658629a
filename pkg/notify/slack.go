package notify

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"k8s.io/apimachinery/pkg/types"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// threadTTL is how long a rollout's thread is remembered after its last message. Memory holds
// one thread per Canary at most; the TTL forgets the threads of deleted Canaries.
const threadTTL = 7 * 24 * time.Hour

// slackWebhook posts to a Slack incoming webhook: Block Kit blocks plus a fallback text.
type slackWebhook struct {
	dest    destination
	http    *http.Client
	secrets secrets
}

func (s *slackWebhook) send(ctx context.Context, m message) error {
	msg := &slack.WebhookMessage{
		Username: s.dest.Username,
		Channel:  s.dest.Channel,
		Text:     m.fallback(),
		Blocks:   &slack.Blocks{BlockSet: slackBlocks(m)},
	}
	// PostWebhookContext would use http.DefaultClient; the provider's client carries its proxy
	// and timeout.
	if err := slack.PostWebhookCustomHTTPContext(ctx, s.dest.Address, s.http, msg); err != nil {
		return slackError(s.dest.where(), err, s.secrets)
	}
	return nil
}

// slackBot posts with a bot token through chat.postMessage, one thread per rollout: the first
// message about a Canary's revision starts a thread, later messages about that revision reply
// in it. A new revision (NewRevision moves status.lastAppliedSpec to it) or a retry of the same
// one is a new rollout and a new thread. The one NewRevision that keeps the revision, announced
// while another revision is being promoted, stays in that promotion's thread.
type slackBot struct {
	api      *slack.Client
	where    string
	channel  string
	username string
	secrets  secrets
	now      func() time.Time

	threads   map[types.NamespacedName]thread
	lastSweep time.Time
}

// thread is the rollout thread of one Canary.
type thread struct {
	revision string
	ts       string
	used     time.Time
}

func newSlackBot(d destination, hc *http.Client, defaultAPI string, s secrets) *slackBot {
	base := slackAPIBase(d.Address, defaultAPI)
	return &slackBot{
		api:      slack.New(d.Token, slack.OptionAPIURL(base), slack.OptionHTTPClient(hc)),
		where:    redactURL(base),
		channel:  d.Channel,
		username: d.Username,
		secrets:  s,
		now:      time.Now,
		threads:  map[types.NamespacedName]thread{},
	}
}

// slackAPIBase is the Web API base URL ("https://slack.com/api/") of a bot-token provider: its
// address, with a trailing chat.postMessage (as Flagger-style configurations give it) cut off.
// An incoming-webhook address or none means the default API.
func slackAPIBase(address, defaultAPI string) string {
	if defaultAPI == "" {
		defaultAPI = slack.APIURL
	}
	u, err := url.Parse(address)
	if address == "" || err != nil || u.Host == "hooks.slack.com" {
		return withSlash(defaultAPI)
	}
	return withSlash(strings.TrimSuffix(strings.TrimSuffix(address, "/"), "chat.postMessage"))
}

func withSlash(s string) string {
	if strings.HasSuffix(s, "/") {
		return s
	}
	return s + "/"
}

func (s *slackBot) send(ctx context.Context, m message) error {
	now := s.now()
	s.sweep(now)
	key := m.canaryKey()
	t, inThread := s.threads[key]
	// A retry rolls the same revision out again: a new rollout, a new thread.
	inThread = inThread && t.revision == m.Revision && m.Reason != siskinv1.ReasonManualRetry
	opts := []slack.MsgOption{
		slack.MsgOptionText(m.fallback(), false),
		slack.MsgOptionBlocks(slackBlocks(m)...),
	}
	if s.username != "" {
		opts = append(opts, slack.MsgOptionUsername(s.username))
	}
	if inThread {
		opts = append(opts, slack.MsgOptionTS(t.ts))
		if m.Severity == siskinv1.SeverityError {
			// A failure is also shown in the channel, not only to those who follow the thread.
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	_, ts, err := s.api.PostMessageContext(ctx, s.channel, opts...)
	if err != nil {
		return slackError(s.where, err, s.secrets)
	}
	if inThread {
		t.used = now
		s.threads[key] = t
	} else if ts != "" {
		s.threads[key] = thread{revision: m.Revision, ts: ts, used: now}
	}
	return nil
}

// sweep forgets threads unused for threadTTL, at most once an hour.
func (s *slackBot) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < time.Hour {
		return
	}
	s.lastSweep = now
	for k, t := range s.threads {
		if now.Sub(t.used) > threadTTL {
			delete(s.threads, k)
		}
	}
}

// slackBlocks lays a message out in Block Kit: the title and the event's message, then the
// fields two by two.
func slackBlocks(m message) []slack.Block {
	text := slackSeverityEmoji(m.Severity) + " *" + slackEscape(m.title()) + "*"
	if m.Text != "" {
		text += "\n" + slackEscape(m.Text)
	}
	fs := m.fields()
	fields := make([]*slack.TextBlockObject, 0, len(fs))
	for _, f := range fs {
		fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, "*"+f.Name+"*\n"+slackEscape(f.Value), false, false))
	}
	return []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil),
		slack.NewSectionBlock(nil, fields, nil),
	}
}

func slackSeverityEmoji(s siskinv1.AlertSeverity) string {
	switch s {
	case siskinv1.SeverityError:
		return ":red_circle:"
	case siskinv1.SeverityWarn:
		return ":warning:"
	}
	return ":large_blue_circle:"
}

// slackEscape escapes the three characters that Slack's mrkdwn reads as control characters.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
