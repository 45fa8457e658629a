package contour

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The HTTPProxy after Apply (and Finalize), as stored. Observe reads back the route applied,
// converged.
func TestGoldenHTTPProxies(t *testing.T) {
	tests := []struct {
		name     string
		canary   func(*siskinv1.Canary)
		desired  canary.DesiredRoute
		finalize bool
	}{
		{name: "weight-0", desired: canary.DesiredRoute{PrimaryWeight: 100}},
		{name: "weight-10", desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}},
		{name: "weight-50", desired: canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}},
		{name: "weight-100", desired: canary.DesiredRoute{CanaryWeight: 100}},
		{name: "baseline", desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10}},
		{
			name: "ab-headers-and-cookie",
			canary: abTest(
				header("x-canary", siskinv1.StringMatch{Exact: "insider"}),
				header("user-agent", siskinv1.StringMatch{Prefix: "Mozilla/5.0 (Firefox"}),
				header("cookie", siskinv1.StringMatch{Exact: "canary=always"}),
				header("x-tier", siskinv1.StringMatch{Regex: "^(gold|silver)$"}),
			),
			desired: canary.DesiredRoute{CanaryWeight: 100},
		},
		{
			name:    "ab-before-matching",
			canary:  abTest(header("x-canary", siskinv1.StringMatch{Exact: "insider"})),
			desired: canary.DesiredRoute{PrimaryWeight: 100},
		},
		{
			name: "mirror",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Mirror: true, MirrorWeight: ptr.To[int32](40)}
			},
			desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true},
		},
		{
			name: "service-options",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Service.Timeout = "15s"
				c.Spec.Service.Retries = &siskinv1.HTTPRetry{Attempts: 3, PerTryTimeout: "5s", RetryOn: "gateway-error,connect-failure"}
				c.Spec.Service.Headers = &siskinv1.Headers{
					Request:  &siskinv1.HeaderOperations{Set: map[string]string{"x-route": "canary"}, Remove: []string{"x-debug"}},
					Response: &siskinv1.HeaderOperations{Set: map[string]string{"x-served-by": "siskin"}},
				}
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/api"}}}
			},
			desired: canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30},
		},
		{
			name:     "finalize",
			desired:  canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50},
			finalize: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newCanary()
			if tt.canary != nil {
				tt.canary(c)
			}
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
			route, err := r.Observe(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			want := canary.Route{
				Converged: true, PrimaryWeight: tt.desired.PrimaryWeight, CanaryWeight: tt.desired.CanaryWeight,
				BaselineWeight: tt.desired.BaselineWeight, Mirror: tt.desired.Mirror,
			}
			if route != want {
				t.Fatalf("Observe after Apply = %+v, want %+v", route, want)
			}
		})
	}
}

// render is the YAML of the HTTPProxies, as stored, in name order.
func render(t *testing.T, cl client.Client) []byte {
	t.Helper()
	list := &contourv1.HTTPProxyList{}
	if err := cl.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for i, p := range list.Items {
		p.SetResourceVersion("")
		p.APIVersion, p.Kind = contourv1.GroupVersion.String(), kindHTTPProxy
		b, err := yaml.Marshal(&p)
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
