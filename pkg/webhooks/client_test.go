package webhooks

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// newServer starts a loopback HTTP server that is closed when the test ends.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newHangingServer starts a loopback server that answers only when the client goes away or
// the test ends.
func newHangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
		// The server notices a client that went away only once the body has been read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	// Cleanups run last-in first-out: release the handlers before srv.Close waits for them.
	t.Cleanup(func() { close(release) })
	return srv
}

// answer returns a handler that answers code with body.
func answer(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func testClient(opts ...Option) *Client {
	return New(append([]Option{WithBackoff(time.Millisecond)}, opts...)...)
}

func hook(name string, typ siskinv1.WebhookType, url string) siskinv1.CanaryWebhook {
	return siskinv1.CanaryWebhook{Name: name, Type: typ, URL: url, Timeout: "5s"}
}

var testPayload = Payload{Name: "podinfo", Namespace: "test", Phase: siskinv1.PhaseProgressing, Checksum: "abc123"}

// callWithin calls hook and fails the test if the call has not returned within limit: a guard
// against hanging forever, not a speed target.
func callWithin(t *testing.T, c *Client, h siskinv1.CanaryWebhook, limit time.Duration) Result {
	t.Helper()
	done := make(chan Result, 1)
	go func() { done <- c.Call(context.Background(), h, testPayload) }()
	select {
	case r := <-done:
		return r
	case <-time.After(limit):
		t.Fatalf("call to %s did not return within %s", h.Name, limit)
		return Result{}
	}
}

func TestCallSucceedsOnAny2xx(t *testing.T) {
	for _, code := range []int{200, 201, 202, 203, 204, 206, 299} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := newServer(t, answer(code, ""))
			r := testClient().Call(context.Background(), hook("h", "", srv.URL), testPayload)
			if !r.OK() || r.StatusCode != code {
				t.Fatalf("got status %d err %v, want success with %d", r.StatusCode, r.Err, code)
			}
		})
	}
}

func TestCallFailsOutside2xx(t *testing.T) {
	for _, code := range []int{301, 302, 304, 400, 401, 403, 404, 409, 500, 501, 503} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			var target int32
			ok := newServer(t, func(http.ResponseWriter, *http.Request) { atomic.AddInt32(&target, 1) })
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if code >= 300 && code < 400 {
					w.Header().Set("Location", ok.URL)
				}
				w.WriteHeader(code)
			})
			r := testClient().Call(context.Background(), hook("h", "", srv.URL), testPayload)
			se, isStatus := errors.AsType[*StatusError](r.Err)
			if !isStatus || se.Code != code || r.StatusCode != code {
				t.Fatalf("got status %d err %v, want *StatusError %d", r.StatusCode, r.Err, code)
			}
			if n := atomic.LoadInt32(&target); n != 0 {
				t.Fatalf("redirect was followed %d times", n)
			}
		})
	}
}

