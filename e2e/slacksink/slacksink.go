// Package slacksink is a stand-in for Slack in the local environment: it accepts what slack-go
// sends (incoming-webhook posts and the chat.postMessage and chat.update Web API methods),
// answers as Slack would, and keeps every message so that tests and the demo can read them
// back from GET /messages.
package slacksink

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxBody bounds the body read from one request.
const maxBody = 1 << 20

// Message is one recorded request.
type Message struct {
	// Seq numbers messages from 1 in arrival order.
	Seq int `json:"seq"`
	// Time is when the sink received the message.
	Time time.Time `json:"time"`
	// Kind is "webhook" for an incoming-webhook post, or "api" for a Web API call.
	Kind string `json:"kind"`
	// Path is the request path.
	Path string `json:"path"`
	// Method is the Web API method (chat.postMessage, chat.update, ...); empty for webhooks.
	Method string `json:"method,omitempty"`
	// Channel is the channel the message was sent to, when it names one.
	Channel string `json:"channel,omitempty"`
	// Text is the message text.
	Text string `json:"text,omitempty"`
	// TS is the message timestamp the sink answered (or, for chat.update, was asked to update).
	TS string `json:"ts,omitempty"`
	// Fields holds every field sent, with JSON-valued form fields (blocks, attachments) decoded.
	Fields map[string]any `json:"fields,omitempty"`
}

// Sink records messages. Its zero value is not usable; call New.
type Sink struct {
	mu       sync.Mutex
	messages []Message
	nextTS   int64
	now      func() time.Time
	mux      *http.ServeMux
}

// New returns an empty sink.
func New() *Sink {
	s := &Sink{now: time.Now}
	s.nextTS = s.now().Unix() * 1_000_000
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /messages", s.serveMessages)
	mux.HandleFunc("DELETE /messages", s.serveReset)
	mux.HandleFunc("POST /api/{method}", s.serveAPI)
	mux.HandleFunc("POST /", s.serveWebhook)
	s.mux = mux
	return s
}

// ServeHTTP serves the Slack endpoints and /messages.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Messages returns a copy of the recorded messages, oldest first.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Reset forgets every recorded message.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = nil
}

func (s *Sink) serveMessages(w http.ResponseWriter, _ *http.Request) {
	msgs := s.Messages()
	if msgs == nil {
		msgs = []Message{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(msgs)
}

func (s *Sink) serveReset(w http.ResponseWriter, _ *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}

// serveWebhook records an incoming-webhook post; Slack answers those with a plain "ok".
func (s *Sink) serveWebhook(w http.ResponseWriter, r *http.Request) {
	fields, err := readFields(r)
	if err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.record(Message{Kind: "webhook", Path: r.URL.Path, Channel: str(fields["channel"]), Text: str(fields["text"]), Fields: fields})
	_, _ = io.WriteString(w, "ok")
}

// serveAPI answers a Web API call the way Slack does for a successful chat.* method.
func (s *Sink) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	fields, err := readFields(r)
	if err != nil {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_form_data"})
		return
	}
	delete(fields, "token")
	resp := map[string]any{"ok": true}
	switch method {
	case "chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage":
		ts := str(fields["ts"])
		if method != "chat.update" || ts == "" {
			ts = s.newTS()
		}
		s.record(Message{Kind: "api", Path: r.URL.Path, Method: method, Channel: str(fields["channel"]), Text: str(fields["text"]), TS: ts, Fields: fields})
		resp["channel"] = "C1"
		resp["ts"] = ts
		resp["message"] = map[string]any{"text": str(fields["text"]), "ts": ts}
	default:
		// auth.test and friends: answer ok without recording, so clients that probe succeed.
	}
	writeJSON(w, resp)
}

func (s *Sink) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.Seq = len(s.messages) + 1
	m.Time = s.now()
	s.messages = append(s.messages, m)
}

// newTS returns a Slack-style timestamp ("seconds.micros") that increases on every call.
func (s *Sink) newTS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextTS++
	return fmt.Sprintf("%d.%06d", s.nextTS/1_000_000, s.nextTS%1_000_000)
}

// readFields decodes a JSON object or a form body into a map; form fields holding JSON
// (blocks, attachments, metadata) are decoded too.
func readFields(r *http.Request) (map[string]any, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	fields := map[string]any{}
	switch {
	case ct == "application/json" || (ct == "" && len(body) > 0 && body[0] == '{'):
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, fmt.Errorf("decode JSON body: %w", err)
		}
	default:
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("decode form body: %w", err)
		}
		for k := range r.URL.Query() {
			if _, ok := vals[k]; !ok {
				vals[k] = r.URL.Query()[k]
			}
		}
		for k, v := range vals {
			if len(v) == 0 {
				continue
			}
			fields[k] = decodeValue(v[len(v)-1])
		}
	}
	return fields, nil
}

func decodeValue(v string) any {
	t := strings.TrimSpace(v)
	if strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{") {
		var out any
		if json.Unmarshal([]byte(t), &out) == nil {
			return out
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
