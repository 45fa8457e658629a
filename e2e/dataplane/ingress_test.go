package dataplane

import (
	"net/http"
	"strings"
	"testing"

	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const appHost = "app.example.com"

// nginxClass adds the IngressClass nginx of ingress-nginx's controller.
func (w *world) nginxClass(deflt bool) {
	ic := &knetworkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
		Spec:       knetworkingv1.IngressClassSpec{Controller: IngressController},
	}
	if deflt {
		ic.Annotations = map[string]string{defaultClassAnnotation: "true"}
	}
	w.snap.IngressClasses = append(w.snap.IngressClasses, ic)
}

// ingress adds an Ingress of class nginx sending host's path (Prefix) to svc:9898.
func (w *world) ingress(name, host, path, svc string, annotations map[string]string) *knetworkingv1.Ingress {
	ing := &knetworkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: knetworkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			Rules: []knetworkingv1.IngressRule{{Host: host, IngressRuleValue: knetworkingv1.IngressRuleValue{HTTP: &knetworkingv1.HTTPIngressRuleValue{
				Paths: []knetworkingv1.HTTPIngressPath{{
					Path: path, PathType: ptr.To(knetworkingv1.PathTypePrefix),
					Backend: knetworkingv1.IngressBackend{Service: &knetworkingv1.IngressServiceBackend{
						Name: svc, Port: knetworkingv1.ServiceBackendPort{Number: 9898},
					}},
				}},
			}}}},
		},
	}
	w.snap.Ingresses = append(w.snap.Ingresses, ing)
	return ing
}

// canaryIngress adds podinfo-canary, the canary Ingress of podinfo, with the given canary
// annotations.
func (w *world) canaryIngress(annotations map[string]string) {
	a := map[string]string{canaryAnnotation: "true"}
	for k, v := range annotations {
		a[nginxAnnotation+k] = v
	}
	w.ingress("podinfo-canary", appHost, "/", "podinfo-canary", a)
}

// nginxWorld is podinfo behind the Ingress podinfo (to the primary) on app.example.com.
func nginxWorld(t *testing.T) *world {
	w := podinfo(t)
	w.nginxClass(false)
	w.ingress("podinfo", appHost, "/", "podinfo-primary", nil)
	return w
}

func TestIngressRoutesItsHostAndPath(t *testing.T) {
	w := podinfo(t)
	w.nginxClass(false)
	w.ingress("podinfo", appHost, "/", "podinfo-primary", nil)
	w.ingress("api", appHost, "/api", "podinfo-canary", nil)
	other := w.ingress("other-class", "other.example.com", "/", "podinfo-primary", nil)
	other.Spec.IngressClassName = ptr.To("traefik")
	s := w.server()
	cases := []struct{ host, path, want string }{
		{appHost, "/", "podinfo-primary"},
		{appHost, "/api", "podinfo"},
		{appHost, "/api/v1", "podinfo"},
		{appHost, "/apiary", "podinfo-primary"}, // Prefix matches whole path elements
		{"APP.example.com:80", "/", "podinfo-primary"},
	}
	for _, c := range cases {
		if got := do(s, c.host, c.path, nil).Body.String(); got != c.want {
			t.Errorf("%s%s routed to %q, want %q", c.host, c.path, got, c.want)
		}
	}
	if code := do(s, "other.example.com", "/", nil).Code; code != http.StatusNotFound {
		t.Errorf("the Ingress of another class was served: %d", code)
	}
}

func TestIngressWithoutClassNeedsADefaultClass(t *testing.T) {
	for _, deflt := range []bool{false, true} {
		w := podinfo(t)
		w.nginxClass(deflt)
		w.ingress("podinfo", appHost, "/", "podinfo-primary", nil).Spec.IngressClassName = nil
		want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[deflt]
		if code := do(w.server(), appHost, "/", nil).Code; code != want {
			t.Errorf("default class %v: answered %d, want %d", deflt, code, want)
		}
	}
}

