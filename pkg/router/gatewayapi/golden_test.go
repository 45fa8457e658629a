package gatewayapi

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestGoldenRoutes(t *testing.T) {
	tests := []struct {
		name     string
		canary   func(*siskinv1.Canary)
		desired  canary.DesiredRoute
		finalize bool
	}{
		{
			name:    "canary-90-10-timeouts",
			canary:  fullService,
			desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10},
		},
		{
			name: "ab-test",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 10, Match: []siskinv1.HTTPMatchRequest{
					{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}, "user-agent": {Prefix: "Mozilla/5.0 (Firefox"}}},
					{Headers: map[string]siskinv1.StringMatch{"cookie": {Regex: "^(.*?;)?(canary=always)(;.*)?$"}}},
					{QueryParams: map[string]siskinv1.StringMatch{"canary": {Exact: "true"}}},
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
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/api"}}}
				c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{
					CookieName: "canary-session", PrimaryCookieName: "primary-session",
					MaxAge: 3600, Domain: "example.com", Secure: true, SameSite: "Strict",
				}
				c.Status.PreviousSessionAffinityCookie = "canary-session=0b1d2e3f"
				c.Status.SessionAffinityCookie = "canary-session=0754082261d433f376c6"
				c.Status.PrimarySessionAffinityCookie = "primary-session=ca9c1aeecacaf36a0892"
			},
			desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 20},
		},
		{
			name: "several-ports",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Hosts = []string{"podinfo.example.com"}
				c.Spec.Service.GatewayRefs = append(c.Spec.Service.GatewayRefs, siskinv1.ParentReference{Name: "internal", SectionName: ptr.To("http")})
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/api"}}}
				c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "admin", Port: 8080, AppProtocol: "http"}}
			},
			desired: canary.DesiredRoute{PrimaryWeight: 60, CanaryWeight: 40},
		},
		{
			name: "baseline-80-10-10",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Hosts = []string{"podinfo.example.com"}
				c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "admin", Port: 8080, AppProtocol: "http"}}
				c.Spec.Analysis.Comparison = &siskinv1.CanaryComparison{Control: siskinv1.ControlBaseline}
			},
			desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10},
		},
		{
			name:     "hand-back",
			canary:   fullService,
			desired:  canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50},
			finalize: true,
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
			if tt.finalize {
				if err := r.Finalize(ctx, c); err != nil {
					t.Fatal(err)
				}
				compareGolden(t, tt.name, render(t, cl))
				return
			}
			compareGolden(t, tt.name, render(t, cl))

			acceptEvery(t, cl)
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

// fullService sets every spec.service field the Gateway API router uses.
func fullService(c *siskinv1.Canary) {
	s := &c.Spec.Service
	s.Hosts = []string{"podinfo.example.com", "www.podinfo.example.com"}
	s.GatewayRefs = append(s.GatewayRefs, siskinv1.ParentReference{Name: "internal", SectionName: ptr.To("http"), Port: ptr.To[int32](8080)})
	s.Match = []siskinv1.HTTPMatchRequest{
		{URI: &siskinv1.StringMatch{Prefix: "/api"}, Method: &siskinv1.StringMatch{Exact: "GET"}},
		{URI: &siskinv1.StringMatch{Exact: "/healthz"}, Headers: map[string]siskinv1.StringMatch{"x-probe": {Exact: "1"}}},
	}
	s.Rewrite = &siskinv1.HTTPRewrite{URI: "/v2", Authority: "podinfo.internal", Type: "ReplaceFullPath"}
	s.Headers = &siskinv1.Headers{
		Request:  &siskinv1.HeaderOperations{Set: map[string]string{"x-route": "siskin"}, Add: map[string]string{"x-b": "2", "x-a": "1"}},
		Response: &siskinv1.HeaderOperations{Remove: []string{"server"}},
	}
	s.Mirror = []siskinv1.HTTPMirror{{BackendRef: siskinv1.MirrorBackendRef{Name: "podinfo-shadow", Port: ptr.To[int32](9898)}, Percent: ptr.To[int32](10)}}
	s.Timeout = "30s"
	s.BackendTimeout = "1.5s"
}

// render is the YAML of the HTTPRoutes, as stored, in name order.
func render(t *testing.T, cl client.Client) []byte {
	t.Helper()
	var out bytes.Buffer
	for i, rt := range listHTTPRoutes(t, cl) {
		rt.SetResourceVersion("")
		rt.APIVersion, rt.Kind = "gateway.networking.k8s.io/v1", kindHTTPRoute
		b, err := yaml.Marshal(&rt)
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

func listHTTPRoutes(t *testing.T, cl client.Client) []gatewayv1.HTTPRoute {
	t.Helper()
	list := &gatewayv1.HTTPRouteList{}
	if err := cl.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(list.Items, func(a, b gatewayv1.HTTPRoute) int { return strings.Compare(a.Name, b.Name) })
	return list.Items
}

// acceptEvery records that every parent of every HTTPRoute accepted its current generation.
func acceptEvery(t *testing.T, cl client.Client) {
	t.Helper()
	for _, rt := range listHTTPRoutes(t, cl) {
		rt.Status.Parents = nil
		for _, p := range rt.Spec.ParentRefs {
			rt.Status.Parents = append(rt.Status.Parents, gatewayv1.RouteParentStatus{
				ParentRef:      p,
				ControllerName: "example.com/gateway-controller",
				Conditions: []metav1.Condition{{
					Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionTrue, ObservedGeneration: rt.Generation,
					Reason: "Accepted", Message: "accepted", LastTransitionTime: metav1.Unix(0, 0),
				}},
			})
		}
		if err := cl.Status().Update(context.Background(), &rt); err != nil {
			t.Fatal(err)
		}
	}
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
