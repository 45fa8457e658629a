package dataplane

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const ns = "test"

// world is a set of objects and the backends behind them.
type world struct {
	t    *testing.T
	snap Snapshot
	hits map[string]*atomic.Int64 // by workload
}

func newWorld(t *testing.T) *world {
	return &world{t: t, snap: Snapshot{ControllerName: DefaultControllerName}, hits: map[string]*atomic.Int64{}}
}

// deployment adds a Service named svc selecting the pods of a Deployment named deploy, with
// n pods, each an httptest server answering with its workload name.
func (w *world) deployment(svc, deploy string, n int) {
	w.t.Helper()
	w.snap.Services = append(w.snap.Services, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9898}}},
	})
	rs := deploy + "-5d8f9c"
	w.snap.ReplicaSets = append(w.snap.ReplicaSets, objMeta(rs, "Deployment", deploy, nil))
	hits := w.hits[deploy]
	if hits == nil {
		hits = &atomic.Int64{}
		w.hits[deploy] = hits
	}
	for i := range n {
		pod := rs + "-" + strconv.Itoa(i)
		w.snap.Pods = append(w.snap.Pods, objMeta(pod, "ReplicaSet", rs, map[string]string{"pod-template-hash": "5d8f9c"}))
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			rw.Header().Set("X-Workload", deploy)
			rw.Header().Set("X-Path", r.URL.Path)
			rw.Header().Set("X-Host", r.Host)
			_, _ = rw.Write([]byte(deploy))
		}))
		w.t.Cleanup(srv.Close)
		host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		p, _ := strconv.Atoi(port)
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
}

func objMeta(name, ownerKind, owner string, labels map[string]string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{Kind: ownerKind, Name: owner, Controller: ptr.To(true)}},
	}}
}

// podinfo is the usual canary world: podinfo (apex), podinfo-primary and podinfo-canary,
// the canary Service selecting the pods of Deployment podinfo.
func podinfo(t *testing.T) *world {
	w := newWorld(t)
	w.deployment("podinfo-primary", "podinfo-primary", 2)
	w.deployment("podinfo-canary", "podinfo", 2)
	return w
}

func (w *world) virtualService(name string, hosts []string, http ...*networkingv1alpha3.HTTPRoute) {
	w.snap.VirtualServices = append(w.snap.VirtualServices, &networkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       networkingv1alpha3.VirtualService{Hosts: hosts, Http: http},
	})
}

func dest(host string, weight int32) *networkingv1alpha3.HTTPRouteDestination {
	return &networkingv1alpha3.HTTPRouteDestination{Destination: &networkingv1alpha3.Destination{Host: host}, Weight: weight}
}

func exact(v string) *networkingv1alpha3.StringMatch {
	return &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: v}}
}

func regex(v string) *networkingv1alpha3.StringMatch {
	return &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Regex{Regex: v}}
}

// gateway adds a GatewayClass of the data plane and a Gateway of it.
func (w *world) gateway(class, controller string) {
	w.snap.GatewayClasses = append(w.snap.GatewayClasses, &gatewayv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: class},
		Spec:       gatewayv1.GatewayClassSpec{ControllerName: gatewayv1.GatewayController(controller)},
	})
	w.snap.Gateways = append(w.snap.Gateways, &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "gateway-system", Name: class},
		Spec: gatewayv1.GatewaySpec{GatewayClassName: gatewayv1.ObjectName(class), Listeners: []gatewayv1.Listener{
			{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType},
		}},
	})
}

func (w *world) httpRoute(name string, hostnames []string, parents []gatewayv1.ParentReference, rules ...gatewayv1.HTTPRouteRule) {
	hr := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	hr.Spec.ParentRefs = parents
	for _, h := range hostnames {
		hr.Spec.Hostnames = append(hr.Spec.Hostnames, gatewayv1.Hostname(h))
	}
	hr.Spec.Rules = rules
	w.snap.HTTPRoutes = append(w.snap.HTTPRoutes, hr)
}

func gatewayParent(name string) gatewayv1.ParentReference {
	return gatewayv1.ParentReference{Namespace: ptr.To(gatewayv1.Namespace("gateway-system")), Name: gatewayv1.ObjectName(name)}
}

func backendRef(svc string, weight int32) gatewayv1.HTTPBackendRef {
	return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
		BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(svc), Port: ptr.To(gatewayv1.PortNumber(9898))},
		Weight:                 ptr.To(weight),
	}}
}

// server builds the table and returns a data plane serving it.
func (w *world) server() *Server {
	s := New(Options{})
	s.SetTable(Build(w.snap))
	return s
}

// do sends one request through the data plane.
func do(s *Server, host, path string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+host+path, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	return rec
}
