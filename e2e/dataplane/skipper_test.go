package dataplane

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// skipperIngress adds an Ingress of class skipper on appHost with the path "/" (Prefix) to
// each of services (port 9898), in order.
func (w *world) skipperIngress(name string, annotations map[string]string, services ...string) *knetworkingv1.Ingress {
	var paths []knetworkingv1.HTTPIngressPath
	for _, svc := range services {
		paths = append(paths, knetworkingv1.HTTPIngressPath{
			Path: "/", PathType: ptr.To(knetworkingv1.PathTypePrefix),
			Backend: knetworkingv1.IngressBackend{Service: &knetworkingv1.IngressServiceBackend{
				Name: svc, Port: knetworkingv1.ServiceBackendPort{Number: 9898},
			}},
		})
	}
	ing := &knetworkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: knetworkingv1.IngressSpec{
			IngressClassName: ptr.To(SkipperClass),
			Rules: []knetworkingv1.IngressRule{{Host: appHost, IngressRuleValue: knetworkingv1.IngressRuleValue{
				HTTP: &knetworkingv1.HTTPIngressRuleValue{Paths: paths},
			}}},
		},
	}
	w.snap.Ingresses = append(w.snap.Ingresses, ing)
	return ing
}

// skipperWorld is podinfo with its apex Service podinfo (pods answering "apex") behind the
// user's Ingress podinfo of class skipper, and the copy podinfo-canary as provider skipper
// writes it: both Services of the path, backend weights and the predicate.
func skipperWorld(t *testing.T, predicate, weights string) *world {
	w := podinfo(t)
	w.deployment("podinfo", "apex", 1)
	w.skipperIngress("podinfo", nil, "podinfo")
	w.skipperIngress("podinfo-canary", map[string]string{
		skipperPredicateAnnotation: predicate, skipperWeightsAnnotation: weights,
	}, "podinfo-primary", "podinfo-canary")
	return w
}

// The route IDs the stand-in records.
var (
	skipperCanaryRoute  = "kube_test__podinfo_canary__app_example_com_____podinfo_canary"
	skipperPrimaryRoute = "kube_test__podinfo_canary__app_example_com_____podinfo_primary"
	skipperApexRoute    = "kube_test__podinfo__app_example_com_____podinfo"
)