func TestCanaryIngressWeight(t *testing.T) {
	for _, weight := range []string{"0", "30", "100"} {
		w := nginxWorld(t)
		w.canaryIngress(map[string]string{"canary-weight": weight})
		s := w.server()
		const n = 2000
		p := map[string]float64{"0": 0, "30": 0.3, "100": 1}[weight]
		within(t, "canary-weight "+weight, share(t, s, appHost, n, "podinfo"), p, n)
	}
}

func TestCanaryIngressWeightTotal(t *testing.T) {
	w := nginxWorld(t)
	w.canaryIngress(map[string]string{"canary-weight": "50", "canary-weight-total": "200"})
	const n = 2000
	within(t, "50 of 200", share(t, w.server(), appHost, n, "podinfo"), 0.25, n)
}

func TestCanaryIngressHeaderAndCookie(t *testing.T) {
	cases := []struct {
		name        string
		annotations map[string]string
		header      http.Header
		want        string
	}{
		{"header always goes to the canary", map[string]string{"canary-by-header": "X-Canary"}, http.Header{"X-Canary": {"always"}}, "podinfo"},
		{"header never stays on the main backend whatever the weight", map[string]string{"canary-by-header": "X-Canary", "canary-weight": "100"}, http.Header{"X-Canary": {"never"}}, "podinfo-primary"},
		{"another header value is ignored", map[string]string{"canary-by-header": "X-Canary"}, http.Header{"X-Canary": {"maybe"}}, "podinfo-primary"},
		{"another header value falls through to the weight", map[string]string{"canary-by-header": "X-Canary", "canary-weight": "100"}, http.Header{"X-Canary": {"maybe"}}, "podinfo"},
		{"no header stays on the main backend", map[string]string{"canary-by-header": "X-Canary"}, nil, "podinfo-primary"},
		{"header value matches", map[string]string{"canary-by-header": "X-Canary", "canary-by-header-value": "insider"}, http.Header{"X-Canary": {"insider"}}, "podinfo"},
		{"with a header value, always is just another value", map[string]string{"canary-by-header": "X-Canary", "canary-by-header-value": "insider"}, http.Header{"X-Canary": {"always"}}, "podinfo-primary"},
		{"with a header value, never does not exclude", map[string]string{"canary-by-header": "X-Canary", "canary-by-header-value": "insider", "canary-weight": "100"}, http.Header{"X-Canary": {"never"}}, "podinfo"},
		{"header pattern matches", map[string]string{"canary-by-header": "X-User", "canary-by-header-pattern": "^(alice|bob)$"}, http.Header{"X-User": {"bob"}}, "podinfo"},
		{"header pattern does not match", map[string]string{"canary-by-header": "X-User", "canary-by-header-pattern": "^(alice|bob)$"}, http.Header{"X-User": {"carol"}}, "podinfo-primary"},
		{"cookie always goes to the canary", map[string]string{"canary-by-cookie": "canary"}, http.Header{"Cookie": {"session=1; canary=always"}}, "podinfo"},
		{"cookie never stays on the main backend whatever the weight", map[string]string{"canary-by-cookie": "canary", "canary-weight": "100"}, http.Header{"Cookie": {"canary=never"}}, "podinfo-primary"},
		{"another cookie value is ignored", map[string]string{"canary-by-cookie": "canary"}, http.Header{"Cookie": {"canary=yes"}}, "podinfo-primary"},
		{"header before cookie: header never beats cookie always", map[string]string{"canary-by-header": "X-Canary", "canary-by-cookie": "canary"}, http.Header{"X-Canary": {"never"}, "Cookie": {"canary=always"}}, "podinfo-primary"},
		{"header before cookie: header always beats cookie never", map[string]string{"canary-by-header": "X-Canary", "canary-by-cookie": "canary"}, http.Header{"X-Canary": {"always"}, "Cookie": {"canary=never"}}, "podinfo"},
		{"cookie before weight: cookie never beats weight 100", map[string]string{"canary-by-cookie": "canary", "canary-weight": "100"}, http.Header{"Cookie": {"canary=never"}}, "podinfo-primary"},
		{"cookie before weight: cookie always beats weight 0", map[string]string{"canary-by-cookie": "canary", "canary-weight": "0"}, http.Header{"Cookie": {"canary=always"}}, "podinfo"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := nginxWorld(t)
			w.canaryIngress(c.annotations)
			s := w.server()
			for range 20 {
				if got := do(s, appHost, "/", c.header).Body.String(); got != c.want {
					t.Fatalf("routed to %q, want %q", got, c.want)
				}
			}
		})
	}
}

