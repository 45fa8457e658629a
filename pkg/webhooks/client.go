package webhooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

const (
	// DefaultTimeout bounds a call to a webhook that sets no timeout, as in the Flagger model.
	DefaultTimeout = 10 * time.Second
	// MaxTimeout bounds every call, whatever timeout the webhook sets: gates and checks run on
	// the reconcile workers shared by all Canaries, so one Canary's webhook must not hold a
	// worker for longer.
	MaxTimeout = 5 * time.Minute
	// MaxBodyBytes is how much of a response body is read at most.
	MaxBodyBytes = 64 << 10
	// MaxExcerptBytes bounds the body excerpt kept in a Result and put in messages.
	MaxExcerptBytes = 256

	defaultBackoff = 200 * time.Millisecond
	maxBackoff     = 2 * time.Second
	userAgent      = "siskin"
)

// Client calls webhooks. It is safe for concurrent use; one Client serves the whole controller
// so that connections to the same receiver (typically the load tester) are reused.
type Client struct {
	// verified checks server certificates; unverified is for webhooks with disableTLS. Two
	// clients rather than one per call, so that each keeps its connection pool.
	verified   *http.Client
	unverified *http.Client
	source     HeaderSource
	signingKey []byte
	legacySig  bool
	policy     OutboundPolicy
	backoff    time.Duration
	now        func() time.Time

	// The event webhook queue (NotifyAsync).
	eventWorkers int
	eventQueue   int
	events       chan eventCall
	startEvents  sync.Once
	stopped      context.Context // done once Close is called
	stopEvents   context.CancelFunc
}

// Option configures a Client.
type Option func(*Client)

// WithHeaderSource sets where the Secrets named by webhooks' secretRef are read from.
func WithHeaderSource(s HeaderSource) Option {
	return func(c *Client) { c.source = s }
}

// WithSigningKey sets the controller-wide signing key, used for every webhook whose Secret has
// no signing-key of its own. The key is normalised with NormalizeKey; an empty key signs
// nothing.
func WithSigningKey(key []byte) Option {
	return func(c *Client) { c.signingKey = NormalizeKey(key) }
}

// WithLegacySignature also sends the legacy body-only SignatureHeader with every signed call,
// for receivers that do not verify SignatureV2Header yet. It can be replayed: use it only while
// receivers migrate.
func WithLegacySignature(on bool) Option {
	return func(c *Client) { c.legacySig = on }
}

// WithOutboundPolicy sets which addresses webhooks may be called at; without it the default
// OutboundPolicy applies.
func WithOutboundPolicy(p OutboundPolicy) Option {
	return func(c *Client) { c.policy = p }
}

// WithBackoff sets the wait before the first retry; it doubles with each retry, up to 2s.
func WithBackoff(d time.Duration) Option {
	return func(c *Client) { c.backoff = d }
}

// WithClock sets the clock that stamps check results and signatures.
func WithClock(now func() time.Time) Option {
	return func(c *Client) { c.now = now }
}

// New returns a Client.
func New(opts ...Option) *Client {
	c := &Client{
		backoff:      defaultBackoff,
		now:          time.Now,
		eventWorkers: DefaultEventWorkers,
		eventQueue:   DefaultEventQueue,
	}
	c.stopped, c.stopEvents = context.WithCancel(context.Background())
	for _, o := range opts {
		o(c)
	}
	c.verified = newHTTPClient(false, c.policy)
	c.unverified = newHTTPClient(true, c.policy)
	return c
}

func newHTTPClient(skipVerify bool, policy OutboundPolicy) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// The policy is checked on the address dialled, once DNS has answered.
	t.DialContext = (&net.Dialer{
		Timeout:        30 * time.Second,
		KeepAlive:      30 * time.Second,
		ControlContext: policy.control,
	}).DialContext
	t.Proxy = policy.proxy(http.ProxyFromEnvironment)
	// Many canaries call the same load tester at the same moment; the default of 2 idle
	// connections per host would make most calls dial anew.
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 32
	t.TLSClientConfig = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: skipVerify, //nolint:gosec // only for webhooks that set disableTLS
	}
	return &http.Client{
		Transport: t,
		// A redirect is an answer, not a success: following it would send the Secret's
		// headers to another address and turn the POST into a GET.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Result is the outcome of one webhook call, retries included.
type Result struct {
	// Name of the webhook.
	Name string
	// Type of the webhook.
	Type siskinv1.WebhookType
	// StatusCode of the last answer; 0 when there was none.
	StatusCode int
	// Body is a bounded, single-line excerpt of the last answer's body.
	Body string
	// Attempts is the number of requests sent (1 + retries used).
	Attempts int
	// Duration of the whole call.
	Duration time.Duration
	// Time the call ended.
	Time time.Time
	// Err is nil when the webhook answered 2xx; a *StatusError for any other answer.
	Err error
}

// OK reports whether the webhook answered 2xx.
func (r Result) OK() bool { return r.Err == nil }

// Describe says what the webhook answered, for messages: "answered 200: ok" or the error.
// It holds no duration, so that messages stay deterministic.
func (r Result) Describe() string {
	var s string
	switch {
	case r.Err != nil:
		s = r.Err.Error()
	case r.Body != "":
		s = fmt.Sprintf("answered %d: %s", r.StatusCode, r.Body)
	default:
		s = fmt.Sprintf("answered %d", r.StatusCode)
	}
	if r.Attempts > 1 {
		s += fmt.Sprintf(" (after %d attempts)", r.Attempts)
	}
	return s
}

// StatusError is the error of a call answered outside 2xx.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	// Body is a bounded excerpt of the response body.
	Body string
}

