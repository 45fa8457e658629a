package skipper

import (
	"context"
	"slices"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
	"github.com/siskin-dev/siskin/pkg/target"
)

// The behaviour every router with objects of its own has: the canary Ingress podinfo-canary.
func TestContract(t *testing.T) {
	routertest.Contract{
		New: func(t *testing.T, objs ...client.Object) (router.Router, client.Client, *routertest.Writes) {
			return newRouter(t, objs...)
		},
		Canary: newCanary,
		Kind:   "Ingress", Name: "podinfo-canary",
		Foreign: func() client.Object {
			return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-canary", Namespace: ns}}
		},
		Orphan: func() client.Object {
			return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-canary", Namespace: ns,
				Annotations: map[string]string{target.AnnotationCanary: "podinfo", annWeights: `{"podinfo-canary":40,"podinfo-primary":60}`}}}
		},
		OrphanWeight: 40, CreateWrites: 1, WritesPerChange: 1, AdoptWrites: 1,
	}.Run(t)
}

// The weights are read from the live copy: its backend-weights in percent of the two
// Services', 100/0 while its routes are disabled, and 100/0 when they cannot be read.
func TestWeightsAreReadFromTheBackendWeights(t *testing.T) {
	c := newCanary()
	for _, tc := range []struct {
		name                 string
		weights, predicate   string
		wantPrimary, wantCan int32
	}{
		{"percentages", `{"podinfo-primary":70,"podinfo-canary":30}`, "Weight(100)", 70, 30},
		{"relative weights", `{"podinfo-primary":3,"podinfo-canary":1}`, "Weight(100) && Method(\"GET\")", 75, 25},
		{"all to the canary", `{"podinfo-primary":0,"podinfo-canary":100}`, "Weight(100)", 0, 100},
		{"disabled routes", `{"podinfo-primary":50,"podinfo-canary":50}`, "False() && Weight(100)", 100, 0},
		{"another Service's weight", `{"podinfo-primary":50,"podinfo-canary":50,"assets":100}`, "", 50, 50},
		{"no weights", ``, "Weight(100)", 100, 0},
		{"not JSON", `podinfo-canary=30`, "Weight(100)", 100, 0},
		{"no weight of either", `{"web":10}`, "Weight(100)", 100, 0},
		{"a negative weight", `{"podinfo-primary":-10,"podinfo-canary":20}`, "Weight(100)", 100, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, w := weights(c, map[string]string{annWeights: tc.weights, annPredicate: tc.predicate})
			if p != tc.wantPrimary || w != tc.wantCan {
				t.Fatalf("weights = %d/%d, want %d/%d", p, w, tc.wantPrimary, tc.wantCan)
			}
		})
	}
}

// The user's predicates are kept behind the copy's own, split at && outside strings and
// regular expressions, without the Weight and False predicates the copy sets.
func TestUserPredicatesAreKept(t *testing.T) {
	for in, want := range map[string][]string{
		``:                                      nil,
		`Method("GET")`:                         {`Method("GET")`},
		`Weight(5) && Path("/a&&b") && False()`: {`Path("/a&&b")`},
		`PathRegexp(/^\/x&&y/) && Header("a", "\"&&")`: {`PathRegexp(/^\/x&&y/)`, `Header("a", "\"&&")`},
		` Host("x")&&Method("POST") `:                  {`Host("x")`, `Method("POST")`},
	} {
		if got := userPredicates(in); !slices.Equal(got, want) {
			t.Errorf("userPredicates(%q) = %q, want %q", in, got, want)
		}
	}
}

// A hand-edited canary Ingress reports what it carries, and is converged again only once it
// equals what Siskin applies.
func TestObserveReadsTheLiveIngress(t *testing.T) {
	ctx := context.Background()
	r, cl, _ := newRouter(t)
	c := newCanary()
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}); err != nil {
		t.Fatal(err)
	}
	ing := getIngress(t, cl, "podinfo-canary")
	ing.Annotations[annWeights] = `{"podinfo-canary":30,"podinfo-primary":70}`
	if err := cl.Update(ctx, ing); err != nil {
		t.Fatal(err)
	}
	route, err := r.Observe(ctx, c)
	if err != nil || !route.Converged || route.PrimaryWeight != 70 || route.CanaryWeight != 30 {
		t.Fatalf("Observe after a weight edit = %+v, %v", route, err)
	}
	ing.Spec.Rules[0].HTTP.Paths = ing.Spec.Rules[0].HTTP.Paths[:1]
	if err := cl.Update(ctx, ing); err != nil {
		t.Fatal(err)
	}
	route, err = r.Observe(ctx, c)
	if err != nil || route.Converged || !strings.Contains(route.Message, "differs from the canary Ingress Siskin applies for weights 70/30") {
		t.Fatalf("Observe without the canary's path = %+v, %v", route, err)
	}
	// A change of the user's Ingress is carried to the copy.
	user := getIngress(t, cl, "podinfo")
	user.Spec.Rules[0].Host = "www.example.com"
	if err := cl.Update(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30}); err != nil {
		t.Fatal(err)
	}
	got := getIngress(t, cl, "podinfo-canary")
	if got.Spec.Rules[0].Host != "www.example.com" || len(got.Spec.Rules[0].HTTP.Paths) != 2 {
		t.Fatalf("canary Ingress after Apply: %+v", got.Spec.Rules)
	}
	route, err = r.Observe(ctx, c)
	if err != nil || !route.Converged || route.CanaryWeight != 30 {
		t.Fatalf("Observe after Apply = %+v, %v", route, err)
	}
}

func TestWhatSkipperCannotRouteIsAnError(t *testing.T) {
	defaultOnly := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "default-only", Namespace: ns},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: "podinfo", Port: networkingv1.ServiceBackendPort{Number: 9898}}}}}
	routertest.RunRefusals(t, func(t *testing.T) (router.Router, *routertest.Writes) {
		r, _, w := newRouter(t, defaultOnly.DeepCopy())
		return r, w
	}, newCanary, []routertest.Refusal{
		{Name: "an Ingress without a path to the apex Service", Canary: func(c *siskinv1.Canary) { c.Spec.Service.Name = "frontend" },
			Desired: canary.DesiredRoute{PrimaryWeight: 100}, Want: "has no rule whose path goes to Service frontend"},
		{Name: "an Ingress whose default backend is the apex Service", Canary: func(c *siskinv1.Canary) { c.Spec.IngressRef.Name = "default-only" },
			Desired: canary.DesiredRoute{PrimaryWeight: 100}, Want: "a default backend cannot be weighed"},
		{Name: "a baseline", Desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10},
			Want: "cannot give <target>-baseline a weight"},
		{Name: "mirroring", Desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true}, Want: "cannot mirror"},
		{Name: "an A/B test", Canary: routertest.ABTest(routertest.Header("x-canary", siskinv1.StringMatch{Exact: "1"})),
			Desired: canary.DesiredRoute{CanaryWeight: 100}, Want: "cannot route by header or cookie"},
		{Name: "weights that do not add up", Desired: canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 60}, Want: "do not add up to 100"},
	})
}