func TestCanaryIngressWithoutMainIngressIsReported(t *testing.T) {
	w := podinfo(t)
	w.nginxClass(false)
	w.canaryIngress(map[string]string{"canary-weight": "100"})
	s := w.server()
	if code := do(s, appHost, "/", nil).Code; code != http.StatusNotFound {
		t.Errorf("a canary Ingress alone was served: %d", code)
	}
	if errs := s.Table().Routes().Errors; len(errs) != 1 || !strings.Contains(errs[0], "no main Ingress") {
		t.Errorf("routes errors = %q, want one naming the missing main Ingress", errs)
	}
}

func TestCanaryIngressInRoutesView(t *testing.T) {
	w := nginxWorld(t)
	w.canaryIngress(map[string]string{"canary-weight": "40", "canary-by-header": "X-Canary"})
	v := w.server().Table().Routes()
	for _, h := range v.Hosts {
		if h.Host != appHost {
			continue
		}
		c := h.Entries[0].Canary
		if c == nil || c.Ingress != "podinfo-canary" || c.Weight != 40 || c.Header != "X-Canary" || c.Service != ns+"/podinfo-canary" {
			t.Fatalf("canary view = %+v", c)
		}
		return
	}
	t.Fatalf("no host %s in %+v", appHost, v.Hosts)
}

func TestIngressMetricsNameTheIngressThatRouted(t *testing.T) {
	w := nginxWorld(t)
	w.canaryIngress(map[string]string{"canary-by-header": "X-Canary"})
	s := w.server()
	for range 3 {
		do(s, appHost, "/", nil)
	}
	for range 2 {
		do(s, appHost, "/", http.Header{"X-Canary": {"always"}})
	}
	do(s, "podinfo-primary.test:9898", "/", nil) // mesh traffic: no Ingress series
	body := do(s, "localhost", "/metrics", nil).Body.String()
	want := []string{
		`nginx_ingress_controller_requests{canary="",ingress="podinfo",method="GET",namespace="test",path="/",service="podinfo-primary",status="200"} 3`,
		`nginx_ingress_controller_requests{canary="test-podinfo-canary-9898",ingress="podinfo-canary",method="GET",namespace="test",path="/",service="podinfo-canary",status="200"} 2`,
		`nginx_ingress_controller_request_duration_seconds_count{canary="",ingress="podinfo",method="GET",namespace="test",path="/",service="podinfo-primary",status="200"} 3`,
		`nginx_ingress_controller_request_duration_seconds_count{canary="test-podinfo-canary-9898",ingress="podinfo-canary",method="GET",namespace="test",path="/",service="podinfo-canary",status="200"} 2`,
		`nginx_ingress_controller_request_duration_seconds_bucket{canary="",ingress="podinfo",method="GET",namespace="test",path="/",service="podinfo-primary",status="200",le="10"} 3`,
	}
	for _, line := range want {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics has no line %s", line)
		}
	}
	if n := strings.Count(body, "\nnginx_ingress_controller_requests{"); n != 2 {
		t.Errorf("/metrics has %d series of nginx_ingress_controller_requests, want 2 (none for mesh traffic)", n)
	}
	if !strings.Contains(body, `istio_requests_total{destination_service="podinfo-canary.test.svc.cluster.local"`) {
		t.Errorf("requests routed by an Ingress are not in the Istio metrics of their destination")
	}
}
