package dataplane

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// A Gateway of Envoy Gateway's class is served, and the requests of each rule of an HTTPRoute
// attached to it count in one Envoy cluster per rule, httproute/<ns>/<route>/rule/<index>,
// whichever backend answered; a route on the data plane's own Gateway has no such cluster.
func TestEnvoyGatewayCountsByRouteRule(t *testing.T) {
	w := podinfo(t)
	w.gateway("eg", EnvoyGatewayControllerName)
	w.gateway("local", DefaultControllerName)
	w.httpRoute("podinfo", []string{"podinfo.example.com"}, []gatewayv1.ParentReference{gatewayParent("eg")},
		gatewayv1.HTTPRouteRule{
			Matches:     []gatewayv1.HTTPRouteMatch{{Headers: []gatewayv1.HTTPHeaderMatch{{Name: "x-canary", Value: "1"}}}},
			BackendRefs: []gatewayv1.HTTPBackendRef{backendRef("podinfo-canary", 1)},
		},
		gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{backendRef("podinfo-primary", 50), backendRef("podinfo-canary", 50)}})
	w.httpRoute("other", []string{"other.example.com"}, []gatewayv1.ParentReference{gatewayParent("local")},
		gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{backendRef("podinfo-primary", 1)}})
	s := w.server()
	for range 40 {
		if got := do(s, "podinfo.example.com", "/", nil).Code; got != 200 {
			t.Fatalf("request through Envoy Gateway's Gateway answered %d", got)
		}
	}
	do(s, "podinfo.example.com", "/", map[string][]string{"X-Canary": {"1"}})
	do(s, "other.example.com", "/", nil)

	if n := testutil.ToFloat64(s.metrics.envoy.rqTotal.WithLabelValues("httproute/test/podinfo/rule/1")); n != 40 {
		t.Errorf("rule 1 cluster counted %v requests, want all 40 (both backends)", n)
	}
	if n := testutil.ToFloat64(s.metrics.envoy.rq.WithLabelValues("httproute/test/podinfo/rule/0", "200")); n != 1 {
		t.Errorf("rule 0 cluster counted %v 200s, want 1", n)
	}
	if w.hits["podinfo"].Load() == 1 || w.hits["podinfo-primary"].Load() == 0 {
		t.Errorf("the 50/50 rule did not reach both backends: %d canary, %d primary", w.hits["podinfo"].Load(), w.hits["podinfo-primary"].Load())
	}
	body := do(s, "127.0.0.1:1234", "/metrics", nil).Body.String()
	if strings.Contains(body, `envoy_cluster_name="httproute/test/other`) || strings.Contains(body, `envoy_cluster_name="test_podinfo`) {
		t.Errorf("a route of another class counted in Envoy's statistics:\n%s", body)
	}
}
