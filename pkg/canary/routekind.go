package canary

import (
	"fmt"
	"strings"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// validateRouteKind refuses what the route kind of spec.service.routeKind cannot express. Only
// provider gatewayapi (and its implementation aliases) writes GRPCRoutes and TCPRoutes. A
// GRPCRoute matches gRPC methods and headers: no query parameters, HTTP methods or paths other
// than /<service>/<method>, no rewrite, no timeouts, and no session cookies. A TCPRoute splits
// connections: it matches nothing, has no hostnames or filters, and its requests are not
// counted by the built-in request metrics.
func validateRouteKind(spec *siskinv1.CanarySpec, provider string) error {
	kind := spec.Service.RouteKind
	if kind == "" || kind == siskinv1.RouteKindHTTPRoute {
		return nil
	}
	if providers.Canonical(provider) != siskinv1.ProviderGatewayAPI {
		return fmt.Errorf("%w: spec.service.routeKind %s needs provider gatewayapi (or one of its implementation aliases); provider %s writes no Gateway API %s: delete routeKind", ErrInvalidSpec, kind, provider, kind)
	}
	var err error
	if kind == siskinv1.RouteKindGRPCRoute {
		err = validateGRPCRoute(spec)
	} else {
		err = validateTCPRoute(spec)
	}
	if err != nil {
		return fmt.Errorf("%w: spec.service.routeKind %s: %w", ErrInvalidSpec, kind, err)
	}
	return nil
}

func validateGRPCRoute(spec *siskinv1.CanarySpec) error {
	s := spec.Service
	switch {
	case s.Rewrite != nil:
		return fmt.Errorf("a GRPCRoute rewrites nothing: delete spec.service.rewrite")
	case s.Timeout != "" || s.BackendTimeout != "":
		return fmt.Errorf("a GRPCRoute has no timeouts: delete spec.service.timeout and spec.service.backendTimeout, or set them in the Gateway implementation's own policy")
	}
	if err := grpcMatches("spec.service.match", s.Match); err != nil {
		return err
	}
	a := spec.Analysis
	if a == nil {
		return nil
	}
	if a.SessionAffinity != nil {
		return fmt.Errorf("gRPC clients keep no cookies, so a GRPCRoute cannot pin sessions to the canary: delete analysis.sessionAffinity")
	}
	return grpcMatches("analysis.match", a.Match)
}

// grpcMatches refuses the conditions of matches that a GRPCRoute cannot express; field names
// the list in messages.
func grpcMatches(field string, matches []siskinv1.HTTPMatchRequest) error {
	for i, m := range matches {
		switch {
		case len(m.QueryParams) > 0:
			return fmt.Errorf("%s[%d].queryParams: gRPC calls have no query parameters; match headers instead", field, i)
		case m.Method != nil:
			return fmt.Errorf("%s[%d].method: every gRPC call is a POST; match the gRPC method with uri instead", field, i)
		case m.URI != nil && !grpcPath(*m.URI):
			return fmt.Errorf("%s[%d].uri: a GRPCRoute matches a gRPC method: write uri {exact: /<service>/<method>} for one method, or {prefix: /<service>/} for every method of a service", field, i)
		}
	}
	return nil
}

// grpcPath reports whether a uri match names a gRPC method (exact /<service>/<method>) or the
// methods of a service (prefix /<service>/, or / for every call).
func grpcPath(m siskinv1.StringMatch) bool {
	switch {
	case m.Exact != "":
		parts := strings.Split(m.Exact, "/")
		return len(parts) == 3 && parts[0] == "" && parts[1] != "" && parts[2] != ""
	case m.Prefix != "":
		service, rest, _ := strings.Cut(strings.TrimPrefix(m.Prefix, "/"), "/")
		return strings.HasPrefix(m.Prefix, "/") && rest == "" && (service != "" || m.Prefix == "/")
	}
	return false
}

func validateTCPRoute(spec *siskinv1.CanarySpec) error {
	s := spec.Service
	var fields []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"spec.service.hosts", len(s.Hosts) > 0},
		{"spec.service.match", len(s.Match) > 0},
		{"spec.service.headers", s.Headers != nil},
		{"spec.service.rewrite", s.Rewrite != nil},
		{"spec.service.mirror", len(s.Mirror) > 0},
		{"spec.service.timeout", s.Timeout != ""},
		{"spec.service.backendTimeout", s.BackendTimeout != ""},
	} {
		if f.set {
			fields = append(fields, f.name)
		}
	}
	if len(fields) > 0 {
		return fmt.Errorf("a TCPRoute routes connections, with no hostnames, matches, filters or timeouts: delete %s", strings.Join(fields, ", "))
	}
	a := spec.Analysis
	if a == nil {
		return nil
	}
	switch {
	case len(a.Match) > 0:
		return fmt.Errorf("a TCPRoute cannot route by header or cookie (A/B testing): delete analysis.match and use stepWeight")
	case a.SessionAffinity != nil:
		return fmt.Errorf("a TCPRoute sets no cookies: delete analysis.sessionAffinity")
	case a.Mirror:
		return fmt.Errorf("a TCPRoute cannot mirror connections: delete analysis.mirror")
	}
	for i, m := range a.Metrics {
		builtin := m.Name == siskinv1.MetricRequestSuccessRate || m.Name == siskinv1.MetricRequestDuration
		if builtin && m.TemplateRef == nil && m.Query == "" {
			return fmt.Errorf("analysis.metrics[%d] %s: the built-in metrics count requests, and a TCPRoute sees connections; use a MetricTemplate (a mesh's connection metrics such as istio_tcp_connections_closed_total, or the application's own)", i, m.Name)
		}
	}
	if c := a.Comparison; c != nil {
		for i, m := range c.Metrics {
			rate := m.Name == siskinv1.MetricRequestSuccessRate && (m.RequestsQuery == "" || m.EventsQuery == "")
			if rate || m.Name == siskinv1.MetricRequestDuration && m.BucketsQuery == "" {
				return fmt.Errorf("analysis.comparison.metrics[%d] %s: the built-in metrics count requests, and a TCPRoute sees connections; write its queries (requestsQuery and eventsQuery, or bucketsQuery) over connection metrics", i, m.Name)
			}
		}
	}
	return nil
}
