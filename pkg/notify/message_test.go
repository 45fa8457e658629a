package notify

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReasonAsSentence(t *testing.T) {
	for in, want := range map[string]string{
		"AnalysisCheckFailed":      "Analysis check failed",
		"NewRevision":              "New revision",
		"ProgressDeadlineExceeded": "Progress deadline exceeded",
		"HTTPRouteNotAccepted":     "HTTP route not accepted",
		"Initialized":              "Initialized",
		"":                         "Event",
	} {
		if got := sentence(in); got != want {
			t.Errorf("sentence(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSlackTextIsEscaped(t *testing.T) {
	m := message{Canary: "podinfo", Namespace: "test", Reason: "Test", Text: "latency <p99> & rising"}
	blocks := slackBlocks(m)
	b, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `latency \u0026lt;p99\u0026gt; \u0026amp; rising`) {
		t.Errorf("blocks do not escape the message: %s", b)
	}
}

func TestLongMessagesAreCut(t *testing.T) {
	m := newMessage(testCanary(), event("Test", "", strings.Repeat("x", 5000)), "")
	if n := len([]rune(m.Text)); n != maxTextRunes {
		t.Errorf("message of %d runes, want %d", n, maxTextRunes)
	}
	if !strings.HasSuffix(m.Text, "…") {
		t.Error("a cut message does not say so")
	}
}