// skipperCount is the number of requests skipper_serve_route_duration_seconds counted for a
// route and code (its _count).
func skipperCount(t *testing.T, s *Server, route, code string) float64 {
	t.Helper()
	mfs, err := s.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "skipper_serve_route_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["code"] == code && labels["method"] == "GET" {
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// The copy's backend weights split the path's requests, and Skipper's metric counts each
// backend under its own route ID.
func TestSkipperBackendWeightsSplitTraffic(t *testing.T) {
	for _, tc := range []struct {
		weights string
		p       float64
	}{
		{`{"podinfo-canary":0,"podinfo-primary":100}`, 0},
		{`{"podinfo-canary":10,"podinfo-primary":90}`, 0.1},
		{`{"podinfo-canary":50,"podinfo-primary":50}`, 0.5},
		{`{"podinfo-canary":100,"podinfo-primary":0}`, 1},
		{`{"podinfo-canary":1,"podinfo-primary":3}`, 0.25},
	} {
		s := skipperWorld(t, "Weight(100)", tc.weights).server()
		const n = 2000
		got := share(t, s, appHost, n, "podinfo")
		within(t, tc.weights, got, tc.p, n)
		canary := skipperCount(t, s, skipperCanaryRoute, "200")
		primary := skipperCount(t, s, skipperPrimaryRoute, "200")
		if canary != math.Round(got*n) || canary+primary != n {
			t.Errorf("%s: skipper_serve_route_duration_seconds_count canary %v primary %v for %v canary answers of %d", tc.weights, canary, primary, got*n, n)
		}
		if apex := skipperCount(t, s, skipperApexRoute, "200"); apex != 0 {
			t.Errorf("%s: the user's route served %v requests; the copy's Weight(100) should win", tc.weights, apex)
		}
	}
}

// False() disables the copy's routes: everything goes through the user's Ingress to the apex.
func TestSkipperFalseDisablesRoutes(t *testing.T) {
	s := skipperWorld(t, "False() && Weight(100)", `{"podinfo-canary":100,"podinfo-primary":0}`).server()
	const n = 50
	if got := share(t, s, appHost, n, "apex"); got != 1 {
		t.Fatalf("share of the apex %v, want all", got)
	}
	if got := skipperCount(t, s, skipperApexRoute, "200"); got != n {
		t.Errorf("the apex route counted %v, want %d", got, n)
	}
	if got := skipperCount(t, s, skipperCanaryRoute, "200"); got != 0 {
		t.Errorf("the disabled canary route counted %v", got)
	}
}

// Without Weight predicates the older Ingress of a host and path wins; a heavier route wins
// whatever its age; a longer path wins over a heavier shorter one.
func TestSkipperRanking(t *testing.T) {
	w := podinfo(t)
	older := w.skipperIngress("a-primary", nil, "podinfo-primary")
	older.CreationTimestamp = metav1.NewTime(time.Unix(1000, 0))
	newer := w.skipperIngress("b-canary", nil, "podinfo-canary")
	newer.CreationTimestamp = metav1.NewTime(time.Unix(2000, 0))
	if got := do(w.server(), appHost, "/", nil).Body.String(); got != "podinfo-primary" {
		t.Errorf("without weights routed to %q, want the older Ingress's podinfo-primary", got)
	}
	newer.Annotations = map[string]string{skipperPredicateAnnotation: "Weight(5)"}
	if got := do(w.server(), appHost, "/", nil).Body.String(); got != "podinfo" {
		t.Errorf("with Weight(5) on the newer routed to %q, want its podinfo-canary (workload podinfo)", got)
	}
	older.Annotations = map[string]string{skipperPredicateAnnotation: "Weight(3) && Weight(3)"}
	if got := do(w.server(), appHost, "/", nil).Body.String(); got != "podinfo-primary" {
		t.Errorf("with weights 6 and 5 routed to %q, want podinfo-primary", got)
	}
	api := w.skipperIngress("c-api", nil, "podinfo-canary")
	api.Spec.Rules[0].HTTP.Paths[0].Path = "/api"
	s := w.server()
	for _, c := range []struct{ path, want string }{{"/api/v1", "podinfo"}, {"/apiary", "podinfo-primary"}, {"/", "podinfo-primary"}} {
		if got := do(s, appHost, c.path, nil).Body.String(); got != c.want {
			t.Errorf("%s routed to %q, want %q", c.path, got, c.want)
		}
	}
}

// Only Ingresses of class skipper are Skipper's; an Ingress with a predicate the stand-in cannot
// match, or unreadable backend weights, is reported and skipped; a path whose backends have no
// weights splits evenly.
func TestSkipperClassesAndErrors(t *testing.T) {
	w := podinfo(t)
	w.nginxClass(false)
	w.ingress("nginx", "nginx.example.com", "/", "podinfo-primary", nil)
	ann := w.skipperIngress("by-annotation", nil, "podinfo-canary")
	ann.Spec.IngressClassName = nil
	ann.Annotations = map[string]string{ingressClassAnnotation: "skipper"}
	ann.Spec.Rules[0].Host = "annotated.example.com"
	header := w.skipperIngress("header", map[string]string{skipperPredicateAnnotation: `Weight(100) && Header("X-Canary", "a && b")`}, "podinfo-canary")
	header.Spec.Rules[0].Host = "header.example.com"
	bad := w.skipperIngress("bad", map[string]string{skipperWeightsAnnotation: `{"podinfo-canary":`}, "podinfo-canary")
	bad.Spec.Rules[0].Host = "bad.example.com"
	w.skipperIngress("even", nil, "podinfo-primary", "podinfo-canary")
	s := w.server()
	if got := do(s, "annotated.example.com", "/", nil).Body.String(); got != "podinfo" {
		t.Errorf("the Ingress of class skipper by annotation routed to %q", got)
	}
	if got := do(s, "nginx.example.com", "/", nil).Body.String(); got != "podinfo-primary" {
		t.Errorf("the nginx Ingress routed to %q", got)
	}
	if skipperCount(t, s, "kube_test__nginx__nginx_example_com_____podinfo_primary", "200") != 0 {
		t.Error("Skipper's metric counted a request of an nginx Ingress")
	}
	for _, host := range []string{"header.example.com", "bad.example.com"} {
		if code := do(s, host, "/", nil).Code; code != 404 {
			t.Errorf("%s: answered %d, want 404 (the Ingress skipped)", host, code)
		}
	}
	errs := strings.Join(s.Table().Routes().Errors, "\n")
	for _, want := range []string{"Ingress test/header (skipper): zalando.org/skipper-predicate: predicate Header is not modelled", "Ingress test/bad (skipper): zalando.org/backend-weights"} {
		if !strings.Contains(errs, want) {
			t.Errorf("route errors do not say %q:\n%s", want, errs)
		}
	}
	const n = 2000
	within(t, "no weights", share(t, s, appHost, n, "podinfo"), 0.5, n)
}

func TestSkipperCountsAs499WhenTheClientLeft(t *testing.T) {
	m := newMetrics()
	m.recordSkipper(skipperCanaryRoute, "GET", 0, time.Millisecond)
	m.recordSkipper(skipperCanaryRoute, "GET", 503, time.Second)
	want := fmt.Sprintf(`
# HELP skipper_serve_route_duration_seconds Duration in seconds of serving a route, as Skipper measures it.
# TYPE skipper_serve_route_duration_seconds histogram
skipper_serve_route_duration_seconds_count{code="499",method="GET",route="%[1]s"} 1
skipper_serve_route_duration_seconds_count{code="503",method="GET",route="%[1]s"} 1
`, skipperCanaryRoute)
	got, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range got {
		if mf.GetName() != "skipper_serve_route_duration_seconds" {
			continue
		}
		b.WriteString("\n# HELP " + mf.GetName() + " " + mf.GetHelp() + "\n# TYPE " + mf.GetName() + " histogram\n")
		for _, s := range mf.GetMetric() {
			var ls []string
			for _, l := range s.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			fmt.Fprintf(&b, "%s_count{%s} %d\n", mf.GetName(), strings.Join(ls, ","), s.GetHistogram().GetSampleCount())
		}
	}
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// The route IDs the stand-in records are those provider skipper's built-in queries select: the
// canary backend's route of the copy, not the primary's nor the user's.
func TestSkipperRouteIDsMatchTheBuiltInQueries(t *testing.T) {
	for _, file := range []string{"request-count.promql", "request-duration.promql", "request-success-rate.promql"} {
		b, err := os.ReadFile("../../pkg/metrics/queries/skipper/" + file)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`route=~"([^"]+)"`).FindStringSubmatch(string(b))
		if m == nil {
			t.Fatalf("%s selects no route=~", file)
		}
		expr := strings.NewReplacer("{{ underscored namespace }}", "test", "{{ underscored ingress }}", "podinfo", "{{ underscored service }}", "podinfo").Replace(m[1])
		if strings.Contains(expr, "{{") {
			t.Fatalf("%s: the selector has placeholders the test does not fill: %s", file, expr)
		}
		re := regexp.MustCompile("^(?:" + expr + ")$")
		for id, want := range map[string]bool{skipperCanaryRoute: true, skipperPrimaryRoute: false, skipperApexRoute: false} {
			if re.MatchString(id) != want {
				t.Errorf("%s: %s matches %s: %v, want %v", file, expr, id, !want, want)
			}
		}
	}
	if got := skipperRouteID("my-ns", "app.v2-canary", "", "/api/{id}", "app-canary"); got != "kube_my_ns__app_v2_canary_____api__id___app_canary" {
		t.Errorf("skipperRouteID = %s", got)
	}
}

func TestParseSkipperPredicates(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want skipperPredicates
		err  bool
	}{
		{in: "", want: skipperPredicates{}},
		{in: "Weight(100)", want: skipperPredicates{weight: 100}},
		{in: " False() && Weight(100) ", want: skipperPredicates{weight: 100, disabled: true}},
		{in: "True() && Weight(2)&&Weight(3)", want: skipperPredicates{weight: 5}},
		{in: `Weight(100) && Path("/a&&b")`, err: true},
		{in: "Weight(x)", err: true},
		{in: "Weight(1) &&", err: true},
	} {
		got, err := parseSkipperPredicates(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("parseSkipperPredicates(%q) = %+v, %v", tc.in, got, err)
		}
	}
	if got := splitSkipperAnd(`Header("a", "x && y") && PathRegexp(/a&&b/) && True()`); len(got) != 3 {
		t.Errorf("splitSkipperAnd split inside a string or a regular expression: %q", got)
	}
}
