package loadtester

import (
	"github.com/siskin-dev/siskin/pkg/webhooks"

	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/siskin-dev/siskin/loadtester/gate"
)

var loopback = regexp.MustCompile(`^(?:127\.0\.0\.1(?::\d+)?)$`)

func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Logger == (logr.Logger{}) {
		opts.Logger = testr.New(t)
	}
	if opts.TargetHosts == nil {
		opts.TargetHosts = loopback // the test targets are httptest servers
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// call posts body to path and returns the status and the response body.
func call(t *testing.T, h http.Handler, path string, body []byte, header http.Header) (int, string) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return rec.Code, string(b)
}

func payload(t *testing.T, p Payload) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var podinfo = Payload{Name: "podinfo", Namespace: "test", Phase: "Progressing", Checksum: "rev1"}

func TestApproveAndHaltAreConstant(t *testing.T) {
	s := newServer(t, Options{})
	if code, _ := call(t, s, "/gate/approve", payload(t, podinfo), nil); code != http.StatusOK {
		t.Errorf("approve = %d", code)
	}
	if code, _ := call(t, s, "/gate/approve", nil, nil); code != http.StatusOK {
		t.Errorf("approve without a body = %d", code)
	}
	if code, _ := call(t, s, "/gate/halt", payload(t, podinfo), nil); code != http.StatusForbidden {
		t.Errorf("halt = %d", code)
	}
}

func TestGatesOpenCloseAndCheckPerCanary(t *testing.T) {
	s := newServer(t, Options{})
	other := podinfo
	other.Namespace = "other"
	for _, kind := range []string{"gate", "rollback"} {
		check := func(p Payload, want int) {
			t.Helper()
			if code, body := call(t, s, "/"+kind+"/check", payload(t, p), nil); code != want {
				t.Fatalf("%s check for %s = %d %q, want %d", kind, p.canary(), code, body, want)
			}
		}
		check(podinfo, http.StatusForbidden) // closed until opened
		if code, _ := call(t, s, "/"+kind+"/open", payload(t, podinfo), nil); code != http.StatusOK {
			t.Fatalf("%s open = %d", kind, code)
		}
		check(podinfo, http.StatusOK)
		check(other, http.StatusForbidden)
		if code, _ := call(t, s, "/"+kind+"/close", payload(t, podinfo), nil); code != http.StatusOK {
			t.Fatalf("%s close = %d", kind, code)
		}
		check(podinfo, http.StatusForbidden)
	}
	// The two kinds are separate gates.
	call(t, s, "/rollback/open", payload(t, podinfo), nil)
	if code, _ := call(t, s, "/gate/check", payload(t, podinfo), nil); code != http.StatusForbidden {
		t.Errorf("opening the rollback gate opened the promotion gate")
	}
}

func TestGatesPersistAcrossRestartInConfigMap(t *testing.T) {
	api := fake.NewClientBuilder().Build()
	first := newServer(t, Options{Gates: gate.NewConfigMap(api, "siskin", "siskin-loadtester-gates", 0)})
	if code, body := call(t, first, "/gate/open", payload(t, podinfo), nil); code != http.StatusOK {
		t.Fatalf("open = %d %s", code, body)
	}
	call(t, first, "/rollback/open", payload(t, podinfo), nil)
	first.Close()

	restarted := newServer(t, Options{Gates: gate.NewConfigMap(api, "siskin", "siskin-loadtester-gates", 0)})
	for _, path := range []string{"/gate/check", "/rollback/check"} {
		if code, _ := call(t, restarted, path, payload(t, podinfo), nil); code != http.StatusOK {
			t.Errorf("%s after restart = %d, want 200", path, code)
		}
	}
	call(t, restarted, "/gate/close", payload(t, podinfo), nil)
	if code, _ := call(t, restarted, "/gate/check", payload(t, podinfo), nil); code != http.StatusForbidden {
		t.Errorf("check after close = %d, want 403", code)
	}
}

