package metrics

import (
	"fmt"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// grpcQueries is the directory of the queries that replace those of directory gatewayapi
// (Istio's series) for a GRPCRoute: a failed gRPC call is answered with HTTP status 200 and
// its status in grpc-status, which Istio reports as grpc_response_status.
const grpcQueries = "gatewayapi-grpc"

// grpcFailures are the gRPC status codes a built-in gRPC query counts as failures, as a
// PromQL regular expression: the server's errors (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
// INTERNAL, UNAVAILABLE, DATA_LOSS), not the caller's (INVALID_ARGUMENT, NOT_FOUND, ...).
const grpcFailures = "2|4|12|13|14|15"

// builtinFor is BuiltinQuery for the routes of Canary c. A Canary whose spec.service.routeKind
// is TCPRoute has no built-in queries: they count requests, and its route sees connections. With
// GRPCRoute, the success rate and the compared errors read grpc_response_status as well on
// Istio's series; Linkerd's series classify gRPC failures themselves; the HTTP status codes
// that other implementations count do not see failed gRPC calls, so those two are refused.
func builtinFor(c *siskinv1.Canary, router, metric string) (string, error) {
	switch c.Spec.Service.RouteKind {
	case siskinv1.RouteKindTCPRoute:
		return "", fmt.Errorf("%w for metric %q: spec.service.routeKind TCPRoute routes connections, which the built-in request queries do not count; "+
			"use a MetricTemplate (a mesh's connection metrics such as istio_tcp_connections_closed_total, or the application's own)", ErrUnknownBuiltin, metric)
	case siskinv1.RouteKindGRPCRoute:
		if metric != siskinv1.MetricRequestSuccessRate && metric != CompareErrors {
			break
		}
		switch providers.MetricsOf(router).Queries {
		case "gatewayapi":
			return readBuiltin(grpcQueries, metric)
		case "linkerd", "":
		default:
			return "", fmt.Errorf("%w for metric %q of provider %s with spec.service.routeKind GRPCRoute: its built-in queries count HTTP status codes, "+
				"which are 200 for failed gRPC calls; use a MetricTemplate that reads the gRPC status", ErrUnknownBuiltin, metric, router)
		}
	}
	return BuiltinQuery(router, metric)
}

// readBuiltin reads the built-in query of metric in directory dir.
func readBuiltin(dir, metric string) (string, error) {
	b, err := builtinFS.ReadFile("queries/" + dir + "/" + metric + ".promql")
	if err != nil {
		return "", fmt.Errorf("read built-in query %s/%s: %w", dir, metric, err)
	}
	return string(b), nil
}