func TestCallSendsPayloadWithTypeAndMergedMetadata(t *testing.T) {
	var got Payload
	var contentType string
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		contentType = r.Header.Get("Content-Type")
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	h := hook("load", siskinv1.PreRolloutHook, srv.URL)
	h.Metadata = map[string]string{"cmd": "hey -z 1m", "eventMessage": "static"}
	p := testPayload
	p.Metadata = map[string]string{"eventMessage": "from caller"}

	if r := testClient().Call(context.Background(), h, p); !r.OK() {
		t.Fatalf("call failed: %v", r.Err)
	}
	want := Payload{
		Name: "podinfo", Namespace: "test", Phase: siskinv1.PhaseProgressing, Checksum: "abc123",
		Type:     siskinv1.PreRolloutHook,
		Metadata: map[string]string{"cmd": "hey -z 1m", "eventMessage": "from caller"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("payload = %+v, want %+v", got, want)
	}
	if contentType != "application/json" {
		t.Errorf("Content-Type = %q", contentType)
	}
}

func TestPayloadJSONFieldNames(t *testing.T) {
	data, err := json.Marshal(testPayload.forHook(hook("h", "", "http://x")))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"abc123","type":"rollout","metadata":{}}`
	if string(data) != want {
		t.Errorf("payload JSON = %s, want %s", data, want)
	}
}

func TestCallRetriesUntilSuccess(t *testing.T) {
	var n atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	h := hook("h", "", srv.URL)
	h.Retries = 5
	r := testClient().Call(context.Background(), h, testPayload)
	if !r.OK() || r.Attempts != 3 || n.Load() != 3 {
		t.Fatalf("got err %v after %d attempts (%d requests), want success after 3", r.Err, r.Attempts, n.Load())
	}
}

func TestCallStopsAfterRetries(t *testing.T) {
	var n atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	})
	h := hook("h", "", srv.URL)
	h.Retries = 2
	r := testClient().Call(context.Background(), h, testPayload)
	if r.OK() || n.Load() != 3 || r.Attempts != 3 {
		t.Fatalf("got err %v, %d requests, want failure after 3", r.Err, n.Load())
	}
	if !strings.Contains(r.Describe(), "answered 500") || !strings.Contains(r.Describe(), "after 3 attempts") {
		t.Errorf("Describe() = %q", r.Describe())
	}
}

func TestCallDoesNotRetryDefiniteAnswers(t *testing.T) {
	for _, code := range []int{400, 403, 404, 501} {
		var n atomic.Int32
		srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			n.Add(1)
			w.WriteHeader(code)
		})
		h := hook("h", "", srv.URL)
		h.Retries = 3
		if r := testClient().Call(context.Background(), h, testPayload); r.OK() || n.Load() != 1 {
			t.Errorf("%d: got err %v after %d requests, want one failed request", code, r.Err, n.Load())
		}
	}
}

func TestCallRetriesWhenNobodyListens(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	h := hook("h", "", "http://"+addr+"/")
	h.Retries = 2
	r := testClient().Call(context.Background(), h, testPayload)
	if r.OK() || r.Attempts != 3 || r.StatusCode != 0 {
		t.Fatalf("got err %v after %d attempts, want 3 failed attempts", r.Err, r.Attempts)
	}
}

func TestCallHonoursTimeoutOfHangingServer(t *testing.T) {
	srv := newHangingServer(t)
	h := hook("h", "", srv.URL)
	h.Timeout = "100ms"
	h.Retries = 10
	r := callWithin(t, testClient(), h, 10*time.Second)
	if !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", r.Err)
	}
}

func TestCallHonoursCallerContext(t *testing.T) {
	srv := newHangingServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result, 1)
	go func() { done <- testClient().Call(ctx, hook("h", "", srv.URL), testPayload) }()
	cancel()
	select {
	case r := <-done:
		if !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("err = %v, want canceled", r.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("call ignored the cancelled context")
	}
}

func TestCallBoundsTheBodyInResultAndMessage(t *testing.T) {
	big := strings.Repeat("error line\n", 100_000) // ~1 MiB
	srv := newServer(t, answer(http.StatusInternalServerError, big))
	r := testClient().Call(context.Background(), hook("h", "", srv.URL), testPayload)
	if len(r.Body) > MaxExcerptBytes+len("...") || !strings.HasSuffix(r.Body, "...") {
		t.Errorf("body excerpt has %d bytes: %q", len(r.Body), r.Body)
	}
	if msg := r.Err.Error(); len(msg) > MaxExcerptBytes+64 || !strings.HasPrefix(msg, "answered 500: error line error line") {
		t.Errorf("error message (%d bytes) = %q", len(msg), msg)
	}
}

func TestExcerptOf(t *testing.T) {
	long := strings.Repeat("é", MaxExcerptBytes) // 2 bytes a rune: the cut falls mid-rune
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"lines become one", "a\n\tb\r\n c\x00", "a b c"},
		{"invalid UTF-8 is replaced", "ok \xff", "ok \uFFFD"},
		{"cut on a rune boundary", long, strings.Repeat("é", MaxExcerptBytes/2) + "..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := excerptOf([]byte(tc.in), nil); got != tc.want {
				t.Errorf("excerptOf = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCallSendsSecretHeadersAndSignature(t *testing.T) {
	var header http.Header
	var req *http.Request
	var body []byte
	srv := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
		header = r.Header.Clone()
		req = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
	})
	var asked string
	source := HeaderSourceFunc(func(_ context.Context, namespace, name string) (map[string][]byte, error) {
		asked = namespace + "/" + name
		return map[string][]byte{
			"Authorization": []byte("Bearer t0ken\n"),
			"x-api-key":     []byte("k1"),
			"Content-Type":  []byte("text/plain"),
			SigningKeyName:  []byte("per-hook-key"),
		}, nil
	})
	h := hook("h", "", srv.URL)
	h.SecretRef = &siskinv1.LocalObjectReference{Name: "hook-auth"}
	c := testClient(WithHeaderSource(source), WithSigningKey([]byte("controller-key")))
	if r := c.Call(context.Background(), h, testPayload); !r.OK() {
		t.Fatalf("call failed: %v", r.Err)
	}
	if asked != "test/hook-auth" {
		t.Errorf("secret read = %q, want test/hook-auth", asked)
	}
	if got := header.Get("Authorization"); got != "Bearer t0ken" {
		t.Errorf("Authorization = %q", got)
	}
	if got := header.Get("X-Api-Key"); got != "k1" {
		t.Errorf("X-Api-Key = %q", got)
	}
	if got := header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, a Secret must not change it", got)
	}
	if got := header.Get(SigningKeyName); got != "" {
		t.Errorf("the signing key was sent as a header")
	}
	if err := (Verifier{Key: []byte("per-hook-key")}).Verify(req, body); err != nil {
		t.Errorf("signature %q does not verify with the webhook's key: %v", header.Get(SignatureV2Header), err)
	}
	if err := (Verifier{Key: []byte("controller-key")}).Verify(req, body); !errors.Is(err, ErrBadSignature) {
		t.Errorf("signature verified with the controller key, want the webhook's key to win")
	}
	if got := header.Values(SignatureHeader); len(got) != 0 {
		t.Errorf("legacy signature %q sent though not configured", got)
	}
}

func TestCallSignsWithControllerKey(t *testing.T) {
	var sig, legacy string
	var req *http.Request
	var body []byte
	srv := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
		sig, legacy = r.Header.Get(SignatureV2Header), r.Header.Get(SignatureHeader)
		req = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
	})
	key := []byte("controller-key")
	c := testClient(WithSigningKey(key), WithLegacySignature(true))
	if r := c.Call(context.Background(), hook("h", "", srv.URL+"/gate/check"), testPayload); !r.OK() {
		t.Fatalf("call failed: %v", r.Err)
	}
	if err := (Verifier{Key: key}).Verify(req, body); err != nil {
		t.Fatalf("signature %q: %v", sig, err)
	}
	if sig != strings.ToLower(sig) {
		t.Errorf("signature %q is not lower-case hex", sig)
	}
	// Configured, the legacy body-only header is sent as well.
	if err := Verify(key, body, legacy); err != nil {
		t.Errorf("legacy signature %q: %v", legacy, err)
	}
}

func TestCallWithoutKeySendsNoSignature(t *testing.T) {
	var sig []string
	srv := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
		sig = append(r.Header.Values(SignatureHeader), r.Header.Values(SignatureV2Header)...)
	})
	if r := testClient().Call(context.Background(), hook("h", "", srv.URL), testPayload); !r.OK() {
		t.Fatalf("call failed: %v", r.Err)
	}
	if len(sig) != 0 {
		t.Errorf("signature sent without a key: %q", sig)
	}
}

func TestCallFailsWithoutCallingWhenHeadersCannotBeBuilt(t *testing.T) {
	var n atomic.Int32
	srv := newServer(t, func(http.ResponseWriter, *http.Request) { n.Add(1) })
	h := hook("h", "", srv.URL)
	h.SecretRef = &siskinv1.LocalObjectReference{Name: "hook-auth"}
	errNotFound := errors.New("secret not found")

	if r := testClient().Call(context.Background(), h, testPayload); !errors.Is(r.Err, ErrNoHeaderSource) {
		t.Errorf("without a source: err = %v, want ErrNoHeaderSource", r.Err)
	}
	notFound := HeaderSourceFunc(func(context.Context, string, string) (map[string][]byte, error) { return nil, errNotFound })
	if r := testClient(WithHeaderSource(notFound)).Call(context.Background(), h, testPayload); !errors.Is(r.Err, errNotFound) {
		t.Errorf("secret missing: err = %v, want it wrapped", r.Err)
	}
	badValue := HeaderSourceFunc(func(context.Context, string, string) (map[string][]byte, error) {
		return map[string][]byte{"Authorization": []byte("Bearer a\r\nX-Injected: sup3rsecret")}, nil
	})
	r := testClient(WithHeaderSource(badValue)).Call(context.Background(), h, testPayload)
	if r.Err == nil || strings.Contains(r.Err.Error(), "sup3rsecret") || !strings.Contains(r.Err.Error(), "Authorization") {
		t.Errorf("bad header value: err = %v, want an error naming the key but not the value", r.Err)
	}
	if n.Load() != 0 {
		t.Errorf("the webhook was called %d times", n.Load())
	}
}

func TestCallDisableTLSSkipsVerification(t *testing.T) {
	srv := httptest.NewTLSServer(answer(http.StatusOK, "ok"))
	t.Cleanup(srv.Close)
	h := hook("h", "", srv.URL)
	h.Retries = 3

	r := testClient().Call(context.Background(), h, testPayload)
	if _, ok := errors.AsType[*tls.CertificateVerificationError](r.Err); !ok || r.Attempts != 1 {
		t.Fatalf("verified call: err %v after %d attempts, want one certificate error", r.Err, r.Attempts)
	}
	h.DisableTLS = true
	if r := testClient().Call(context.Background(), h, testPayload); !r.OK() {
		t.Fatalf("call with disableTLS failed: %v", r.Err)
	}
}

func TestCallErrorsHideURLCredentials(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	r := testClient().Call(context.Background(), hook("h", "", "http://user:pa55@"+addr+"/hook?token=t0ken"), testPayload)
	if r.Err == nil {
		t.Fatal("call to a closed port succeeded")
	}
	if msg := r.Err.Error(); strings.Contains(msg, "pa55") || strings.Contains(msg, "t0ken") || !strings.Contains(msg, addr+"/hook") {
		t.Errorf("error %q leaks credentials or lacks the address", msg)
	}
}

func TestClientReusesConnections(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(answer(http.StatusOK, "ok"))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := testClient()
	for range 5 {
		if r := c.Call(context.Background(), hook("h", "", srv.URL), testPayload); !r.OK() {
			t.Fatalf("call failed: %v", r.Err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("5 calls opened %d connections, want 1", conns)
	}
}

func TestTimeoutOf(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"": DefaultTimeout, "0s": DefaultTimeout, "nonsense": DefaultTimeout,
		"1.5s": 1500 * time.Millisecond, "1m30s": 90 * time.Second,
	} {
		if got := timeoutOf(siskinv1.CanaryWebhook{Timeout: in}); got != want {
			t.Errorf("timeoutOf(%q) = %s, want %s", in, got, want)
		}
	}
}
