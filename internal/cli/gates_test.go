package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
	"github.com/siskin-dev/siskin/loadtester"
)

// hostIP is an IPv4 address of this machine that the API server may proxy to (it refuses
// loopback).
func hostIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address: the API server's service proxy refuses loopback")
	return ""
}

// startLoadTester serves Siskin's real load tester (gates in memory) on ip and returns its
// port.
func startLoadTester(t *testing.T, ip string) int {
	t.Helper()
	srv, err := loadtester.New(loadtester.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// gateOpen asks the load tester whether the promotion gate of podinfo in ns is open for
// revision.
func gateOpen(t *testing.T, base, ns, revision string) bool {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": "podinfo", "namespace": ns, "checksum": revision})
	resp, err := http.Post(base+"/gate/check", "application/json", bytes.NewReader(body)) //nolint:noctx // a test
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestApproveAndCloseGoThroughTheServiceProxy opens and closes the load tester's gate of a
// Canary through the API server's proxy to the load tester's Service.
func TestApproveAndCloseGoThroughTheServiceProxy(t *testing.T) {
	ip := hostIP(t)
	port := startLoadTester(t, ip)
	base := "http://" + net.JoinHostPort(ip, strconv.Itoa(port))
	ns := newNamespace(t, "")
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "loadtester", Namespace: ns},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt(port)}}},
	}
	// The API server proxies only to endpoints that are pods with that IP.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "loadtester-0", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "loadtester", Image: "siskin-loadtester"}}},
	}
	if err := k8sClient.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.PodIP, pod.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	if err := k8sClient.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "loadtester-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "loadtester"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(port))}}, //nolint:gosec // a port
	}
	for _, o := range []client.Object{svc, slice} {
		if err := k8sClient.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitProxy(t, ns)
	c := blueGreen(ns, 3, siskinv1.CanaryWebhook{Name: "approve", Type: siskinv1.ConfirmPromotionHook, URL: "http://loadtester." + ns + "/gate/check"})
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Status = siskinv1.CanaryStatus{Phase: siskinv1.PhaseWaitingPromotion, LastAppliedSpec: "abc123", Iterations: 3}
	if err := k8sClient.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}

	// Before any check the load tester knows no revision: closed.
	if gateOpen(t, base, ns, "abc123") {
		t.Fatal("the gate is open before approve")
	}
	code, stdout, stderr := run(t, time.Now, "approve", "podinfo", "-n", ns, "--no-wait")
	if code != ExitOK || !strings.Contains(stdout, "/gate/open answered 200") {
		t.Fatalf("approve: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if !gateOpen(t, base, ns, "abc123") {
		t.Error("the gate is closed for the revision under rollout after approve")
	}
	if gateOpen(t, base, ns, "other") {
		t.Error("the approval carried over to another revision")
	}
	code, stdout, stderr = run(t, time.Now, "close", "podinfo", "-n", ns)
	if code != ExitOK || !strings.Contains(stdout, "/gate/close answered 200") {
		t.Fatalf("close: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if gateOpen(t, base, ns, "abc123") {
		t.Error("the gate is open after close")
	}
}

// waitProxy waits until the API server proxies to the load tester's Service: it reads
// endpoints from a cache that learns of new ones a moment after they are created.
func waitProxy(t *testing.T, ns string) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := cs.CoreV1().Services(ns).ProxyGet("http", "loadtester", "80", "/healthz", nil).DoRaw(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server does not proxy to the load tester: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestApproveIsAcknowledgedByTheController opens the promotion gate a rollout of the real
// controller waits at, and returns once the controller went on.
func TestApproveIsAcknowledgedByTheController(t *testing.T) {
	t.Parallel()
	ip := hostIP(t)
	port := startLoadTester(t, ip)
	base := "http://" + net.JoinHostPort(ip, strconv.Itoa(port))
	ns := newNamespace(t, "")
	rollouttest.StartController(t, env, ns, rollouttest.ControllerOptions{})
	rollouttest.RunKubelet(t, k8sClient, ns)
	c := blueGreen(ns, 1, siskinv1.CanaryWebhook{Name: "approve", Type: siskinv1.ConfirmPromotionHook, URL: base + "/gate/check"})
	setupRollout(t, ns, c)
	rollouttest.Release(t, k8sClient, ns, "podinfo:6.1.0")
	waitForCanary(t, client.ObjectKeyFromObject(c), "WaitingPromotion", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseWaitingPromotion
	})

	code, stdout, stderr := run(t, time.Now, "approve", "podinfo", "-n", ns, "--direct", "--timeout", "1m")
	if code != ExitOK || !strings.Contains(stdout, "went on") {
		t.Fatalf("approve: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	waitForCanary(t, client.ObjectKeyFromObject(c), "Succeeded", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
}

func TestGateCalls(t *testing.T) {
	c := blueGreen("test", 3,
		siskinv1.CanaryWebhook{Name: "a", Type: siskinv1.ConfirmRolloutHook, URL: "http://lt.test/gate/check"},
		siskinv1.CanaryWebhook{Name: "b", Type: siskinv1.ConfirmPromotionHook, URL: "http://lt.test/gate/check"},
		siskinv1.CanaryWebhook{Name: "c", Type: siskinv1.ConfirmPromotionHook, URL: "http://other.test:8080/prefix/gate/check"},
		siskinv1.CanaryWebhook{Name: "d", Type: siskinv1.ConfirmPromotionHook, URL: "http://approver.test/ok"},
		siskinv1.CanaryWebhook{Name: "e", Type: siskinv1.RollbackHook, URL: "http://lt.test/rollback/check"},
	)
	calls, err := gateCalls(c, false, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cl := range calls {
		got = append(got, cl.base.String()+cl.path)
	}
	if want := "http://lt.test/gate/open http://other.test:8080/prefix/gate/open"; strings.Join(got, " ") != want {
		t.Errorf("calls %v, want %s (one per load tester, other webhooks left alone)", got, want)
	}
	calls, err = gateCalls(c, true, false)
	if err != nil || len(calls) != 1 || calls[0].path != "/rollback/close" {
		t.Errorf("rollback close: %v %v", calls, err)
	}
	if _, err := gateCalls(blueGreen("test", 3), false, true); err == nil {
		t.Error("a Canary without gates: no error")
	}
}
