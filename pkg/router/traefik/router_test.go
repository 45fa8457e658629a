package traefik

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
	"github.com/siskin-dev/siskin/pkg/target"
)

// The behaviour every router with objects of its own has: the TraefikService named after the
// apex Service.
func TestContract(t *testing.T) {
	routertest.Contract{
		New:    routertest.New(newRouter),
		Canary: newCanary,
		Kind:   kindTraefikService, Name: "podinfo",
		Foreign: func() client.Object {
			return traefikService("podinfo", nil, map[string]any{"weighted": map[string]any{"services": []any{
				map[string]any{"name": "podinfo", "port": int64(9898)},
			}}})
		},
		Orphan: func() client.Object {
			return traefikService("podinfo", map[string]string{target.AnnotationCanary: "podinfo"},
				map[string]any{"weighted": map[string]any{"services": []any{
					map[string]any{"name": "podinfo-primary", "port": int64(9898), "weight": int64(60)},
					map[string]any{"name": "podinfo-canary", "port": int64(9898), "weight": int64(40)},
				}}})
		},
		OrphanWeight: 40, CreateWrites: 1, WritesPerChange: 1, AdoptWrites: 1,
		EditWeight: func(t *testing.T, cl client.Client, w int32) {
			routertest.Edit(t, cl, "podinfo", newObject(), func(u *unstructured.Unstructured) {
				services, _, _ := unstructured.NestedSlice(u.Object, "spec", "weighted", "services")
				services[0].(map[string]any)["weight"] = int64(100 - w)
				services[1].(map[string]any)["weight"] = int64(w)
				if err := unstructured.SetNestedSlice(u.Object, services, "spec", "weighted", "services"); err != nil {
					t.Fatal(err)
				}
			})
		},
		// A sticky cookie Siskin does not write.
		EditOther: func(t *testing.T, cl client.Client) {
			routertest.Edit(t, cl, "podinfo", newObject(), func(u *unstructured.Unstructured) {
				if err := unstructured.SetNestedField(u.Object, map[string]any{"cookie": map[string]any{"name": "lb"}}, "spec", "weighted", "sticky"); err != nil {
					t.Fatal(err)
				}
			})
		},
	}.Run(t)
}

// A weight left out is Traefik's default weight, 1.
func TestAServiceWithoutWeightWeighsOne(t *testing.T) {
	c := newCanary()
	u := traefikService("podinfo", nil, map[string]any{"weighted": map[string]any{"services": []any{
		map[string]any{"name": "podinfo-primary", "port": int64(9898)},
		map[string]any{"name": "podinfo-canary", "port": int64(9898), "weight": int64(3)},
		map[string]any{"name": "podinfo-canary", "port": int64(9898), "kind": "TraefikService", "weight": int64(50)},
		map[string]any{"name": "podinfo-canary", "port": int64(9898), "namespace": "other", "weight": int64(50)},
	}}})
	if got := readRoute(c, u); got.PrimaryWeight != 1 || got.CanaryWeight != 3 || got.Mirror {
		t.Fatalf("readRoute = %+v, want 1/3: services of another kind or namespace are not the canary", got)
	}
}

// The route moves from weights to a mirror and back with one write each, leaving nothing of the
// other kind behind.
func TestMirroringReplacesTheWeightsAndBack(t *testing.T) {
	ctx := context.Background()
	r, cl, w := newRouter(t)
	c := newCanary(mirrored(0))
	for i, d := range []canary.DesiredRoute{
		{PrimaryWeight: 100}, {PrimaryWeight: 100, Mirror: true}, {PrimaryWeight: 90, CanaryWeight: 10},
	} {
		if err := r.Apply(ctx, c, d); err != nil {
			t.Fatalf("Apply %d: %v", i, err)
		}
		spec, _, _ := unstructured.NestedMap(getTraefikService(t, cl, "podinfo").Object, "spec")
		if len(spec) != 1 {
			t.Fatalf("spec after Apply %d has %d kinds: %v", i, len(spec), spec)
		}
		if _, mirroring := spec["mirroring"]; mirroring != d.Mirror {
			t.Fatalf("spec after Apply %d: %v", i, spec)
		}
		route, err := r.Observe(ctx, c)
		if err != nil || !route.Converged || route.Mirror != d.Mirror || route.CanaryWeight != d.CanaryWeight || route.PrimaryWeight != d.PrimaryWeight {
			t.Fatalf("Observe after Apply %d = %+v, %v", i, route, err)
		}
	}
	if w.N != 3 {
		t.Fatalf("%d writes, want 3", w.N)
	}
}

// A mirror percent other than the spec's is not converged.
func TestAMirrorOfAnotherPercentIsNotConverged(t *testing.T) {
	ctx := context.Background()
	r, cl, _ := newRouter(t)
	c := newCanary(mirrored(30))
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100, Mirror: true}); err != nil {
		t.Fatal(err)
	}
	live := getTraefikService(t, cl, "podinfo")
	if err := unstructured.SetNestedSlice(live.Object, []any{map[string]any{"name": "podinfo-canary", "port": int64(9898), "percent": int64(5)}},
		"spec", "mirroring", "mirrors"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Update(ctx, live); err != nil {
		t.Fatal(err)
	}
	route, err := r.Observe(ctx, c)
	if err != nil || route.Converged || !route.Mirror || route.PrimaryWeight != 100 {
		t.Fatalf("Observe = %+v, %v", route, err)
	}
}

// Finalize hands the TraefikService back to the apex Service, released, once; the next Canary of
// the name adopts it again.
func TestFinalizeHandsTheTraefikServiceBack(t *testing.T) {
	ctx := context.Background()
	r, cl, w := newRouter(t)
	c := newCanary()
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.Finalize(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if w.N != 2 {
		t.Fatalf("%d writes for a create and two Finalizes, want 2", w.N)
	}
	got := getTraefikService(t, cl, "podinfo")
	if len(got.GetOwnerReferences()) != 0 {
		t.Fatalf("owners after Finalize: %v", got.GetOwnerReferences())
	}
	next := newCanary()
	next.UID = "next-canary-uid"
	route, err := r.Observe(ctx, next)
	if err != nil || route.Converged || !strings.Contains(route.Message, "not controlled by Canary podinfo yet") {
		t.Fatalf("Observe by the next Canary = %+v, %v", route, err)
	}
}

// Without the TraefikService CRD, Observe fails with the API server's no-match error (the
// controller reports the router unavailable), and Finalize has nothing to hand back.
func TestWithoutTheCRDFinalizeHasNothingToDo(t *testing.T) {
	noMatch := &meta.NoKindMatchError{GroupKind: GVK.GroupKind(), SearchedVersions: []string{GVK.Version}}
	cl := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return noMatch
		},
	}).Build()
	r := New(cl, cl)
	if _, err := r.Observe(context.Background(), newCanary()); !meta.IsNoMatchError(err) {
		t.Fatalf("Observe: %v, want a no-match error", err)
	}
	if err := r.Finalize(context.Background(), newCanary()); err != nil {
		t.Fatalf("Finalize: %v", err)
	}
}

func TestWhatATraefikServiceCannotRouteIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		desired canary.DesiredRoute
		want    string
	}{
		{"a baseline", canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10}, "cannot give <target>-baseline a weight"},
		{"a mirror beside a canary weight", canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10, Mirror: true}, "sends every request to the primary, not 90/10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, w := newRouter(t)
			err := r.Apply(context.Background(), newCanary(), tc.desired)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply: %v, want an error containing %q", err, tc.want)
			}
			if w.N != 0 {
				t.Fatalf("%d writes, want none", w.N)
			}
		})
	}
}
