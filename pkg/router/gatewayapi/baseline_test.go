package gatewayapi

import (
	"bytes"
	"context"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

var threeWay = canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10}

func withBaseline(c *siskinv1.Canary) {
	c.Spec.Analysis.Comparison = &siskinv1.CanaryComparison{Control: siskinv1.ControlBaseline}
}

func TestBaselineRouteIsObservedAndKept(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withBaseline)
	r, cl, w := newRouter(t)
	if err := r.Apply(ctx, c, threeWay); err != nil {
		t.Fatal(err)
	}
	acceptEvery(t, cl)
	want := canary.Route{Converged: true, PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10}
	if got, err := r.Observe(ctx, c); err != nil || got != want {
		t.Fatalf("Observe = %+v, %v; want %+v", got, err, want)
	}
	writes := w.N
	if err := r.Ensure(ctx, c); err != nil {
		t.Fatal(err)
	}
	if w.N != writes {
		t.Fatalf("Ensure of the converged three-way route wrote %d objects", w.N-writes)
	}
}

func TestEveryRouteCarriesTheBaselineWeight(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withBaseline, func(c *siskinv1.Canary) {
		c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "admin", Port: 8080, AppProtocol: "http"}}
	})
	r, cl, _ := newRouter(t)
	if err := r.Apply(ctx, c, threeWay); err != nil {
		t.Fatal(err)
	}
	for _, rt := range listHTTPRoutes(t, cl) {
		if rt.Name != "podinfo-admin" {
			continue
		}
		rule := &rt.Spec.Rules[len(rt.Spec.Rules)-1]
		rule.BackendRefs = rule.BackendRefs[:2]
		*rule.BackendRefs[0].Weight = 90
		if err := cl.Update(ctx, &rt); err != nil {
			t.Fatal(err)
		}
	}
	acceptEvery(t, cl)
	got, err := r.Observe(ctx, c)
	if err != nil || got.Converged ||
		got.Message != "HTTPRoute test/podinfo-admin carries weights 90/10, but HTTPRoute test/podinfo carries 80/10/10" {
		t.Fatalf("Observe = %+v, %v", got, err)
	}
}

func TestRouteWithoutBaselineLeavesNoTraceOfIt(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withBaseline)
	r, cl, _ := newRouter(t)
	twoWay := canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}
	for _, d := range []canary.DesiredRoute{threeWay, twoWay} {
		if err := r.Apply(ctx, c, d); err != nil {
			t.Fatal(err)
		}
	}
	fresh, freshClient, _ := newRouter(t)
	if err := fresh.Apply(ctx, c, twoWay); err != nil {
		t.Fatal(err)
	}
	if got, want := render(t, cl), render(t, freshClient); !bytes.Equal(got, want) {
		t.Fatalf("routes after the baseline left differ from those of a route that never had one:\n%s\nwant\n%s", got, want)
	}
}
