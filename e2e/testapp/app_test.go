package testapp

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func get(t *testing.T, h http.Handler, path string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec, body
}

func TestParseConfigReadsEnvAndImage(t *testing.T) {
	c, err := ParseConfig("podinfo-7d9f", "test", "ghcr.io/stefanprodan/podinfo:6.0.1", map[string]string{
		EnvErrorRate: "0.2", EnvLatencyMS: "150",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != "6.0.1" || c.ErrorRate != 0.2 || c.Latency != 150*time.Millisecond {
		t.Errorf("got %+v", c)
	}
	c, _ = ParseConfig("p", "ns", "localhost:5000/podinfo", map[string]string{EnvVersion: "2.0.0"})
	if c.Version != "2.0.0" {
		t.Errorf("VERSION env did not win over the image: %q", c.Version)
	}
	if got := imageTag("localhost:5000/podinfo"); got != "latest" {
		t.Errorf("a registry port was read as a tag: %q", got)
	}
	if _, err := ParseConfig("p", "ns", "x", map[string]string{EnvErrorRate: "20%"}); err == nil {
		t.Error("an invalid ERROR_RATE was accepted")
	}
}

func TestHandlerAnswersLikePodinfo(t *testing.T) {
	h := Handler(Config{Version: "1.2.3", Hostname: "podinfo-abc", Namespace: "test"}, nil)
	rec, body := get(t, h, "/")
	if rec.Code != http.StatusOK || body["version"] != "1.2.3" || body["hostname"] != "podinfo-abc" {
		t.Errorf("/ answered %d %v", rec.Code, body)
	}
	if rec.Header().Get("X-App-Version") != "1.2.3" {
		t.Errorf("missing X-App-Version header")
	}
	for path, code := range map[string]int{"/healthz": 200, "/readyz": 200, "/status/503": 503, "/status/abc": 400, "/delay/0": 200, "/nope": 404} {
		if rec, _ := get(t, h, path); rec.Code != code {
			t.Errorf("%s answered %d, want %d", path, rec.Code, code)
		}
	}
}

func TestHandlerErrorRate(t *testing.T) {
	always := handler(Config{ErrorRate: 1}, nil, func() float64 { return 0.999 })
	if rec, _ := get(t, always, "/"); rec.Code != http.StatusInternalServerError {
		t.Errorf("ERROR_RATE=1 answered %d", rec.Code)
	}
	if rec, _ := get(t, always, "/healthz"); rec.Code != http.StatusOK {
		t.Errorf("ERROR_RATE made the probe fail: %d", rec.Code)
	}
	never := Handler(Config{}, nil)
	fifth := Handler(Config{ErrorRate: 0.2}, nil)
	failed := 0
	const n = 2000
	for range n {
		if rec, _ := get(t, never, "/"); rec.Code != http.StatusOK {
			t.Fatalf("ERROR_RATE=0 answered %d", rec.Code)
		}
		if rec, _ := get(t, fifth, "/"); rec.Code == http.StatusInternalServerError {
			failed++
		}
	}
	// 400 expected; the bounds are more than 6 standard deviations (about 18) away.
	if failed < 290 || failed > 510 {
		t.Errorf("ERROR_RATE=0.2 failed %d of %d requests", failed, n)
	}
}

func TestHandlerLatency(t *testing.T) {
	h := Handler(Config{Latency: 50 * time.Millisecond}, nil)
	start := time.Now()
	get(t, h, "/")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("/ took %s, want at least LATENCY_MS", d)
	}
	start = time.Now()
	get(t, h, "/healthz")
	if d := time.Since(start); d >= 50*time.Millisecond {
		t.Errorf("/healthz was delayed: %s", d)
	}
}

// freePort returns a port free on ip.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s (is 127.0.0.0/8 loopback here?): %v", ip, err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestServerServesRunningPodsAtTheirListenIP(t *testing.T) {
	const ip = "127.250.0.7"
	port := freePort(t, ip)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo-1", Namespace: "test", UID: "u1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "podinfo:1.0.0",
			Env:   []corev1.EnvVar{{Name: EnvVersion, Value: "1.0.1"}},
			Ports: []corev1.ContainerPort{{ContainerPort: int32(port)}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.250.0.7"},
	}
	cs := fake.NewClientset(pod)
	srv := NewServer(cs, Options{Log: testr.New(t), ListenIP: func(podIP string) (string, bool) {
		// The pod IP 10.250.0.7 is served at its loopback twin, as localenv does.
		return "127.250.0.7", podIP == "10.250.0.7"
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(port)) + "/"
	var body map[string]any
	waitFor(t, "the pod to be served", func() bool {
		body = nil
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer func() { _ = resp.Body.Close() }()
		return json.NewDecoder(resp.Body).Decode(&body) == nil
	})
	if body["version"] != "1.0.1" || body["hostname"] != "podinfo-1" {
		t.Errorf("pod answered %v", body)
	}

	if err := cs.CoreV1().Pods("test").Delete(ctx, "podinfo-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the listener to close", func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		return err != nil
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
