package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// redacted replaces a secret that turned up in an error message.
const redacted = "[redacted]"

// sendError is a failed delivery, its message stripped of secrets. Senders return nothing else,
// so whatever reaches logs, health and OnFailure is safe to show.
type sendError struct {
	msg string
	// retry is true for failures that may pass later: network errors, timeouts, 5xx, 429.
	retry bool
	// after is the wait a 429 answer asked for; 0 means the backoff decides.
	after time.Duration
}

func (e *sendError) Error() string { return e.msg }

// minSecretSegment is the length from which a path segment counts as a secret of its own:
// tokens and IDs are longer, words such as "services" or "webhooks" shorter.
const minSecretSegment = 16

// secrets are the strings that must never be shown: a destination's address, its path and
// query, its token and the proxy's credentials.
type secrets []string

func secretsOf(d destination) secrets {
	s := secrets{d.Address, d.Token, d.Proxy}
	for _, raw := range []string{d.Address, d.Proxy} {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if len(u.Path) > 1 {
			s = append(s, u.Path, u.EscapedPath())
			// A receiver may echo one segment: the token part of a Discord or Slack URL.
			for _, seg := range strings.Split(u.Path, "/") {
				if len(seg) >= minSecretSegment {
					s = append(s, seg)
				}
			}
		}
		s = append(s, u.RawQuery)
		// Google Chat keeps its key and token in the query; a receiver may echo one of them.
		for _, vs := range u.Query() {
			for _, v := range vs {
				if len(v) >= minSecretSegment {
					s = append(s, v, url.QueryEscape(v))
				}
			}
		}
		if u.User != nil {
			s = append(s, u.User.String())
			if p, ok := u.User.Password(); ok {
				s = append(s, p)
			}
		}
	}
	return s
}

// scrub removes every secret from msg. Secrets shorter than four characters are not searched
// for: they would mangle the message and reveal nothing.
func (s secrets) scrub(msg string) string {
	for _, v := range s {
		if len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, redacted)
		}
	}
	return msg
}

// redactURL keeps the scheme and host of a URL: enough to tell destinations apart, nothing
// that grants access to them.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<invalid URL>"
	}
	return u.Scheme + "://" + u.Host
}

// transportError is a request that got no answer: a network error or a timeout, worth a retry.
func transportError(where string, err error, s secrets) *sendError {
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error names the full URL; its cause does not.
		err = ue.Err
	}
	retry := !errors.Is(err, context.Canceled)
	return &sendError{msg: s.scrub(fmt.Sprintf("post to %s: %v", where, err)), retry: retry}
}

// statusError is a request answered with a status other than 2xx.
func statusError(where string, code int, header http.Header, excerpt string, s secrets) *sendError {
	e := &sendError{retry: retryableStatus(code)}
	if code == http.StatusTooManyRequests {
		e.after = retryAfter(header.Get("Retry-After"))
	}
	msg := fmt.Sprintf("post to %s: answered %d %s", where, code, http.StatusText(code))
	if excerpt != "" {
		msg += ": " + excerpt
	}
	e.msg = s.scrub(msg)
	return e
}

func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// retryAfter reads a Retry-After header: seconds (Discord sends fractions) or an HTTP date.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// slackError classifies an error of slack-go, which reports answers as typed errors.
func slackError(where string, err error, s secrets) *sendError {
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	var se slack.SlackErrorResponse
	switch {
	case errors.As(err, &rl):
		return &sendError{msg: fmt.Sprintf("post to %s: rate limited (429)", where), retry: true, after: rl.RetryAfter}
	case errors.As(err, &sc):
		return statusError(where, sc.Code, http.Header{}, "", s)
	case errors.As(err, &se):
		// Slack's own verdicts (channel_not_found, invalid_auth, ...) do not pass on a retry.
		return &sendError{msg: s.scrub(fmt.Sprintf("post to %s: slack answered %s", where, se.Err))}
	}
	var ue *url.Error
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) {
		return transportError(where, err, s)
	}
	return &sendError{msg: s.scrub(fmt.Sprintf("post to %s: %v", where, err))}
}
