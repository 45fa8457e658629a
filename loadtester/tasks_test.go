package loadtester

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/siskin-dev/siskin/loadtester/task"
)

// target is a local app that fails every failEvery-th request (never when 0) and counts hits.
type target struct {
	*httptest.Server
	hits atomic.Int64
}

func newTarget(t *testing.T, failEvery int64) *target {
	t.Helper()
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n := tg.hits.Add(1); failEvery > 0 && n%failEvery == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(tg.Close)
	return tg
}

func decodeVerdict(t *testing.T, body string) verdict {
	t.Helper()
	var v verdict
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("response is not a verdict: %v\n%s", err, body)
	}
	return v
}

func TestBlockingLoadFailsOnTenPercentErrorsAndPassesWithNone(t *testing.T) {
	for _, c := range []struct {
		name      string
		failEvery int64
		code      int
	}{{"10% of responses are 500", 10, http.StatusInternalServerError}, {"no errors", 0, http.StatusOK}} {
		t.Run(c.name, func(t *testing.T) {
			app := newTarget(t, c.failEvery)
			s := newServer(t, Options{})
			p := withMeta(podinfo, "type", "load", "url", app.URL+"/", "requests", "100", "concurrency", "4",
				"maxErrorRate", "5", "maxP99Ms", "2000")
			code, body := call(t, s, "/", payload(t, p), nil)
			if code != c.code {
				t.Fatalf("= %d, want %d\n%s", code, c.code, body)
			}
			v := decodeVerdict(t, body)
			if v.Result.Requests != 100 || v.Passed != (c.code == http.StatusOK) {
				t.Errorf("verdict %+v", v)
			}
			if c.failEvery > 0 && (v.Result.ErrorRate != 10 || len(v.Violations) != 1 ||
				!strings.Contains(v.Violations[0], "maxErrorRate")) {
				t.Errorf("violations %q, error rate %g", v.Violations, v.Result.ErrorRate)
			}
		})
	}
}

