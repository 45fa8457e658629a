package canary

import (
	"errors"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// routed makes c a Canary of provider gatewayapi whose routes are of kind.
func routed(c *siskinv1.Canary, kind string) *siskinv1.Canary {
	c.Spec.Provider = siskinv1.ProviderGatewayAPI
	c.Spec.Service.GatewayRefs = []siskinv1.ParentReference{{Name: "public"}}
	c.Spec.Service.RouteKind = kind
	return c
}

func TestValidateAcceptsWhatGRPCAndTCPRoutesRoute(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		edit       func(c *siskinv1.Canary)
	}{
		{"a weighted GRPCRoute", siskinv1.RouteKindGRPCRoute, func(*siskinv1.Canary) {}},
		{"a GRPCRoute A/B test of headers and methods", siskinv1.RouteKindGRPCRoute, func(c *siskinv1.Canary) {
			c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/podinfo.Greeter/"}}}
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Match: []siskinv1.HTTPMatchRequest{
				{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}},
				{URI: &siskinv1.StringMatch{Exact: "/podinfo.Greeter/SayHello"}},
			}}
		}},
		{"a GRPCRoute that mirrors", siskinv1.RouteKindGRPCRoute, func(c *siskinv1.Canary) {
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Mirror: true}
		}},
		{"a weighted TCPRoute judged by a template", siskinv1.RouteKindTCPRoute, func(c *siskinv1.Canary) {
			c.Spec.Analysis.Metrics = []siskinv1.CanaryMetric{{Name: "connections", TemplateRef: &siskinv1.CrossNamespaceObjectReference{Name: "tcp-errors"}}}
		}},
		{"an HTTPRoute named explicitly with provider istio", siskinv1.RouteKindHTTPRoute, func(c *siskinv1.Canary) {
			c.Spec.Provider = siskinv1.ProviderIstio
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := routed(newCanary(), tc.kind)
			tc.edit(c)
			if err := Validate(&c.Spec, ""); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateRefusesWhatGRPCAndTCPRoutesCannotRoute(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		edit       func(c *siskinv1.Canary)
		want       string
	}{
		{"a GRPCRoute through Istio", siskinv1.RouteKindGRPCRoute, func(c *siskinv1.Canary) { c.Spec.Provider = siskinv1.ProviderIstio },
			"spec.service.routeKind GRPCRoute needs provider gatewayapi (or one of its implementation aliases); provider istio writes no Gateway API GRPCRoute"},
		{"a TCPRoute through linkerd", siskinv1.RouteKindTCPRoute, func(c *siskinv1.Canary) {
			c.Spec.Provider, c.Spec.Service.GatewayRefs = siskinv1.ProviderLinkerd, nil
		}, "provider linkerd writes no Gateway API TCPRoute"},
		{"a GRPCRoute matching a query parameter", siskinv1.RouteKindGRPCRoute, func(c *siskinv1.Canary) {
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Match: []siskinv1.HTTPMatchRequest{
				{Headers: map[string]siskinv1.StringMatch{"x-a": {Exact: "1"}}},
				{QueryParams: map[string]siskinv1.StringMatch{"beta": {Exact: "1"}}},
			}}
		}, "analysis.match[1].queryParams: gRPC calls have no query parameters"},
		{"a GRPCRoute matching an HTTP method", siskinv1.RouteKindGRPCRoute, func(c *siskinv1.Canary) {
			c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{Method: &siskinv1.StringMatch{Exact: "GET"}}}
		}, "spec.service.match[0].method: every gRPC call is a POST"},
		{"a GRPCRoute matching a path that is no method", siskinv1.RouteKindGRPCRoute, func(c *siskinv1.Canary) {
			c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Exact: "/api/v1/users"}}}
		}, "spec.service.match[0].uri: a GRPCRoute matches a gRPC method"},
		{"a GRPCRoute with session affinity", siskinv1.RouteKindGRPCRoute, func(c *siskinv1.Canary) {
			c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "canary"}
		}, "gRPC clients keep no cookies"},
		{"a GRPCRoute with a timeout", siskinv1.RouteKindGRPCRoute, func(c *siskinv1.Canary) { c.Spec.Service.Timeout = "5s" },
			"a GRPCRoute has no timeouts"},
		{"a GRPCRoute with a rewrite", siskinv1.RouteKindGRPCRoute, func(c *siskinv1.Canary) {
			c.Spec.Service.Rewrite = &siskinv1.HTTPRewrite{URI: "/"}
		}, "delete spec.service.rewrite"},
		{"a TCPRoute with hosts and headers", siskinv1.RouteKindTCPRoute, func(c *siskinv1.Canary) {
			c.Spec.Service.Hosts = []string{"db.example.com"}
			c.Spec.Service.Headers = &siskinv1.Headers{Request: &siskinv1.HeaderOperations{Remove: []string{"x"}}}
		}, "a TCPRoute routes connections, with no hostnames, matches, filters or timeouts: delete spec.service.hosts, spec.service.headers"},
		{"a TCPRoute A/B test", siskinv1.RouteKindTCPRoute, func(c *siskinv1.Canary) {
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Match: []siskinv1.HTTPMatchRequest{
				{Headers: map[string]siskinv1.StringMatch{"x-a": {Exact: "1"}}},
			}}
		}, "a TCPRoute cannot route by header or cookie"},
		{"a TCPRoute that mirrors", siskinv1.RouteKindTCPRoute, func(c *siskinv1.Canary) {
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Mirror: true}
		}, "a TCPRoute cannot mirror connections"},
		{"a TCPRoute judged by the built-in success rate", siskinv1.RouteKindTCPRoute, func(c *siskinv1.Canary) {
			c.Spec.Analysis.Metrics = []siskinv1.CanaryMetric{{Name: siskinv1.MetricRequestSuccessRate}}
		}, "analysis.metrics[0] request-success-rate: the built-in metrics count requests, and a TCPRoute sees connections; use a MetricTemplate"},
		{"a TCPRoute compared by the built-in duration", siskinv1.RouteKindTCPRoute, func(c *siskinv1.Canary) {
			c.Spec.Analysis.Metrics = nil
			comparing(c, func(cmp *siskinv1.CanaryComparison) {
				cmp.Metrics = []siskinv1.ComparedMetric{{Name: siskinv1.MetricRequestDuration}}
			})
		}, "analysis.comparison.metrics[0] request-duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := routed(newCanary(), tc.kind)
			tc.edit(c)
			err := Validate(&c.Spec, "")
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrInvalidSpec saying %q", err, tc.want)
			}
		})
	}
}
