package metrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

var counted = []string{siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration, RequestCount}

// Each Gateway API implementation's alias and provider linkerd render the series their data
// plane exports, selecting the canary by its own label: its Deployment for Linkerd, its
// Service's Envoy cluster for Contour, its Traefik service for Traefik.
func TestImplementationQueriesRenderTheirSeries(t *testing.T) {
	vars := testVars
	vars.Service = "web"
	for router, want := range map[string]map[string]string{
		siskinv1.ProviderLinkerd: {
			siskinv1.MetricRequestSuccessRate: `sum( rate( response_total{ namespace="test", deployment=~"podinfo", classification!="failure", direction="inbound" }[1m] ) ) / sum( rate( response_total{ namespace="test", deployment=~"podinfo", direction="inbound" }[1m] ) ) * 100`,
			siskinv1.MetricRequestDuration:    `histogram_quantile( 0.99, sum( rate( response_latency_ms_bucket{ namespace="test", deployment=~"podinfo", direction="inbound" }[1m] ) ) by (le) )`,
			RequestCount:                      `sum( increase( response_total{ namespace="test", deployment=~"podinfo", direction="inbound" }[1m] ) )`,
		},
		siskinv1.ProviderGatewayAPIContour: {
			siskinv1.MetricRequestSuccessRate: `sum( rate( envoy_cluster_upstream_rq{ envoy_cluster_name=~"test_web-canary_[0-9a-zA-Z-]+", envoy_response_code!~"5.*" }[1m] ) ) / sum( rate( envoy_cluster_upstream_rq{ envoy_cluster_name=~"test_web-canary_[0-9a-zA-Z-]+" }[1m] ) ) * 100`,
			siskinv1.MetricRequestDuration:    `histogram_quantile( 0.99, sum( rate( envoy_cluster_upstream_rq_time_bucket{ envoy_cluster_name=~"test_web-canary_[0-9a-zA-Z-]+" }[1m] ) ) by (le) )`,
			RequestCount:                      `sum( increase( envoy_cluster_upstream_rq{ envoy_cluster_name=~"test_web-canary_[0-9a-zA-Z-]+" }[1m] ) )`,
		},
		siskinv1.ProviderGatewayAPITraefik: {
			siskinv1.MetricRequestSuccessRate: `sum( rate( traefik_service_requests_total{ service=~"test-web-canary-[0-9]+@kubernetesgateway", code!~"5.." }[1m] ) ) / sum( rate( traefik_service_requests_total{ service=~"test-web-canary-[0-9]+@kubernetesgateway" }[1m] ) ) * 100`,
			siskinv1.MetricRequestDuration:    `histogram_quantile( 0.99, sum( rate( traefik_service_request_duration_seconds_bucket{ service=~"test-web-canary-[0-9]+@kubernetesgateway" }[1m] ) ) by (le) ) * 1000`,
			RequestCount:                      `sum( increase( traefik_service_requests_total{ service=~"test-web-canary-[0-9]+@kubernetesgateway" }[1m] ) )`,
		},
	} {
		for metric, w := range want {
			text, err := BuiltinQuery(router, metric)
			if err != nil {
				t.Fatalf("BuiltinQuery(%s, %s): %v", router, metric, err)
			}
			got, err := Render(context.Background(), text, vars)
			if err != nil {
				t.Fatalf("render %s/%s: %v", router, metric, err)
			}
			if got != w {
				t.Errorf("%s %s:\n got %s\nwant %s", router, metric, got, w)
			}
		}
	}
	// gatewayapi:linkerd reads what provider linkerd reads.
	for _, metric := range append(counted, CompareRequests, CompareErrors, CompareBuckets) {
		a, errA := BuiltinQuery(siskinv1.ProviderLinkerd, metric)
		b, errB := BuiltinQuery(siskinv1.ProviderGatewayAPILinkerd, metric)
		if errA != nil || errB != nil || a != b {
			t.Errorf("%s: linkerd and gatewayapi:linkerd differ (%v, %v)", metric, errA, errB)
		}
	}
}

