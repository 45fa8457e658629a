package traefik

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The TraefikService after Apply (and Finalize), as stored. Observe reads back the weights and
// the mirror applied, converged.
func TestGoldenTraefikServices(t *testing.T) {
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
		{name: "mirror", canary: mirrored(0), desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true}},
		{name: "mirror-weight-30", canary: mirrored(30), desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true, MirrorWeight: 30}},
		{
			name:    "service-name",
			canary:  func(c *siskinv1.Canary) { c.Spec.Service.Name = "frontend"; c.Spec.Service.Port = 80 },
			desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10},
		},
		{name: "finalize", desired: canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}, finalize: true},
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
			want := canary.Route{Converged: true, PrimaryWeight: tt.desired.PrimaryWeight, CanaryWeight: tt.desired.CanaryWeight, Mirror: tt.desired.Mirror}
			if route != want {
				t.Fatalf("Observe after Apply = %+v, want %+v", route, want)
			}
		})
	}
}

// render is the YAML of the TraefikServices, as stored, in name order.
func render(t *testing.T, cl client.Client) []byte {
	t.Helper()
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(GVK.GroupVersion().WithKind(kindTraefikService + "List"))
	if err := cl.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for i, u := range list.Items {
		u.SetResourceVersion("")
		b, err := yaml.Marshal(u.Object)
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
