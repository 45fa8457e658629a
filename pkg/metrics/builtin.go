package metrics

import (
	"embed"
	"errors"
	"fmt"
	"strings"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// RequestCount is the built-in query of the canary's requests in the metric's window. It is no
// metric of its own: it is the default minimum-sample query of the built-in metrics.
const RequestCount = "request-count"

// ErrUnknownBuiltin is returned by BuiltinQuery for a router or metric that has no built-in
// query.
var ErrUnknownBuiltin = errors.New("no built-in query")

//go:embed queries/*/*.promql
var builtinFS embed.FS

// BuiltinQuery returns the query template of a built-in metric (request-success-rate in
// percent, request-duration as P99 in milliseconds, or RequestCount), or of one of the counts
// of a built-in compared metric (CompareRequests, CompareErrors, CompareBuckets), for a router
// provider. gatewayapi:v1 and gatewayapi:v1beta1 use the gatewayapi queries.
func BuiltinQuery(router, metric string) (string, error) {
	family := RouterFamily(router)
	switch metric {
	case siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration, RequestCount,
		CompareRequests, CompareErrors, CompareBuckets:
	default:
		return "", fmt.Errorf("%w for metric %q: built-in metrics are %s and %s", ErrUnknownBuiltin, metric,
			siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration)
	}
	if family == "" {
		return "", fmt.Errorf("%w for router provider %q: built-in metrics exist for %s", ErrUnknownBuiltin, router,
			strings.Join(BuiltinRouters(), ", "))
	}
	if p, _ := providers.Lookup(router); !p.Compare && (metric == CompareRequests || metric == CompareErrors || metric == CompareBuckets) {
		return "", fmt.Errorf("%w for compared metric %q of provider %s: it cannot count each version apart", ErrUnknownBuiltin, metric, p.Name)
	}
	b, err := builtinFS.ReadFile("queries/" + family + "/" + metric + ".promql")
	if err != nil {
		return "", fmt.Errorf("read built-in query %s/%s: %w", family, metric, err)
	}
	return string(b), nil
}

// BuiltinRouters returns the router providers that have built-in queries.
func BuiltinRouters() []string {
	return providers.Queried()
}

// RouterFamily maps a router provider (or an alias) to the directory of its built-in queries,
// "" for a provider without.
func RouterFamily(router string) string {
	p, _ := providers.Lookup(router)
	return p.Queries
}

// IsBuiltin reports whether name is a built-in metric.
func IsBuiltin(name string) bool {
	return name == siskinv1.MetricRequestSuccessRate || name == siskinv1.MetricRequestDuration
}
