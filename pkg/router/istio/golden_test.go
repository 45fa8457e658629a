package istio

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestGoldenRoutes(t *testing.T) {
	tests := []struct {
		name    string
		canary  func(*siskinv1.Canary)
		desired canary.DesiredRoute
	}{
		{
			name: "canary-90-10",
			canary: func(c *siskinv1.Canary) {
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
			desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10},
		},
		{
			name: "ab-test",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/"}}}
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 10, Match: []siskinv1.HTTPMatchRequest{
					{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}},
					{Headers: map[string]siskinv1.StringMatch{"cookie": {Regex: "^(.*?;)?(canary=always)(;.*)?$"}}},
					{QueryParams: map[string]siskinv1.StringMatch{"canary": {Exact: "true"}}},
					{SourceLabels: map[string]string{"app": "frontend"}},
				}}
			},
			desired: canary.DesiredRoute{PrimaryWeight: 0, CanaryWeight: 100},
		},
		{
			name: "mirror",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Mirror: true, MirrorWeight: ptr.To[int32](25)}
			},
			desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true, MirrorWeight: 25},
		},
		{
			name: "session-affinity",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{
					CookieName: "canary-session", PrimaryCookieName: "primary-session",
					MaxAge: 3600, Path: "/", HTTPOnly: true, Secure: true, SameSite: "Lax",
				}
				c.Status.PreviousSessionAffinityCookie = "canary-session=0b1d2e3f"
				c.Status.SessionAffinityCookie = "canary-session=0754082261d433f376c6"
				c.Status.PrimarySessionAffinityCookie = "primary-session=ca9c1aeecacaf36a0892"
			},
			desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 20},
		},
		{
			name:    "tcp",
			canary:  func(c *siskinv1.Canary) { c.Spec.Service.AppProtocol = "tcp" },
			desired: canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30},
		},
		{
			name: "several-ports",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/api"}}, {Method: &siskinv1.StringMatch{Exact: "POST"}}}
				c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{
					{Name: "grpc", Port: 9999, AppProtocol: "grpc"},
					{Name: "redis", Port: 6379, AppProtocol: "tcp"},
				}
			},
			desired: canary.DesiredRoute{PrimaryWeight: 60, CanaryWeight: 40},
		},
		{
			name: "baseline-80-10-10",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Service.AppProtocol = "http"
				c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "redis", Port: 6379, AppProtocol: "tcp"}}
				c.Spec.Service.TrafficPolicy = &runtime.RawExtension{Raw: []byte(`{"outlierDetection":{"consecutive5xxErrors":5}}`)}
				c.Spec.Analysis.Comparison = &siskinv1.CanaryComparison{Control: siskinv1.ControlBaseline}
			},
			desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10},
		},
		{
			name: "delegation",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Delegation = true
				c.Spec.Service.Hosts = []string{"ignored.example.com"}
			},
			desired: canary.DesiredRoute{PrimaryWeight: 100},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newCanary(tt.canary)
			r, cl, _ := newRouter(t)
			if err := r.Apply(ctx, c, tt.desired); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, tt.name, render(t, cl))

			route, err := r.Observe(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			want := canary.Route{Converged: true, PrimaryWeight: tt.desired.PrimaryWeight, CanaryWeight: tt.desired.CanaryWeight,
				BaselineWeight: tt.desired.BaselineWeight, Mirror: tt.desired.Mirror}
			if route != want {
				t.Fatalf("Observe after Apply = %+v, want %+v", route, want)
			}
		})
	}
}

// render is the YAML of the DestinationRules and the VirtualService of podinfo, as stored. The
// baseline's DestinationRule is there only while it exists.
func render(t *testing.T, cl client.Client) []byte {
	t.Helper()
	var out bytes.Buffer
	objs := []client.Object{
		getDestinationRule(t, cl, "podinfo-primary"),
		getDestinationRule(t, cl, "podinfo-canary"),
	}
	baseline := &networkingv1.DestinationRule{}
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, baseline); err == nil {
		objs = append(objs, baseline)
	}
	objs = append(objs, getVirtualService(t, cl, "podinfo"))
	for i, o := range objs {
		o.SetResourceVersion("")
		switch o := o.(type) {
		case *networkingv1.DestinationRule:
			o.APIVersion, o.Kind = "networking.istio.io/v1", kindDestinationRule
		case *networkingv1.VirtualService:
			o.APIVersion, o.Kind = "networking.istio.io/v1", kindVirtualService
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	return out.Bytes()
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the generated objects (run go test -update to accept):\n%s", path, got)
	}
}
