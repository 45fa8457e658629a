package gatewayapi

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
			},
			desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 20},
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

			accept(t, cl, getHTTPRoute(t, cl).Generation, metav1.ConditionTrue)
			route, err := r.Observe(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			want := canary.Route{Converged: true, PrimaryWeight: tt.desired.PrimaryWeight, CanaryWeight: tt.desired.CanaryWeight, Mirror: tt.desired.Mirror}
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

// render is the YAML of the HTTPRoute podinfo, as stored.
func render(t *testing.T, cl client.Client) []byte {
	t.Helper()
	rt := getHTTPRoute(t, cl)
	rt.SetResourceVersion("")
	rt.APIVersion, rt.Kind = "gateway.networking.k8s.io/v1", kindHTTPRoute
	b, err := yaml.Marshal(rt)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