// Error says what was answered.
func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("answered %d", e.Code)
	}
	return fmt.Sprintf("answered %d: %s", e.Code, e.Body)
}

// Call POSTs payload to hook and returns what it answered. The webhook's timeout (default 10s,
// at most MaxTimeout) bounds the whole call, retries included; a retriable failure (no answer,
// 408, 429, 5xx except 501) is retried up to the webhook's retries with a short, growing
// backoff. An address the outbound policy refuses is never dialled. The body excerpt is
// scrubbed of the values sent from the webhook's Secret and of credential-looking tokens.
func (c *Client) Call(ctx context.Context, hook siskinv1.CanaryWebhook, payload Payload) Result {
	start := time.Now()
	res := c.call(ctx, hook, payload)
	res.Duration = time.Since(start)
	res.Time = c.now()
	return res
}

func (c *Client) call(ctx context.Context, hook siskinv1.CanaryWebhook, payload Payload) Result {
	res := Result{Name: hook.Name, Type: TypeOf(hook)}
	ctx, cancel := context.WithTimeout(ctx, timeoutOf(hook))
	defer cancel()

	body, err := json.Marshal(payload.forHook(hook))
	if err != nil {
		res.Err = fmt.Errorf("encode payload: %w", err)
		return res
	}
	out, err := c.headers(ctx, hook, payload.Namespace)
	if err != nil {
		res.Err = err
		return res
	}
	hc := c.verified
	if hook.DisableTLS {
		hc = c.unverified
	}

	retries := int(min(max(hook.Retries, 0), 10))
	for attempt := 0; ; attempt++ {
		res.Attempts++
		res.StatusCode, res.Body, res.Err = c.post(ctx, hc, hook.URL, out, body)
		if res.Err == nil || attempt >= retries || !retriable(res.Err) {
			return res
		}
		t := time.NewTimer(c.backoffFor(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return res
		case <-t.C:
		}
	}
}

// post sends one request, signed now. Errors never carry the URL's query or user info, which
// may hold credentials.
func (c *Client) post(ctx context.Context, hc *http.Client, target string, out outgoing, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, "", fmt.Errorf("build request to %s: %w", redact(target), stripURL(err))
	}
	req.Header = out.header.Clone()
	if out.key != nil {
		// Signed per attempt, so that a retry late in a long timeout is still fresh.
		req.Header.Set(SignatureV2Header, SignRequest(out.key, c.now(), req.Method, req.URL.RequestURI(), body))
		if c.legacySig {
			req.Header.Set(SignatureHeader, Sign(out.key, body))
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		if refused, ok := errors.AsType[*RefusedError](err); ok {
			return 0, "", fmt.Errorf("post to %s: %w", redact(target), refused)
		}
		return 0, "", fmt.Errorf("post to %s: %w", redact(target), stripURL(err))
	}
	defer func() { _ = resp.Body.Close() }()
	// The status decides; a body cut short by the deadline still yields its excerpt. Secrets
	// are scrubbed from the whole body read, before it is cut, so that no prefix of one stays.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes))
	excerpt := excerptOf([]byte(out.secrets.scrub(string(data))), out.secrets.scrub)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, excerpt, &StatusError{Code: resp.StatusCode, Body: excerpt}
	}
	return resp.StatusCode, excerpt, nil
}

// retriable reports whether another attempt may answer differently.
func retriable(err error) bool {
	if se, ok := errors.AsType[*StatusError](err); ok {
		c := se.Code
		return c == http.StatusRequestTimeout || c == http.StatusTooManyRequests ||
			(c >= 500 && c != http.StatusNotImplemented)
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return false
	}
	if errors.Is(err, ErrRefused) {
		return false
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// backoffFor returns the wait after the given attempt (0-based): doubling from the base,
// capped, with jitter so that canaries failing together do not retry together.
func (c *Client) backoffFor(attempt int) time.Duration {
	d := c.backoff
	for range attempt {
		if d >= maxBackoff {
			break
		}
		d *= 2
	}
	d = min(d, maxBackoff)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// timeoutOf returns the webhook's timeout: DefaultTimeout when unset or invalid, never more
// than MaxTimeout.
func timeoutOf(hook siskinv1.CanaryWebhook) time.Duration {
	if d, err := time.ParseDuration(hook.Timeout); err == nil && d > 0 {
		return min(d, MaxTimeout)
	}
	return DefaultTimeout
}

// stripURL drops the *url.Error wrapper, whose message repeats the full URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact returns the URL without user info, query and fragment.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "the webhook URL"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// excerptOf returns the start of body as one line of valid UTF-8, at most MaxExcerptBytes
// long, with "..." when cut. scrub, when not nil, is applied to the line before it is cut.
func excerptOf(body []byte, scrub func(string) string) string {
	// Look at a prefix only: whitespace runs shrink, but never by more than this factor matters.
	cutShort := len(body) > 4*MaxExcerptBytes
	if cutShort {
		body = body[:4*MaxExcerptBytes]
	}
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if scrub != nil {
		s = scrub(s)
	}
	if len(s) <= MaxExcerptBytes && !cutShort {
		return s
	}
	cut := min(len(s), MaxExcerptBytes)
	for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
