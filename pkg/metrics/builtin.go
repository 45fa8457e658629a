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
// of a built-in compared metric (CompareRequests, CompareErrors, CompareBuckets), for the
// provider name a Canary uses: gatewayapi:v1 and gatewayapi:v1beta1 use the gatewayapi queries,
// an implementation's alias (gatewayapi:contour) that implementation's, and an implementation
// without them (gatewayapi:envoy) is refused with what to write instead.
func BuiltinQuery(router, metric string) (string, error) {
	switch metric {
	case siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration, RequestCount,
		CompareRequests, CompareErrors, CompareBuckets:
	default:
		return "", fmt.Errorf("%w for metric %q: built-in metrics are %s and %s", ErrUnknownBuiltin, metric,
			siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration)
	}
	m := providers.MetricsOf(router)
	switch {
	case m.Refusal != "":
		return "", fmt.Errorf("%w for metric %q of provider %s: %s", ErrUnknownBuiltin, metric, router, m.Refusal)
	case m.Queries == "":
		return "", fmt.Errorf("%w for router provider %q: built-in metrics exist for %s", ErrUnknownBuiltin, router,
			strings.Join(BuiltinRouters(), ", "))
	case !m.Compare && (metric == CompareRequests || metric == CompareErrors || metric == CompareBuckets):
		return "", fmt.Errorf("%w for compared metric %q of provider %s: it cannot count each version apart", ErrUnknownBuiltin, metric, router)
	}
	b, err := builtinFS.ReadFile("queries/" + m.Queries + "/" + metric + ".promql")
	if err != nil {
		return "", fmt.Errorf("read built-in query %s/%s: %w", m.Queries, metric, err)
	}
	return string(b), nil
}

// BuiltinRouters returns the router providers, and the implementations' aliases, that have
// built-in queries.
func BuiltinRouters() []string {
	return providers.Queried()
}

// RouterFamily maps a provider name (or an alias) to the directory of its built-in queries,
// "" for a provider without.
func RouterFamily(router string) string {
	return providers.MetricsOf(router).Queries
}

// IsBuiltin reports whether name is a built-in metric.
func IsBuiltin(name string) bool {
	return name == siskinv1.MetricRequestSuccessRate || name == siskinv1.MetricRequestDuration
}
