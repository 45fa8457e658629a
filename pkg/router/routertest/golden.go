package routertest

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
)

// Case is one golden case: a Canary, the route applied to it and whether the router then
// hands traffic back (Finalize). Its golden file is testdata/<Name>.golden.yaml.
type Case struct {
	Name     string
	Canary   func(*siskinv1.Canary)
	Desired  canary.DesiredRoute
	Finalize bool
}

// Fixture is what the golden cases of one router run against.
type Fixture struct {
	// New returns the router over a fresh fake API server.
	New func(t *testing.T) (router.Router, client.Client)
	// Canary returns the router's test Canary with mods applied.
	Canary func(mods ...func(*siskinv1.Canary)) *siskinv1.Canary
	// Render is the YAML of what the golden files hold.
	Render func(t *testing.T, cl client.Client) []byte
	// Settle, when set, does what the data plane does between a write and the router's next
	// look (a Gateway accepting an HTTPRoute).
	Settle func(t *testing.T, cl client.Client)
}

// RunGolden applies each case, compares the objects with its golden file, and reads the route
// back: after Apply, Observe must find exactly the weights (and the mirror) applied, converged.
func RunGolden(t *testing.T, f Fixture, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			ctx := context.Background()
			var mods []func(*siskinv1.Canary)
			if tc.Canary != nil {
				mods = append(mods, tc.Canary)
			}
			c := f.Canary(mods...)
			r, cl := f.New(t)
			if err := r.Apply(ctx, c, tc.Desired); err != nil {
				t.Fatal(err)
			}
			if tc.Finalize {
				if err := r.Finalize(ctx, c); err != nil {
					t.Fatal(err)
				}
				Golden(t, tc.Name, f.Render(t, cl))
				return
			}
			Golden(t, tc.Name, f.Render(t, cl))
			if f.Settle != nil {
				f.Settle(t, cl)
			}
			route, err := r.Observe(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			d := tc.Desired
			want := canary.Route{Converged: true, PrimaryWeight: d.PrimaryWeight, CanaryWeight: d.CanaryWeight, BaselineWeight: d.BaselineWeight, Mirror: d.Mirror}
			if route != want {
				t.Fatalf("Observe after Apply = %+v, want %+v", route, want)
			}
		})
	}
}

// FixtureOf is the Fixture of the router newRouter makes over a fresh fake API server (a
// router's own test constructor, which returns its concrete type), with the Canary newCanary
// makes and the objects render shows.
func FixtureOf[R router.Router](newRouter func(*testing.T, ...client.Object) (R, client.Client, *Writes),
	newCanary func(...func(*siskinv1.Canary)) *siskinv1.Canary, render func(*testing.T, client.Client) []byte) Fixture {
	return Fixture{
		New: func(t *testing.T) (router.Router, client.Client) {
			r, cl, _ := newRouter(t)
			return r, cl
		},
		Canary: newCanary,
		Render: render,
	}
}

// Steps are the golden cases of a weighted rollout's route: the canary at 0, 10, 50 and 100
// percent (testdata/weight-<percent>.golden.yaml).
func Steps() []Case {
	return []Case{
		{Name: "weight-0", Desired: canary.DesiredRoute{PrimaryWeight: 100}},
		{Name: "weight-10", Desired: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}},
		{Name: "weight-50", Desired: canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}},
		{Name: "weight-100", Desired: canary.DesiredRoute{CanaryWeight: 100}},
	}
}

// HandBack is the golden case name of a route applied at 50/50 and handed back by Finalize.
func HandBack(name string) Case {
	return Case{Name: name, Desired: canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}, Finalize: true}
}
