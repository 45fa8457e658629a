package slacksink

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/slack-go/slack"
)

func TestSinkRecordsWhatSlackGoSends(t *testing.T) {
	sink := New()
	srv := httptest.NewServer(sink)
	defer srv.Close()
	ctx := context.Background()

	if err := slack.PostWebhookContext(ctx, srv.URL+"/services/T0/B0/XYZ", &slack.WebhookMessage{
		Channel: "#deploys", Text: "podinfo.test promoted",
	}); err != nil {
		t.Fatalf("post webhook: %v", err)
	}

	api := slack.New("xoxb-test", slack.OptionAPIURL(srv.URL+"/api/"))
	ch, ts1, err := api.PostMessageContext(ctx, "#deploys",
		slack.MsgOptionText("canary analysis started", false),
		slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*weight* 10", false, false), nil, nil)))
	if err != nil {
		t.Fatalf("post message: %v", err)
	}
	if ch != "C1" || ts1 == "" {
		t.Fatalf("post message answered channel %q ts %q, want C1 and a ts", ch, ts1)
	}
	_, ts2, _, err := api.UpdateMessageContext(ctx, ch, ts1, slack.MsgOptionText("canary analysis at weight 20", false))
	if err != nil {
		t.Fatalf("update message: %v", err)
	}
	if ts2 != ts1 {
		t.Errorf("update answered ts %q, want the updated message's %q", ts2, ts1)
	}
	_, ts3, err := api.PostMessageContext(ctx, "#deploys", slack.MsgOptionText("promoted", false))
	if err != nil {
		t.Fatalf("post message: %v", err)
	}
	if ts3 <= ts1 {
		t.Errorf("second post answered ts %q, not after %q", ts3, ts1)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/messages", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("get messages: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var msgs []Message
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
		t.Fatalf("decode messages: %v", err)
	}
	if len(msgs) != 4 {
		t.Fatalf("got %d messages, want 4: %+v", len(msgs), msgs)
	}
	want := []struct{ kind, method, channel, text string }{
		{"webhook", "", "#deploys", "podinfo.test promoted"},
		{"api", "chat.postMessage", "#deploys", "canary analysis started"},
		{"api", "chat.update", "C1", "canary analysis at weight 20"},
		{"api", "chat.postMessage", "#deploys", "promoted"},
	}
	for i, w := range want {
		m := msgs[i]
		if m.Kind != w.kind || m.Method != w.method || m.Channel != w.channel || m.Text != w.text {
			t.Errorf("message %d = %s %s %q %q, want %s %s %q %q", i, m.Kind, m.Method, m.Channel, m.Text, w.kind, w.method, w.channel, w.text)
		}
	}
	if _, ok := msgs[1].Fields["blocks"].([]any); !ok {
		t.Errorf("blocks of the postMessage were not decoded as JSON: %#v", msgs[1].Fields["blocks"])
	}
	if _, ok := msgs[1].Fields["token"]; ok {
		t.Errorf("the token was recorded")
	}
}
