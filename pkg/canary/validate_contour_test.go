package canary

import (
	"errors"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func contour(c *siskinv1.Canary) { c.Spec.Provider = siskinv1.ProviderContour }

func TestValidateAcceptsWhatAnHTTPProxyRoutes(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *siskinv1.Canary)
	}{
		{"a weighted canary", func(*siskinv1.Canary) {}},
		{"an A/B test of headers, a cookie and a query parameter", func(c *siskinv1.Canary) {
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Match: []siskinv1.HTTPMatchRequest{
				{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}, "user-agent": {Prefix: "Mozilla"}}},
				{Headers: map[string]siskinv1.StringMatch{"cookie": {Exact: "canary=always"}}},
				{QueryParams: map[string]siskinv1.StringMatch{"beta": {Exact: "1"}}, WithoutHeaders: map[string]siskinv1.StringMatch{"x-bot": {Exact: "1"}}},
			}}
		}},
		{"blue/green with mirroring", func(c *siskinv1.Canary) {
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Mirror: true}
		}},
		{"a baseline", func(c *siskinv1.Canary) {
			comparing(c, func(cmp *siskinv1.CanaryComparison) { cmp.Control = siskinv1.ControlBaseline })
		}},
		{"timeout, retries and headers to set", func(c *siskinv1.Canary) {
			c.Spec.Service.Timeout = "10s"
			c.Spec.Service.Retries = &siskinv1.HTTPRetry{Attempts: 2, RetryOn: "5xx"}
			c.Spec.Service.Headers = &siskinv1.Headers{Request: &siskinv1.HeaderOperations{Set: map[string]string{"x-a": "b"}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			contour(c)
			tc.edit(c)
			if err := Validate(&c.Spec, ""); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateRefusesWhatAnHTTPProxyCannotRoute(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *siskinv1.Canary)
		want string
	}{
		{"session affinity", func(c *siskinv1.Canary) {
			c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "flagger-cookie"}
		}, "provider contour cannot pin sessions to the canary"},
		{"additional ports", func(c *siskinv1.Canary) {
			c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "grpc", Port: 9999}}
		}, "delete service.additionalPorts"},
		{"a static mirror", func(c *siskinv1.Canary) {
			c.Spec.Service.Mirror = []siskinv1.HTTPMirror{{BackendRef: siskinv1.MirrorBackendRef{Name: "shadow"}}}
		}, "delete service.mirror"},
		{"a rewrite", func(c *siskinv1.Canary) { c.Spec.Service.Rewrite = &siskinv1.HTTPRewrite{URI: "/"} }, "delete service.rewrite"},
		{"a CORS policy", func(c *siskinv1.Canary) { c.Spec.Service.CorsPolicy = &siskinv1.CorsPolicy{} }, "delete service.corsPolicy"},
		{"a backend timeout", func(c *siskinv1.Canary) { c.Spec.Service.BackendTimeout = "1s" }, "delete service.backendTimeout"},
		{"a header to add", func(c *siskinv1.Canary) {
			c.Spec.Service.Headers = &siskinv1.Headers{Response: &siskinv1.HeaderOperations{Add: map[string]string{"x-a": "b"}}}
		}, "cannot add one"},
		{"an A/B test by method", func(c *siskinv1.Canary) {
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Match: []siskinv1.HTTPMatchRequest{
				{Headers: map[string]siskinv1.StringMatch{"x-a": {Exact: "1"}}},
				{Method: &siskinv1.StringMatch{Exact: "POST"}},
			}}
		}, "analysis.match[1]: provider contour matches the path, headers and query parameters only"},
		{"a service match without a header by regex", func(c *siskinv1.Canary) {
			c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{WithoutHeaders: map[string]siskinv1.StringMatch{"x-bot": {Regex: ".+"}}}}
		}, "service.match[0]: provider contour excludes a header by its exact value only (withoutHeaders x-bot)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			contour(c)
			tc.edit(c)
			err := Validate(&c.Spec, "")
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrInvalidSpec with %q", err, tc.want)
			}
		})
	}
}
