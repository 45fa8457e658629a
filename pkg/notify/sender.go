package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// maxBodyBytes is how much of an answer is read at most.
	maxBodyBytes = 64 << 10
	// maxExcerptBytes bounds the part of an error answer kept in the error message.
	maxExcerptBytes = 200
	userAgent       = "siskin"
)

// sender delivers one message to one destination, once. The lane that owns it calls it from
// one goroutine at a time, so a sender may keep state (Slack threads) without locks.
type sender interface {
	send(ctx context.Context, m message) error
}

// newSender builds the sender of d on hc, the provider's own HTTP client.
func newSender(d destination, hc *http.Client, o *Options) (sender, error) {
	s := secretsOf(d)
	switch d.Type {
	case TypeSlack:
		if d.Token != "" {
			return newSlackBot(d, hc, o.SlackAPIURL, s), nil
		}
		return &slackWebhook{dest: d, http: hc, secrets: s}, nil
	case TypeMSTeams:
		return &jsonSender{dest: d, http: hc, secrets: s, render: teamsPayload}, nil
	case TypeDiscord:
		return &jsonSender{dest: d, http: hc, secrets: s, render: discordPayload}, nil
	case TypeRocket:
		return &jsonSender{dest: d, http: hc, secrets: s, render: rocketPayload}, nil
	case TypeGChat:
		return &jsonSender{dest: d, http: hc, secrets: s, render: gchatPayload}, nil
	case TypeGeneric:
		return &jsonSender{dest: d, http: hc, secrets: s, render: genericPayload, bearer: true}, nil
	}
	return nil, fmt.Errorf("%w: type %q", errInvalid, d.Type)
}

// newHTTPClient returns a provider's HTTP client: one per provider, with its own proxy, timeout
// and connection pool.
func newHTTPClient(d destination, timeout time.Duration) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	t.MaxIdleConnsPerHost = 4
	if d.Proxy != "" {
		u, err := url.Parse(d.Proxy)
		if err != nil {
			return nil, fmt.Errorf("%w: the proxy is not a URL", errInvalid)
		}
		t.Proxy = http.ProxyURL(u)
	}
	return &http.Client{
		Transport: t,
		Timeout:   timeout,
		// A redirect would carry the token to another host and turn the POST into a GET.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// jsonSender POSTs a JSON document: Microsoft Teams, Discord, Rocket.Chat, Google Chat and
// generic webhooks.
type jsonSender struct {
	dest    destination
	http    *http.Client
	secrets secrets
	render  func(m message, d destination) any
	// bearer sends the token, when there is one, as an Authorization: Bearer header.
	bearer bool
}

func (s *jsonSender) send(ctx context.Context, m message) error {
	body, err := json.Marshal(s.render(m, s.dest))
	if err != nil {
		return &sendError{msg: fmt.Sprintf("encode %s message: %v", s.dest.Type, err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.dest.Address, bytes.NewReader(body))
	if err != nil {
		return &sendError{msg: fmt.Sprintf("build request to %s: invalid address", s.dest.where())}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if s.bearer && s.dest.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.dest.Token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return transportError(s.dest.where(), err, s.secrets)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	// Scrubbed before it is cut: a secret the cut halves would not be recognised afterwards.
	return statusError(s.dest.where(), resp.StatusCode, resp.Header, excerpt(s.secrets.scrub(string(data))), s.secrets)
}

// excerpt is a short single line of an answer's body.
func excerpt(body string) string {
	s := strings.Join(strings.Fields(body), " ")
	if len(s) > maxExcerptBytes {
		s = strings.ToValidUTF8(s[:maxExcerptBytes], "") + "…"
	}
	return s
}
