package dataplane

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// service adds a Service named svc with no endpoints yet.
func (w *world) service(svc string) {
	w.snap.Services = append(w.snap.Services, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9898}}},
	})
}

// endpoint adds a ready endpoint at addr to Service svc: the pod named pod of Deployment deploy.
func (w *world) endpoint(svc, deploy, pod, addr string) {
	w.t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		w.t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	rs := deploy + "-7c9d4f"
	w.snap.ReplicaSets = append(w.snap.ReplicaSets, objMeta(rs, "Deployment", deploy, nil))
	w.snap.Pods = append(w.snap.Pods, objMeta(pod, "ReplicaSet", rs, nil))
	w.snap.EndpointSlices = append(w.snap.EndpointSlices, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		Ports:      []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(p))}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{host},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod},
		}},
	})
}

// echoServer answers 200 with the request body and its pod name in X-Pod.
func echoServer(t *testing.T, pod string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rw.Header().Set("X-Pod", pod)
		_, _ = rw.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// refusedAddr returns an address where nothing listens: a pod that has stopped serving.
func refusedAddr(t *testing.T) string {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// resetServer accepts connections, reads the start of a request and resets the connection
// without answering: a pod closed in the middle of a request. It counts the connections.
func resetServer(t *testing.T) (string, *atomic.Int64) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				_, _ = c.Read(make([]byte, 4096))
				_ = c.(*net.TCPConn).SetLinger(0)
				_ = c.Close()
			}()
		}
	}()
	return ln.Addr().String(), &conns
}

// send sends one request with body through the data plane.
func send(s *Server, method, host string, body []byte) *httptest.ResponseRecorder {
	var r *http.Request
	if body == nil {
		r = httptest.NewRequestWithContext(context.Background(), method, "http://"+host+"/", nil)
	} else {
		r = httptest.NewRequestWithContext(context.Background(), method, "http://"+host+"/", bytes.NewReader(body))
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	return rec
}

func TestConnectFailureIsRetriedOnAnotherEndpointOfTheDestination(t *testing.T) {
	w := newWorld(t)
	w.service("podinfo-primary")
	w.endpoint("podinfo-primary", "podinfo-primary", "primary-gone", refusedAddr(t))
	w.endpoint("podinfo-primary", "podinfo-primary", "primary-live", echoServer(t, "primary-live"))
	w.service("podinfo-canary")
	w.endpoint("podinfo-canary", "podinfo", "canary-live", echoServer(t, "canary-live"))
	w.virtualService("podinfo", []string{"podinfo"}, &networkingv1alpha3.HTTPRoute{
		Route: []*networkingv1alpha3.HTTPRouteDestination{dest("podinfo-primary", 100), dest("podinfo-canary", 0)},
	})
	s := w.server()
	const n = 20
	for i := range n {
		rec := send(s, http.MethodGet, "podinfo.test:9898", nil)
		if rec.Code != http.StatusOK || rec.Header().Get("X-Pod") != "primary-live" {
			t.Fatalf("request %d answered %d by %q: %s; want 200 by primary-live (the retry stays on the destination)", i, rec.Code, rec.Header().Get("X-Pod"), rec.Body)
		}
	}
	// Round-robin sends at least every other first attempt to the gone pod.
	if got := testutil.ToFloat64(s.metrics.retries); got < n/2 || got > n {
		t.Errorf("retries = %v, want between %d and %d", got, n/2, n)
	}
	metrics := do(s, "127.0.0.1:1234", "/metrics", nil).Body.String()
	if strings.Contains(metrics, `response_code="503"`) || !strings.Contains(metrics, `destination_workload="podinfo-primary"`) {
		t.Errorf("metrics should count the retried requests once, as 200 from podinfo-primary:\n%s", metrics)
	}
}

func TestResetBeforeAnswerIsRetriedWithTheBufferedBody(t *testing.T) {
	w := newWorld(t)
	w.service("podinfo")
	resetAddr, conns := resetServer(t)
	w.endpoint("podinfo", "podinfo", "closing", resetAddr)
	w.endpoint("podinfo", "podinfo", "live", echoServer(t, "live"))
	s := w.server()
	for i := range 6 {
		body := []byte("payload-" + strconv.Itoa(i))
		rec := send(s, http.MethodPost, "podinfo.test:9898", body)
		if rec.Code != http.StatusOK || rec.Body.String() != string(body) {
			t.Fatalf("POST %d answered %d with %q; want 200 echoing %q", i, rec.Code, rec.Body, body)
		}
	}
	if conns.Load() == 0 {
		t.Error("no request reached the endpoint that resets connections")
	}
}

func TestNoRetryWithoutAnotherEndpoint(t *testing.T) {
	w := newWorld(t)
	w.service("podinfo")
	w.endpoint("podinfo", "podinfo", "gone", refusedAddr(t))
	s := w.server()
	rec := send(s, http.MethodGet, "podinfo.test:9898", nil)
	if rec.Code != http.StatusServiceUnavailable || !strings.HasPrefix(rec.Body.String(), "upstream connect error") {
		t.Errorf("answered %d %q; want 503 upstream connect error", rec.Code, rec.Body)
	}
	if got := testutil.ToFloat64(s.metrics.retries); got != 0 {
		t.Errorf("retries = %v with a single endpoint", got)
	}
}

func TestLargeBodyAndAnswersAreNotRetried(t *testing.T) {
	w := newWorld(t)
	w.service("podinfo")
	w.endpoint("podinfo", "podinfo", "gone", refusedAddr(t))
	w.endpoint("podinfo", "podinfo", "live", echoServer(t, "live"))
	failing := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		http.Error(rw, "broken", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	w.service("broken")
	w.endpoint("broken", "broken", "broken-500", failing.Listener.Addr().String())
	w.endpoint("broken", "broken", "broken-live", echoServer(t, "broken-live"))
	s := w.server()

	large := bytes.Repeat([]byte("x"), maxRetryBody+1)
	codes := map[int]int{}
	for range 4 {
		rec := send(s, http.MethodPost, "podinfo.test:9898", large)
		codes[rec.Code]++
		if rec.Code == http.StatusOK && rec.Body.Len() != len(large) {
			t.Errorf("large body arrived with %d bytes, want %d", rec.Body.Len(), len(large))
		}
	}
	if codes[http.StatusServiceUnavailable] == 0 || codes[http.StatusOK] == 0 {
		t.Errorf("large POSTs answered %v; want some 503 (not retried) and some 200", codes)
	}
	for range 4 {
		codes[send(s, http.MethodGet, "broken.test:9898", nil).Code]++
	}
	if codes[http.StatusInternalServerError] == 0 {
		t.Errorf("answers %v: a 500 from an endpoint must reach the client, not be retried", codes)
	}
	if got := testutil.ToFloat64(s.metrics.retries); got != 0 {
		t.Errorf("retries = %v; want none", got)
	}
}
