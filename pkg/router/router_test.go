package router_test

import (
	"context"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
)

// fixedRouter observes a fixed route and records what it is asked to apply.
type fixedRouter struct {
	route   canary.Route
	applied []canary.DesiredRoute
}

func (f *fixedRouter) Observe(context.Context, *siskinv1.Canary) (canary.Route, error) {
	return f.route, nil
}

func (f *fixedRouter) Apply(_ context.Context, _ *siskinv1.Canary, d canary.DesiredRoute) error {
	f.applied = append(f.applied, d)
	return nil
}

func (f *fixedRouter) Finalize(context.Context, *siskinv1.Canary) error { return nil }

func TestEnsureKeepsTheLiveWeights(t *testing.T) {
	tests := []struct {
		name string
		live canary.Route
		want canary.DesiredRoute
	}{
		{
			name: "a two-way split is kept",
			live: canary.Route{PrimaryWeight: 90, CanaryWeight: 10},
			want: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10},
		},
		{
			name: "a three-way split with the baseline is kept",
			live: canary.Route{PrimaryWeight: 60, CanaryWeight: 20, BaselineWeight: 20},
			want: canary.DesiredRoute{PrimaryWeight: 60, CanaryWeight: 20, BaselineWeight: 20},
		},
		{
			name: "weights that do not add up to 100 send everything to the primary",
			live: canary.Route{PrimaryWeight: 60, CanaryWeight: 20},
			want: canary.DesiredRoute{PrimaryWeight: 100},
		},
		{
			name: "no route yet sends everything to the primary",
			want: canary.DesiredRoute{PrimaryWeight: 100},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &fixedRouter{route: tt.live}
			if err := router.Ensure(context.Background(), rt, newCanary()); err != nil {
				t.Fatal(err)
			}
			if len(rt.applied) != 1 || rt.applied[0] != tt.want {
				t.Fatalf("applied %+v, want %+v", rt.applied, tt.want)
			}
		})
	}
}

func TestBaselineServiceNameFollowsTheApex(t *testing.T) {
	if got := router.BaselineServiceName(newCanary()); got != "podinfo-baseline" {
		t.Fatalf("without spec.service.name: %q", got)
	}
	named := newCanary(func(c *siskinv1.Canary) { c.Spec.Service.Name = "web" })
	if got := router.BaselineServiceName(named); got != "web-baseline" {
		t.Fatalf("with spec.service.name web: %q", got)
	}
}

func TestFormatWeights(t *testing.T) {
	if got := router.FormatWeights(90, 10, 0); got != "90/10" {
		t.Fatalf("without a baseline: %q", got)
	}
	if got := router.FormatWeights(80, 10, 10); got != "80/10/10" {
		t.Fatalf("with a baseline: %q", got)
	}
}
