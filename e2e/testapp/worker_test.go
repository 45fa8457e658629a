package testapp

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestParseConfigReadsWorkerMode(t *testing.T) {
	c, err := ParseConfig("w-0", "ns", "worker:1", map[string]string{EnvWorkRate: "20", EnvWorkErrorRate: "0.25"})
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkRate != 20 || c.WorkErrorRate != 0.25 {
		t.Errorf("got %+v", c)
	}
	for _, env := range []map[string]string{
		{EnvWorkRate: "fast"}, {EnvWorkRate: "-1"}, {EnvWorkRate: "1e9"}, {EnvWorkErrorRate: "2"},
	} {
		if _, err := ParseConfig("w-0", "ns", "worker:1", env); err == nil {
			t.Errorf("%v was accepted", env)
		}
	}
}

func TestWorkerCountsJobsByResult(t *testing.T) {
	// Every fourth draw is below the error rate: a quarter of the jobs fail.
	i := 0
	draws := []float64{0.1, 0.6, 0.7, 0.9}
	w := newWorker(Config{WorkRate: 10, WorkErrorRate: 0.25}, func() float64 { i++; return draws[(i-1)%len(draws)] })
	w.do(8)
	if ok, failed := testutil.ToFloat64(w.ok), testutil.ToFloat64(w.failed); ok != 6 || failed != 2 {
		t.Errorf("ok %v failed %v; expected 6 and 2", ok, failed)
	}
}

func TestWorkerDoesItsRateCarryingFractions(t *testing.T) {
	w := newWorker(Config{WorkRate: 5}, func() float64 { return 0.5 })
	// 5 jobs a second over ten ticks of 100 ms: half a job per tick, so one every other tick.
	for range 10 {
		w.tick(100 * time.Millisecond)
	}
	if ok := testutil.ToFloat64(w.ok); ok != 5 {
		t.Errorf("did %v jobs in a second at 5 a second", ok)
	}
	if failed := testutil.ToFloat64(w.failed); failed != 0 {
		t.Errorf("%v jobs failed without WORK_ERROR_RATE", failed)
	}
}

func TestWorkerRunsUntilItsContextEnds(t *testing.T) {
	w := newWorker(Config{WorkRate: 200}, func() float64 { return 0.5 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	time.Sleep(350 * time.Millisecond)
	cancel()
	<-done
	n := testutil.ToFloat64(w.ok)
	// 200 a second for about 0.3 s of ticks; loose bounds for a busy machine.
	if n < 20 || n > 80 {
		t.Errorf("did %v jobs in 350 ms at 200 a second", n)
	}
	after := n
	time.Sleep(250 * time.Millisecond)
	if n := testutil.ToFloat64(w.ok); n != after {
		t.Errorf("went on working after its context ended: %v then %v", after, n)
	}
}

func TestHandlerServesTheWorkersMetrics(t *testing.T) {
	w := newWorker(Config{WorkRate: 1, WorkErrorRate: 1}, func() float64 { return 0 })
	w.do(3)
	rec, _ := get(t, Handler(Config{Latency: time.Second}, w), "/metrics")
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, `testapp_jobs_total{result="failed"} 3`) || !strings.Contains(body, `testapp_jobs_total{result="ok"} 0`) {
		t.Errorf("/metrics answered %d:\n%s", rec.Code, body)
	}
	if rec, _ := get(t, Handler(Config{}, nil), "/metrics"); rec.Code != http.StatusNotFound {
		t.Errorf("/metrics of an app that is no worker answered %d", rec.Code)
	}
}

// TestServerServesAStatefulSetWorkerPod: a pod owned by a StatefulSet (no ReplicaSet) is served
// like any other, and in worker mode it works on its own and reports its jobs on /metrics.
func TestServerServesAStatefulSetWorkerPod(t *testing.T) {
	const ip = "127.250.0.8"
	port := freePort(t, ip)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-3", Namespace: "test", UID: "u3",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "s1", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "worker:1.0.0",
			Env:   []corev1.EnvVar{{Name: EnvWorkRate, Value: "100"}, {Name: EnvWorkErrorRate, Value: "1"}},
			Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: int32(port)}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.250.0.8"},
	}
	srv := NewServer(fake.NewClientset(pod), Options{Log: testr.New(t), ListenIP: func(podIP string) (string, bool) {
		return ip, podIP == "10.250.0.8"
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

	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(port)) + "/metrics"
	var body string
	waitFor(t, "the worker's failed jobs on /metrics", func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, `testapp_jobs_total{result="failed"}`) && !strings.Contains(body, `testapp_jobs_total{result="failed"} 0`)
	})
	if !strings.Contains(body, `testapp_jobs_total{result="ok"} 0`) {
		t.Errorf("a worker failing every job reported ok jobs:\n%s", body)
	}
}
