package metrics

import (
	"context"
	"errors"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Provider contour reads Envoy's cluster statistics of the apex Service's -canary Service, as
// Contour names its clusters (<namespace>_<service>_<port>), and has no built-in compared
// metrics.
func TestContourQueriesReadTheCanaryServiceCluster(t *testing.T) {
	vars := testVars
	vars.Service = "web"
	sel := `envoy_cluster_name=~"test_web-canary_[0-9a-zA-Z-]+"`
	for metric, want := range map[string]string{
		siskinv1.MetricRequestSuccessRate: `sum( rate( envoy_cluster_upstream_rq{ ` + sel + `, envoy_response_code!~"5.*" }[1m] ) ) / sum( rate( envoy_cluster_upstream_rq{ ` + sel + ` }[1m] ) ) * 100`,
		siskinv1.MetricRequestDuration:    `histogram_quantile( 0.99, sum( rate( envoy_cluster_upstream_rq_time_bucket{ ` + sel + ` }[1m] ) ) by (le) )`,
		RequestCount:                      `sum( increase( envoy_cluster_upstream_rq{ ` + sel + ` }[1m] ) )`,
	} {
		text, err := BuiltinQuery(siskinv1.ProviderContour, metric)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Render(context.Background(), text, vars)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("contour %s:\n got %s\nwant %s", metric, got, want)
		}
	}
	for _, metric := range []string{CompareRequests, CompareErrors, CompareBuckets} {
		if _, err := BuiltinQuery(siskinv1.ProviderContour, metric); !errors.Is(err, ErrUnknownBuiltin) {
			t.Errorf("BuiltinQuery(contour, %s) = %v, want ErrUnknownBuiltin", metric, err)
		}
	}
}
