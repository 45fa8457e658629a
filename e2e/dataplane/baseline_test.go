package dataplane

import (
	"net/http"
	"strings"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// baselineWorld is podinfo with a baseline: podinfo-baseline selecting the pods of Deployment
// podinfo-baseline, which runs the primary's revision beside the canary.
func baselineWorld(t *testing.T) *world {
	w := podinfo(t)
	w.deployment("podinfo-baseline", "podinfo-baseline", 2)
	return w
}

// checkThreeWay sends n requests to host and checks each workload's share, then that the
// metrics name the baseline's Deployment as the destination workload of its requests.
func checkThreeWay(t *testing.T, s *Server, host string) {
	t.Helper()
	const n = 3000
	counts := map[string]int{}
	for range n {
		rec := do(s, host, "/", nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("request to %s answered %d: %s", host, rec.Code, rec.Body)
		}
		counts[rec.Body.String()]++
	}
	for workload, p := range map[string]float64{"podinfo-primary": 0.6, "podinfo": 0.2, "podinfo-baseline": 0.2} {
		within(t, workload, float64(counts[workload])/n, p, n)
	}
	body := do(s, "127.0.0.1:1234", "/metrics", nil).Body.String()
	want := `destination_service_name="podinfo-baseline",destination_service_namespace="test",destination_workload="podinfo-baseline",destination_workload_namespace="test"`
	if !strings.Contains(body, want) {
		t.Errorf("/metrics lacks the baseline's requests (%s):\n%s", want, body)
	}
}

func TestVirtualServiceThreeWaySplitReachesTheBaseline(t *testing.T) {
	w := baselineWorld(t)
	w.virtualService("podinfo", []string{"podinfo"}, &networkingv1alpha3.HTTPRoute{
		Name: "default",
		Route: []*networkingv1alpha3.HTTPRouteDestination{
			dest("podinfo-primary.test.svc.cluster.local", 60),
			dest("podinfo-canary.test.svc.cluster.local", 20),
			dest("podinfo-baseline.test.svc.cluster.local", 20),
		},
	})
	checkThreeWay(t, w.server(), "podinfo.test:9898")
}

func TestHTTPRouteThreeWaySplitReachesTheBaseline(t *testing.T) {
	w := baselineWorld(t)
	w.gateway("siskin-test", DefaultControllerName)
	w.httpRoute("podinfo", []string{"app.example.com"}, []gatewayv1.ParentReference{gatewayParent("siskin-test")},
		gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{
			backendRef("podinfo-primary", 60), backendRef("podinfo-canary", 20), backendRef("podinfo-baseline", 20),
		}})
	checkThreeWay(t, w.server(), "app.example.com")
}
