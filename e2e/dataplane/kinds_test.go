package dataplane

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// owned adds a Service named svc selecting pods owned directly by a workload of kind (a
// StatefulSet or a DaemonSet: no ReplicaSet between), each an httptest server answering with its
// pod name. headless makes it a headless Service, as a StatefulSet's governing Service is.
func (w *world) owned(svc, kind, owner string, pods []string, headless bool) {
	w.t.Helper()
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9898}}},
	}
	if headless {
		s.Spec.ClusterIP = corev1.ClusterIPNone
	}
	w.snap.Services = append(w.snap.Services, s)
	hits := &atomic.Int64{}
	w.hits[owner] = hits
	for _, pod := range pods {
		w.snap.Pods = append(w.snap.Pods, objMeta(pod, kind, owner, nil))
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			_, _ = rw.Write([]byte(pod))
		}))
		w.t.Cleanup(srv.Close)
		host, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
		n, _ := strconv.Atoi(p)
		// The httptest servers listen on different ports: one EndpointSlice per pod keeps each
		// pod's port, as the fixture of a Deployment does.
		w.snap.EndpointSlices = append(w.snap.EndpointSlices, &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-" + pod, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
			Ports:      []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(n))}},
			Endpoints: []discoveryv1.Endpoint{{
				Addresses:  []string{host},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod},
			}},
		})
	}
}

func TestStatefulSetPodsAreTheirOwnersWorkloadAndMetricsNameEachPod(t *testing.T) {
	w := newWorld(t)
	w.owned("web", "StatefulSet", "web", []string{"web-0", "web-1", "web-2", "web-3", "web-4"}, true)
	s := w.server()
	seen := map[string]int{}
	for range 50 {
		rec := do(s, "web.test:9898", "/", nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("request to the StatefulSet's Service answered %d: %s", rec.Code, rec.Body)
		}
		seen[rec.Body.String()]++
	}
	if len(seen) != 5 {
		t.Errorf("requests reached pods %v; expected all five, round-robin", seen)
	}
	body := do(s, "127.0.0.1:1234", "/metrics", nil).Body.String()
	for _, pod := range []string{"web-0", "web-3", "web-4"} {
		want := `destination_workload="web",destination_workload_namespace="test",pod="` + pod + `",reporter="destination"`
		if !strings.Contains(body, "istio_requests_total{") || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks the requests of %s (%s):\n%s", pod, want, body)
		}
	}
}

func TestDaemonSetPodsAreTheirOwnersWorkload(t *testing.T) {
	w := newWorld(t)
	w.owned("agent", "DaemonSet", "agent", []string{"agent-7xk2p", "agent-q9d4m", "agent-zz81c"}, false)
	s := w.server()
	for range 9 {
		if rec := do(s, "agent.test:9898", "/", nil); rec.Code != http.StatusOK {
			t.Fatalf("request to the DaemonSet's Service answered %d: %s", rec.Code, rec.Body)
		}
	}
	if got := w.hits["agent"].Load(); got != 9 {
		t.Errorf("the DaemonSet's pods got %d of 9 requests", got)
	}
	body := do(s, "127.0.0.1:1234", "/metrics", nil).Body.String()
	want := `destination_service_name="agent",destination_service_namespace="test",destination_workload="agent",destination_workload_namespace="test",pod="agent-q9d4m"`
	if !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s:\n%s", want, body)
	}
	idx := newWorkloadIndex(w.snap.Pods, nil)
	if got := idx.workload(ns, "agent-zz81c"); got != "agent" {
		t.Errorf("workload of a DaemonSet's pod = %q, want agent", got)
	}
}