// gatewayapi and its version aliases keep Istio's queries; an implementation's alias does not.
func TestGatewayAPIVersionAliasesKeepIstioQueries(t *testing.T) {
	for _, router := range []string{siskinv1.ProviderGatewayAPI, siskinv1.ProviderGatewayAPIV1, siskinv1.ProviderGatewayAPIV1beta} {
		text, err := BuiltinQuery(router, siskinv1.MetricRequestSuccessRate)
		if err != nil || !strings.Contains(text, "istio_requests_total") {
			t.Errorf("%s: %v, %s", router, err, text)
		}
	}
	text, err := BuiltinQuery(siskinv1.ProviderGatewayAPIContour, siskinv1.MetricRequestSuccessRate)
	if err != nil || strings.Contains(text, "istio_") {
		t.Errorf("gatewayapi:contour reads Istio's series: %v, %s", err, text)
	}
}

// An implementation whose metrics cannot tell the canary's requests apart has no built-in
// metric at all, and the error says why and that a MetricTemplate is needed.
func TestImplementationsWithoutPerBackendMetricsRefuseBuiltins(t *testing.T) {
	refused := 0
	for _, impl := range providers.GatewayAPIImplementations {
		if impl.Queries != "" {
			if impl.Refusal != "" {
				t.Errorf("%s has queries and a refusal", impl.Name)
			}
			continue
		}
		refused++
		for _, metric := range append(counted, CompareRequests, CompareErrors, CompareBuckets) {
			_, err := BuiltinQuery(impl.Name, metric)
			if !errors.Is(err, ErrUnknownBuiltin) {
				t.Fatalf("BuiltinQuery(%s, %s) = %v, want ErrUnknownBuiltin", impl.Name, metric, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "MetricTemplate") || !strings.Contains(msg, impl.Name) {
				t.Errorf("%s: %s does not say what to provide", impl.Name, msg)
			}
		}
	}
	for _, name := range []string{siskinv1.ProviderGatewayAPIEnvoy, siskinv1.ProviderGatewayAPICilium, siskinv1.ProviderGatewayAPIKong, siskinv1.ProviderGatewayAPINginx} {
		if _, err := BuiltinQuery(name, siskinv1.MetricRequestSuccessRate); err == nil {
			t.Errorf("%s has a built-in query", name)
		}
	}
	if refused != 4 {
		t.Errorf("%d implementations refuse built-in metrics, want 4", refused)
	}
	// Contour's and Traefik's series are by Service, not by workload: nothing to compare.
	for _, name := range []string{siskinv1.ProviderGatewayAPIContour, siskinv1.ProviderGatewayAPITraefik} {
		if _, err := BuiltinQuery(name, CompareRequests); !errors.Is(err, ErrUnknownBuiltin) {
			t.Errorf("%s compare-requests: %v, want ErrUnknownBuiltin", name, err)
		}
	}
}

// Every built-in query, rendered, is PromQL that Prometheus parses: promtool checks them as the
// expressions of recording rules.
func TestBuiltinQueriesParseAsPromQL(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus)")
	}
	var rules strings.Builder
	rules.WriteString("groups:\n- name: builtin\n  rules:\n")
	n := 0
	add := func(router, metric string, vars Vars) {
		text, err := BuiltinQuery(router, metric)
		if err != nil {
			t.Fatalf("BuiltinQuery(%s, %s): %v", router, metric, err)
		}
		q, err := Render(context.Background(), text, vars)
		if err != nil {
			t.Fatalf("render %s/%s: %v", router, metric, err)
		}
		n++
		fmt.Fprintf(&rules, "  - record: builtin:%d\n    expr: %s\n", n, strconv.Quote(q))
	}
	for _, router := range BuiltinRouters() {
		for _, metric := range counted {
			add(router, metric, testVars)
		}
		if providers.MetricsOf(router).Compare {
			vars := testVars
			vars.Workload = "podinfo-primary"
			for _, metric := range []string{CompareRequests, CompareErrors, CompareBuckets} {
				add(router, metric, vars)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, rules.String())
	}
	if !strings.Contains(string(out), fmt.Sprintf("%d rules found", n)) {
		t.Errorf("promtool found other than %d rules:\n%s", n, out)
	}
}
