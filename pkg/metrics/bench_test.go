package metrics

import (
	"context"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// BenchmarkRender renders the built-in Istio request-success-rate query with the variables of
// a Canary, as every analysis step does for each of its metrics.
func BenchmarkRender(b *testing.B) {
	query, err := BuiltinQuery(siskinv1.ProviderIstio, siskinv1.MetricRequestSuccessRate)
	if err != nil {
		b.Fatal(err)
	}
	vars := Vars{
		Name: "podinfo", Namespace: "shop", Target: "podinfo", Service: "podinfo", Interval: "1m",
		Variables: map[string]string{"route": "api", "cluster": "eu-west-1"},
	}
	got, err := Render(context.Background(), query, vars)
	if err != nil {
		b.Fatal(err)
	}
	if !strings.Contains(got, `destination_workload_namespace="shop"`) || !strings.Contains(got, "[1m]") {
		b.Fatalf("rendered query lacks the variables: %s", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(context.Background(), query, vars); err != nil {
			b.Fatal(err)
		}
	}
}
