package istio

import (
	"context"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

func TestGoldenRoutes(t *testing.T) {
	routertest.RunGolden(t, routertest.FixtureOf(newRouter, newCanary, render), []routertest.Case{
		{
			Name: "canary-90-10",
			Canary: func(c *siskinv1.Canary) {
				s := &c.Spec.Service
				s.Hosts = []string{"podinfo.example.com"}
				s.Gateways = []string{"istio-system/public-gateway", "mesh"}
				s.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/api"}}}
				s.Rewrite = &siskinv1.HTTPRewrite{URI: "/", Authority: "podinfo.internal"}
				s.Retries = &siskinv1.HTTPRetry{Attempts: 3, PerTryTimeout: "1.5s", RetryOn: "gateway-error,connect-failure"}
				s.Headers = &siskinv1.Headers{
					Request:  &siskinv1.HeaderOperations{Set: map[string]string{"x-route": "siskin"}},
					Response: &siskinv1.HeaderOperations{Remove: []string{"x-envoy-upstream-service-time"}},
				}
				s.CorsPolicy = &siskinv1.CorsPolicy{
					AllowOrigins:     []siskinv1.StringMatch{{Exact: "https://example.com"}},
					AllowMethods:     []string{"GET", "POST"},
					MaxAge:           "24h",
					AllowCredentials: ptr.To(true),
				}
				s.Timeout = "30s"
				s.TrafficPolicy = &runtime.RawExtension{Raw: []byte(`{"tls":{"mode":"ISTIO_MUTUAL"},"loadBalancer":{"simple":"LEAST_REQUEST"}}`)}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10},
		},
		{
			Name: "ab-test",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/"}}}
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 10, Match: []siskinv1.HTTPMatchRequest{
					{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}},
					{Headers: map[string]siskinv1.StringMatch{"cookie": {Regex: "^(.*?;)?(canary=always)(;.*)?$"}}},
					{QueryParams: map[string]siskinv1.StringMatch{"canary": {Exact: "true"}}},
					{SourceLabels: map[string]string{"app": "frontend"}},
				}}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 0, CanaryWeight: 100},
		},
		{
			Name: "mirror",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Mirror: true, MirrorWeight: ptr.To[int32](25)}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true, MirrorWeight: 25},
		},
		{
			Name: "session-affinity",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{
					CookieName: "canary-session", PrimaryCookieName: "primary-session",
					MaxAge: 3600, Path: "/", HTTPOnly: true, Secure: true, SameSite: "Lax",
				}
				c.Status.PreviousSessionAffinityCookie = "canary-session=0b1d2e3f"
				c.Status.SessionAffinityCookie = "canary-session=0754082261d433f376c6"
				c.Status.PrimarySessionAffinityCookie = "primary-session=ca9c1aeecacaf36a0892"
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 20},
		},
		{
			Name:    "tcp",
			Canary:  func(c *siskinv1.Canary) { c.Spec.Service.AppProtocol = "tcp" },
			Desired: canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30},
		},
		{
			Name: "several-ports",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/api"}}, {Method: &siskinv1.StringMatch{Exact: "POST"}}}
				c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{
					{Name: "grpc", Port: 9999, AppProtocol: "grpc"},
					{Name: "redis", Port: 6379, AppProtocol: "tcp"},
				}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 60, CanaryWeight: 40},
		},
		{
			Name: "baseline-80-10-10",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Service.AppProtocol = "http"
				c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "redis", Port: 6379, AppProtocol: "tcp"}}
				c.Spec.Service.TrafficPolicy = &runtime.RawExtension{Raw: []byte(`{"outlierDetection":{"consecutive5xxErrors":5}}`)}
				c.Spec.Analysis.Comparison = &siskinv1.CanaryComparison{Control: siskinv1.ControlBaseline}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10},
		},
		{
			Name: "delegation",
			Canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Delegation = true
				c.Spec.Service.Hosts = []string{"ignored.example.com"}
			},
			Desired: canary.DesiredRoute{PrimaryWeight: 100},
		},
	})
}

// render is the YAML of the DestinationRules and the VirtualService of podinfo, as stored. The
// baseline's DestinationRule is there only while it exists.
func render(t *testing.T, cl client.Client) []byte {
	t.Helper()
	objs := []client.Object{
		getDestinationRule(t, cl, "podinfo-primary"),
		getDestinationRule(t, cl, "podinfo-canary"),
	}
	baseline := &networkingv1.DestinationRule{}
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, baseline); err == nil {
		objs = append(objs, baseline)
	}
	objs = append(objs, getVirtualService(t, cl, "podinfo"))
	return routertest.YAML(t, cl, objs...)
}
