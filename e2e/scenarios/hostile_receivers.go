//go:build e2e

package scenarios

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// replaySignedGateCall signs a call to the signed load tester's /gate/check as the controller
// would, then sends the same body and signature to /gate/open: the signature binds the path,
// so the replay is refused and the gate stays closed. A correctly signed /gate/open shows that
// the key itself was right.
func (h *hostile) replaySignedGateCall() {
	h.t.Helper()
	key := webhooks.NormalizeKey(h.signedKey)
	body, _ := json.Marshal(map[string]string{"name": mLoad, "namespace": h.malloryNS, "checksum": "rev-" + h.in.Namespace, "type": string(siskinv1.ConfirmPromotionHook), "phase": "Progressing"})
	call := func(path, signature string) (int, string) {
		h.t.Helper()
		req, _ := http.NewRequestWithContext(h.ctx, http.MethodPost, h.signedLT+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if signature != "" {
			req.Header.Set(webhooks.SignatureV2Header, signature)
		}
		resp, err := localClient.Do(req)
		if err != nil {
			h.t.Fatalf("call the signed load tester at %s: %v", path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	sign := func(path string) string { return webhooks.SignRequest(key, time.Now(), http.MethodPost, path, body) }
	expect := func(what string, code int, msg string, want int, wantMsg string) {
		h.t.Helper()
		if code != want || !strings.Contains(msg, wantMsg) {
			h.t.Fatalf("signed load tester, %s: answered %d %q; expected %d with %q", what, code, msg, want, wantMsg)
		}
		h.t.Logf("signed load tester, %s: %d %s", what, code, msg)
	}
	captured := sign("/gate/check")
	code, msg := call("/gate/check", captured)
	expect("signed /gate/check", code, msg, http.StatusForbidden, "is closed")
	code, msg = call("/gate/open", captured)
	expect("the /gate/check signature replayed at /gate/open", code, msg, http.StatusUnauthorized, "signature does not match")
	code, msg = call("/gate/open", "")
	expect("unsigned /gate/open", code, msg, http.StatusUnauthorized, "missing "+webhooks.SignatureV2Header)
	code, msg = call("/gate/check", sign("/gate/check"))
	expect("/gate/check after the replays", code, msg, http.StatusForbidden, "is closed")
	code, msg = call("/gate/open", sign("/gate/open"))
	expect("/gate/open signed for /gate/open", code, msg, http.StatusOK, "opened")
	code, msg = call("/gate/check", sign("/gate/check"))
	expect("/gate/check after the signed open", code, msg, http.StatusOK, "is open")
}

// localClient talks to loopback servers the test runs; never through a proxy.
var localClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

// startSignedLoadtester runs a second bin/siskin-loadtester, as the chart runs it, that
// requires X-Siskin-Signature-V2 under key: the local environment's load tester has no key. Its
// key file ends in a newline, which both sides drop (webhooks.NormalizeKey).
func startSignedLoadtester(t *testing.T, env *framework.Env, name string, key []byte) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "signing-key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	logf, err := os.Create(filepath.Join(env.StateDir, "logs", "loadtester-signed-"+name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), env.Bin("siskin-loadtester"),
		"--listen-address="+addr, "--signature-secret-file="+keyFile, "--require-signature", "--gate-store=memory")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("start the signed load tester: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logf.Close()
	})
	url := "http://" + addr
	err = framework.Eventually(context.Background(), 20*time.Second, "the signed load tester's /healthz", func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
		resp, err := localClient.Do(req)
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("%v; log %s", err, logf.Name())
	}
	return url
}

// tenantServer is one of mallory's receivers on loopback: it records every request and
// answers with answer, or never (until the test ends) when answer is nil.
type tenantServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []recorded
	release chan struct{}
}

// recorded is a request a tenantServer received.
type recorded struct {
	Method, URL string
	Header      http.Header
	Body        string
}

func (r recorded) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL)
	_ = r.Header.Write(&b)
	b.WriteString("\n" + r.Body)
	return b.String()
}

func newTenantServer(t *testing.T, answer func(http.ResponseWriter, recorded)) *tenantServer {
	s := &tenantServer{release: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		rec := recorded{Method: r.Method, URL: r.URL.String(), Header: r.Header.Clone(), Body: string(body)}
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		s.mu.Unlock()
		if answer == nil {
			select {
			case <-s.release:
			case <-r.Context().Done():
			}
			return
		}
		answer(w, rec)
	}))
	// Close waits for the handlers, so the hanging ones are let go first.
	t.Cleanup(func() { close(s.release); s.srv.Close() })
	return s
}

func (s *tenantServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

// count is the number of requests to path.
func (s *tenantServer) count(path string) int {
	n := 0
	for _, r := range s.requests() {
		if strings.HasPrefix(r.URL, path) {
			n++
		}
	}
	return n
}

// promAnswer answers any query with the value 100, as Prometheus would.
func promAnswer(w http.ResponseWriter, _ recorded) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%s,"100"]}]}}`,
		strconv.FormatInt(time.Now().Unix(), 10))
}

// echoAnswer fails the call with the request's headers in the body, as many debugging
// endpoints answer.
func echoAnswer(w http.ResponseWriter, r recorded) {
	w.WriteHeader(http.StatusInternalServerError)
	// Her header first, so that it falls within the excerpt the controller keeps.
	_, _ = io.WriteString(w, "echo of your request: X-Echo-Token="+r.Header.Get("X-Echo-Token")+"; ")
	_ = r.Header.Write(w)
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
