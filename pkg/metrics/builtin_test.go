package metrics

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

var testVars = Vars{Name: "podinfo", Namespace: "test", Target: "podinfo", Service: "podinfo", Interval: "1m",
	CanaryPods: "podinfo-[a-z0-9]+-[a-z0-9]+", PrimaryPods: "podinfo-primary-[a-z0-9]+-[a-z0-9]+"}

func TestBuiltinQueriesExistForEveryRouterAndRender(t *testing.T) {
	routers := append(BuiltinRouters(), siskinv1.ProviderGatewayAPIV1, siskinv1.ProviderGatewayAPIV1beta)
	for _, router := range routers {
		for _, metric := range []string{siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration, RequestCount} {
			text, err := BuiltinQuery(router, metric)
			if err != nil {
				t.Fatalf("BuiltinQuery(%s, %s): %v", router, metric, err)
			}
			q, err := Render(context.Background(), text, testVars)
			if err != nil {
				t.Fatalf("render %s/%s: %v", router, metric, err)
			}
			// The namespace is a label's value, or the head of one (Contour's and Traefik's names),
			// or a part of Skipper's route IDs.
			namespaced := strings.Contains(q, `"test"`) || strings.Contains(q, `"test_`) || strings.Contains(q, `"test-`) ||
				strings.Contains(q, `_test__`)
			if strings.Contains(q, "{{") || !namespaced || !strings.Contains(q, "[1m]") {
				t.Errorf("%s/%s rendered to %s", router, metric, q)
			}
			if strings.Count(q, "(") != strings.Count(q, ")") || strings.Count(q, "{") != strings.Count(q, "}") {
				t.Errorf("%s/%s has unbalanced brackets: %s", router, metric, q)
			}
		}
	}
}

func TestBuiltinIstioQueriesRenderAsFlaggerUsersKnowThem(t *testing.T) {
	sel := `reporter="destination", destination_workload_namespace="test", destination_workload=~"podinfo"`
	for metric, want := range map[string]string{
		siskinv1.MetricRequestSuccessRate: `sum( rate( istio_requests_total{ ` + sel + `, response_code!~"5.*" }[1m] ) ) / sum( rate( istio_requests_total{ ` + sel + ` }[1m] ) ) * 100`,
		siskinv1.MetricRequestDuration:    `histogram_quantile( 0.99, sum( rate( istio_request_duration_milliseconds_bucket{ ` + sel + ` }[1m] ) ) by (le) )`,
		RequestCount:                      `sum( increase( istio_requests_total{ ` + sel + ` }[1m] ) )`,
	} {
		text, err := BuiltinQuery(siskinv1.ProviderIstio, metric)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Render(context.Background(), text, testVars)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("istio %s:\n got %s\nwant %s", metric, got, want)
		}
	}
}

func TestBuiltinQueryRejectsUnknownRoutersAndMetrics(t *testing.T) {
	for _, tc := range []struct{ router, metric string }{
		{"kuma", siskinv1.MetricRequestSuccessRate},
		{"", siskinv1.MetricRequestSuccessRate},
		{"istio:service", siskinv1.MetricRequestDuration},
		{siskinv1.ProviderIstio, "error-rate"},
		{siskinv1.ProviderIstio, "../istio/request-duration"},
	} {
		if _, err := BuiltinQuery(tc.router, tc.metric); !errors.Is(err, ErrUnknownBuiltin) {
			t.Errorf("BuiltinQuery(%q, %q) error = %v, want ErrUnknownBuiltin", tc.router, tc.metric, err)
		}
	}
}

// The documentation shows each built-in query as it is.
func TestDocsShowEveryBuiltinQuery(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, router := range BuiltinRouters() {
		for _, metric := range []string{siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration, RequestCount} {
			text, err := BuiltinQuery(router, metric)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(doc), strings.TrimSpace(text)) {
				t.Errorf("docs/metrics.md does not show the %s query of %s:\n%s", metric, router, text)
			}
		}
	}
}