func TestBlockingHeyCommandChecksLatencyBounds(t *testing.T) {
	app := newTarget(t, 0)
	s := newServer(t, Options{})
	p := withMeta(podinfo, "type", "cmd", "cmd", "hey -n 20 -c 2 -q 200 "+app.URL+"/", "blocking", "true",
		"maxP99Ms", "0")
	code, body := call(t, s, "/", payload(t, p), nil)
	if code != http.StatusInternalServerError {
		t.Fatalf("= %d, want 500 for an impossible p99 bound\n%s", code, body)
	}
	v := decodeVerdict(t, body)
	if v.Result.Requests != 20 || len(v.Violations) != 1 || !strings.Contains(v.Violations[0], "maxP99Ms") {
		t.Errorf("verdict %+v", v)
	}
	if *v.Bounds.MaxErrorRate != defaultMaxErrorRate {
		t.Errorf("default maxErrorRate not applied: %+v", v.Bounds)
	}
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBackgroundLoadIsReplacedOnNewChecksumAndStoppedOnRollback(t *testing.T) {
	app := newTarget(t, 0)
	s := newServer(t, Options{})
	hook := withMeta(podinfo, "cmd", "hey -z 1h -q 50 -c 1 "+app.URL+"/")
	hook.Type = "rollout"
	canary := hook.canary()

	code, body := call(t, s, "/", payload(t, hook), nil)
	if code != http.StatusAccepted || !strings.Contains(body, `"started": true`) {
		t.Fatalf("first call = %d %s", code, body)
	}
	waitFor(t, "traffic to flow", func() bool { return app.hits.Load() >= 3 })

	// The next analysis step repeats the webhook: the same generator keeps running.
	code, body = call(t, s, "/", payload(t, hook), nil)
	if code != http.StatusAccepted || !strings.Contains(body, `"started": false`) {
		t.Fatalf("repeat call = %d %s", code, body)
	}
	if sum, n := s.bg.running(canary); sum != "rev1" || n != 1 {
		t.Fatalf("running = %q %d", sum, n)
	}

	// A new revision replaces the generator.
	hook.Checksum = "rev2"
	code, body = call(t, s, "/", payload(t, hook), nil)
	if code != http.StatusAccepted || !strings.Contains(body, `"replaced": 1`) {
		t.Fatalf("new revision = %d %s", code, body)
	}
	if sum, n := s.bg.running(canary); sum != "rev2" || n != 1 {
		t.Fatalf("after new checksum running = %q %d", sum, n)
	}

	// A rollback payload stops it, without asking for a rollback.
	rollback := hook
	rollback.Type = "rollback"
	code, body = call(t, s, "/", payload(t, rollback), nil)
	if code != http.StatusForbidden {
		t.Fatalf("rollback = %d %s, want 403", code, body)
	}
	if _, n := s.bg.running(canary); n != 0 {
		t.Fatalf("%d generators still running after rollback", n)
	}
	s.Close() // waits for the generators to return
	before := app.hits.Load()
	time.Sleep(50 * time.Millisecond)
	if after := app.hits.Load(); after != before {
		t.Errorf("traffic continued after stop: %d -> %d", before, after)
	}
}

func TestBackgroundLoadStopsInTerminalPhaseAndAfterItsDuration(t *testing.T) {
	app := newTarget(t, 0)
	s := newServer(t, Options{})
	hook := withMeta(podinfo, "type", "load", "url", app.URL, "rps", "100", "duration", "1h")
	if code, body := call(t, s, "/", payload(t, hook), nil); code != http.StatusAccepted {
		t.Fatalf("start = %d %s", code, body)
	}
	done := hook
	done.Phase = "Succeeded"
	done.Type = "post-rollout"
	if code, body := call(t, s, "/", payload(t, done), nil); code != http.StatusOK || !strings.Contains(body, "not started") {
		t.Fatalf("post-rollout = %d %s", code, body)
	}
	if _, n := s.bg.running(hook.canary()); n != 0 {
		t.Fatalf("%d generators still running after Succeeded", n)
	}

	short := withMeta(podinfo, "type", "load", "url", app.URL, "rps", "100", "duration", "50ms")
	if code, body := call(t, s, "/", payload(t, short), nil); code != http.StatusAccepted {
		t.Fatalf("short = %d %s", code, body)
	}
	waitFor(t, "the generator to end after its duration", func() bool {
		_, n := s.bg.running(short.canary())
		return n == 0
	})
}

func TestTooManyTasksAreAnswered429(t *testing.T) {
	app := newTarget(t, 0)
	s := newServer(t, Options{MaxTasks: 1})
	first := withMeta(podinfo, "type", "load", "url", app.URL, "rps", "10", "duration", "1h")
	if code, _ := call(t, s, "/", payload(t, first), nil); code != http.StatusAccepted {
		t.Fatalf("first = %d", code)
	}
	other := withMeta(podinfo, "type", "load", "url", app.URL+"/other", "rps", "10", "duration", "1h")
	if code, _ := call(t, s, "/", payload(t, other), nil); code != http.StatusTooManyRequests {
		t.Fatalf("second = %d, want 429", code)
	}
}

func TestCommandTasksNeedFlagAndAllowList(t *testing.T) {
	allow, err := task.CompileAllowList([]string{`echo [a-z ]+`, `kubectl get pods -n test`})
	if err != nil {
		t.Fatal(err)
	}
	locked := newServer(t, Options{})
	open := newServer(t, Options{Exec: task.Policy{EnableShell: true, EnableKubectl: true, Allow: allow}})
	cases := []struct {
		name string
		s    *Server
		meta []string
		says string
	}{
		{"bash disabled", locked, []string{"type", "bash", "cmd", "echo hi"}, "--enable-shell"},
		{"shell cmd disabled", locked, []string{"cmd", "curl -s http://x/"}, "--enable-shell"},
		{"kubectl disabled", locked, []string{"type", "kubectl", "cmd", "get pods -n test"}, "--enable-kubectl"},
		{"helm disabled", open, []string{"type", "helm", "cmd", "test podinfo"}, "--enable-helm"},
		{"not allow-listed", open, []string{"type", "bash", "cmd", "rm -rf /"}, "matches no --allow-command"},
		{"injection after an allowed prefix", open, []string{"type", "bash", "cmd", "echo hi; cat /etc/passwd"}, "matches no"},
		{"kubectl outside the list", open, []string{"type", "kubectl", "cmd", "delete ns test"}, "matches no"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(t, c.s, "/", payload(t, withMeta(podinfo, c.meta...)), nil)
			if code != http.StatusForbidden || !strings.Contains(body, c.says) {
				t.Fatalf("= %d %q, want 403 mentioning %q", code, body, c.says)
			}
		})
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash to run an allowed command")
	}
	code, body := call(t, open, "/", payload(t, withMeta(podinfo, "type", "bash", "cmd", "echo hello world",
		"returnCmdOutput", "true")), nil)
	if code != http.StatusOK || body != "hello world\n\n" {
		t.Errorf("allowed bash = %d %q", code, body)
	}
}

func TestGRPCHealthTask(t *testing.T) {
	l, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(l) }()
	t.Cleanup(gs.Stop)
	addr := l.Addr().String()

	s := newServer(t, Options{})
	for _, c := range []struct {
		name string
		meta []string
		code int
	}{
		{"typed task, serving", []string{"type", "grpc-health", "address", addr}, http.StatusOK},
		{"typed task, not serving", []string{"type", "grpc-health", "address", addr, "service", "down"}, http.StatusInternalServerError},
		{"grpc_health_probe line", []string{"type", "bash", "cmd", "grpc_health_probe -addr " + addr}, http.StatusForbidden},
		{"grpc_health_probe as cmd", []string{"cmd", "grpc_health_probe -addr=" + addr}, http.StatusOK},
		{"ghz health load", []string{"cmd", "ghz --insecure --call grpc.health.v1.Health/Check -n 10 -c 2 " + addr, "blocking", "true"}, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(t, s, "/", payload(t, withMeta(podinfo, c.meta...)), nil)
			if code != c.code {
				t.Fatalf("= %d, want %d\n%s", code, c.code, body)
			}
		})
	}
}

func TestNamespaceRegexpAppliesToTasks(t *testing.T) {
	s := newServer(t, Options{Namespaces: regexp.MustCompile(`^(?:prod)$`)})
	code, body := call(t, s, "/", payload(t, withMeta(podinfo, "type", "load", "url", "http://127.0.0.1:1/")), nil)
	if code != http.StatusForbidden || !strings.Contains(body, "namespace") {
		t.Fatalf("= %d %q", code, body)
	}
}