func TestBadRequestsAreRefusedWithAMessage(t *testing.T) {
	s := newServer(t, Options{Namespaces: regexp.MustCompile(`^(?:test|staging)$`)})
	cases := []struct {
		name, path string
		body       []byte
		code       int
		says       string
	}{
		{"not JSON", "/gate/check", []byte("{"), http.StatusBadRequest, "decode payload"},
		{"no canary", "/gate/open", []byte(`{"namespace":"test"}`), http.StatusBadRequest, "name and a namespace"},
		{"bad name", "/gate/open", []byte(`{"name":"Pod_Info","namespace":"test"}`), http.StatusBadRequest, "invalid gate key"},
		{"namespace not allowed", "/gate/check", []byte(`{"name":"a","namespace":"prod"}`), http.StatusForbidden, "--namespace-regexp"},
		{"namespace pattern is anchored", "/", []byte(`{"name":"a","namespace":"test2"}`), http.StatusForbidden, "--namespace-regexp"},
		{"unknown task type", "/", payload(t, withMeta(podinfo, "type", "python", "cmd", "x")), http.StatusBadRequest, `unknown task type "python"`},
		{"unsupported task type", "/", payload(t, withMeta(podinfo, "type", "concord")), http.StatusBadRequest, "not supported"},
		{"cmd without a command", "/", payload(t, withMeta(podinfo, "type", "cmd")), http.StatusBadRequest, "metadata.cmd is required"},
		{"malformed hey", "/", payload(t, withMeta(podinfo, "cmd", "hey -z forever http://x/")), http.StatusBadRequest, "hey"},
		{"load without url", "/", payload(t, withMeta(podinfo, "type", "load")), http.StatusBadRequest, "metadata.url"},
		{"bad bound", "/", payload(t, withMeta(podinfo, "type", "load", "url", "http://x/", "maxP99Ms", "fast")), http.StatusBadRequest, "maxP99Ms"},
		{"too long", "/", payload(t, withMeta(podinfo, "type", "load", "url", "http://x/", "duration", "2h")), http.StatusBadRequest, "exceeds the limit 1h0m0s (--max-load-duration)"},
		{"body too large", "/", bytes.Repeat([]byte(" "), DefaultMaxBodyBytes+1), http.StatusRequestEntityTooLarge, "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(t, s, c.path, c.body, nil)
			if code != c.code || !strings.Contains(body, c.says) {
				t.Fatalf("= %d %q, want %d mentioning %q", code, body, c.code, c.says)
			}
		})
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/gate/check", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /gate/check = %d, want 405", rec.Code)
	}
}

func withMeta(p Payload, kv ...string) Payload {
	p.Metadata = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		p.Metadata[kv[i]] = kv[i+1]
	}
	return p
}

func TestSignatures(t *testing.T) {
	secret := []byte("s3cret")
	body := payload(t, podinfo)
	sign := func(key []byte, path string) http.Header {
		return http.Header{SignatureHeader: {webhooks.SignRequest(key, time.Now(), http.MethodPost, path, body)}}
	}
	garbage := http.Header{SignatureHeader: {"t=1,v1=zz"}}
	legacy := http.Header{LegacySignatureHeader: {webhooks.Sign(secret, body)}}
	legacyInNewHeader := http.Header{SignatureHeader: {webhooks.Sign(secret, body)}}

	required := newServer(t, Options{Secret: secret, RequireSignature: true})
	optional := newServer(t, Options{Secret: secret})
	migrating := newServer(t, Options{Secret: secret, RequireSignature: true, AcceptLegacySignature: true})
	cases := []struct {
		name   string
		s      *Server
		path   string
		header http.Header
		code   int
	}{
		{"required, signed", required, "/gate/open", sign(secret, "/gate/open"), http.StatusOK},
		{"required, unsigned", required, "/gate/open", nil, http.StatusUnauthorized},
		{"required, unsigned task", required, "/", nil, http.StatusUnauthorized},
		{"required, unsigned approve", required, "/gate/approve", nil, http.StatusUnauthorized},
		{"required, wrong key", required, "/gate/check", sign([]byte("other"), "/gate/check"), http.StatusUnauthorized},
		{"required, not hex", required, "/gate/check", garbage, http.StatusUnauthorized},
		{"required, legacy value", required, "/gate/check", legacyInNewHeader, http.StatusUnauthorized},
		{"required, legacy header not accepted", required, "/gate/open", legacy, http.StatusUnauthorized},
		{"optional, legacy header not accepted", optional, "/gate/open", legacy, http.StatusUnauthorized},
		{"migrating, legacy header accepted", migrating, "/gate/open", legacy, http.StatusOK},
		{"optional, unsigned", optional, "/gate/open", nil, http.StatusOK},
		{"optional, wrong key", optional, "/gate/open", sign([]byte("other"), "/gate/open"), http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, msg := call(t, c.s, c.path, body, c.header)
			if code != c.code {
				t.Fatalf("= %d %q, want %d", code, msg, c.code)
			}
		})
	}
	// The signature covers the body: a signed body that was altered is refused.
	tampered := bytes.Replace(body, []byte("podinfo"), []byte("podinfx"), 1)
	if code, _ := call(t, required, "/gate/open", tampered, sign(secret, "/gate/open")); code != http.StatusUnauthorized {
		t.Errorf("tampered body = %d, want 401", code)
	}
	if _, err := New(Options{RequireSignature: true}); err == nil {
		t.Error("New accepted a required signature without a secret")
	}
}

func TestMetricsEndpointServesOwnRegistry(t *testing.T) {
	s := newServer(t, Options{})
	call(t, s, "/gate/halt", nil, nil)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `siskin_loadtester_webhooks_total{code="403",endpoint="/gate/halt"} 1`) {
		t.Fatalf("metrics = %d\n%s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("healthz = %d", rec.Code)
	}
}
