package istio

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
)

var threeWay = canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10}

func withBaseline(c *siskinv1.Canary) {
	c.Spec.Analysis.Comparison = &siskinv1.CanaryComparison{Control: siskinv1.ControlBaseline}
	c.Spec.Service.TrafficPolicy = &runtime.RawExtension{Raw: []byte(`{"tls":{"mode":"ISTIO_MUTUAL"}}`)}
}

func baselineRuleExists(t *testing.T, cl client.Client) bool {
	t.Helper()
	err := cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, &networkingv1.DestinationRule{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestBaselineRouteIsObservedAndKept(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withBaseline)
	r, cl, w := newRouter(t)
	if err := r.Apply(ctx, c, threeWay); err != nil {
		t.Fatal(err)
	}
	want := canary.Route{Converged: true, PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10}
	if got, err := r.Observe(ctx, c); err != nil || got != want {
		t.Fatalf("Observe = %+v, %v; want %+v", got, err, want)
	}
	writes := w.N
	if err := r.Ensure(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, c, threeWay); err != nil {
		t.Fatal(err)
	}
	if w.N != writes {
		t.Fatalf("Ensure and Apply of the converged three-way route wrote %d objects", w.N-writes)
	}

	if err := cl.Delete(ctx, getDestinationRule(t, cl, "podinfo-baseline")); err != nil {
		t.Fatal(err)
	}
	got, err := r.Observe(ctx, c)
	if err != nil || got.Converged || got.BaselineWeight != 10 || got.Message != "DestinationRule test/podinfo-baseline not found" {
		t.Fatalf("Observe without the baseline's DestinationRule = %+v, %v", got, err)
	}
}

func TestRouteWithoutBaselineLeavesNoTraceOfIt(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withBaseline)
	r, cl, _ := newRouter(t)
	if err := r.Apply(ctx, c, threeWay); err != nil {
		t.Fatal(err)
	}
	if !baselineRuleExists(t, cl) {
		t.Fatal("no DestinationRule for the baseline")
	}
	twoWay := canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}
	if err := r.Apply(ctx, c, twoWay); err != nil {
		t.Fatal(err)
	}
	if baselineRuleExists(t, cl) {
		t.Fatal("the baseline's DestinationRule outlived its route")
	}
	if got, err := r.Observe(ctx, c); err != nil || got != (canary.Route{Converged: true, PrimaryWeight: 90, CanaryWeight: 10}) {
		t.Fatalf("Observe = %+v, %v", got, err)
	}

	fresh, freshClient, _ := newRouter(t)
	if err := fresh.Apply(ctx, c, twoWay); err != nil {
		t.Fatal(err)
	}
	if got, want := render(t, cl), render(t, freshClient); !bytes.Equal(got, want) {
		t.Fatalf("objects after the baseline left differ from those of a route that never had one:\n%s\nwant\n%s", got, want)
	}
}

func TestForeignBaselineRuleIsNeitherOverwrittenNorDeleted(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withBaseline)
	theirs := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-baseline", Namespace: ns}}
	r, cl, w := newRouter(t, theirs)
	err := r.Apply(ctx, c, threeWay)
	if !errors.Is(err, router.ErrNotOwned) || !strings.Contains(err.Error(), "DestinationRule test/podinfo-baseline") {
		t.Fatalf("Apply error = %v, want ErrNotOwned naming the baseline's DestinationRule", err)
	}
	if w.N != 0 {
		t.Fatalf("Apply wrote %d objects before failing", w.N)
	}
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	if !baselineRuleExists(t, cl) {
		t.Fatal("a DestinationRule that is not Siskin's was deleted")
	}
}

func TestEveryPortCarriesTheBaselineWeight(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withBaseline, func(c *siskinv1.Canary) {
		c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "grpc", Port: 9999, AppProtocol: "grpc"}}
	})
	r, cl, _ := newRouter(t)
	if err := r.Apply(ctx, c, threeWay); err != nil {
		t.Fatal(err)
	}
	editVirtualService(t, cl, func(vs *networkingv1.VirtualService) {
		for _, rt := range vs.Spec.Http {
			if rt.Name == "default-grpc" {
				rt.Route = rt.Route[:2]
				rt.Route[0].Weight = 90
			}
		}
	})
	got, err := r.Observe(ctx, c)
	if err != nil || got.Converged || got.Message != "VirtualService test/podinfo routes port grpc at weights 90/10, but port http at 80/10/10" {
		t.Fatalf("Observe = %+v, %v", got, err)
	}
}
