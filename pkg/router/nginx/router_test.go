package nginx

import (
	"context"
	"strconv"
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
		New:    routertest.New(newRouter),
		Canary: newCanary,
		Kind:   "Ingress", Name: "podinfo-canary",
		Foreign: func() client.Object {
			return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-canary", Namespace: ns}}
		},
		Orphan: func() client.Object {
			return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-canary", Namespace: ns,
				Annotations: map[string]string{target.AnnotationCanary: "podinfo", annWeight: "40"}}}
		},
		OrphanWeight: 40, CreateWrites: 1, WritesPerChange: 1, AdoptWrites: 1,
		EditWeight: func(t *testing.T, cl client.Client, w int32) {
			routertest.Edit(t, cl, "podinfo-canary", &networkingv1.Ingress{}, func(ing *networkingv1.Ingress) { ing.Annotations[annWeight] = strconv.Itoa(int(w)) })
		},
		EditOther: func(t *testing.T, cl client.Client) {
			routertest.Edit(t, cl, "podinfo-canary", &networkingv1.Ingress{}, func(ing *networkingv1.Ingress) { delete(ing.Annotations, annCanary) })
		},
	}.Run(t)
}

// A change of the user's Ingress is carried to the canary Ingress.
func TestApplyCarriesTheUsersIngress(t *testing.T) {
	ctx := context.Background()
	r, cl, _ := newRouter(t)
	c := newCanary()
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}); err != nil {
		t.Fatal(err)
	}
	user := getIngress(t, cl, "podinfo")
	user.Spec.Rules[0].Host = "www.example.com"
	if err := cl.Update(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30}); err != nil {
		t.Fatal(err)
	}
	if got := getIngress(t, cl, "podinfo-canary"); got.Spec.Rules[0].Host != "www.example.com" || got.Annotations[annCanary] != "true" {
		t.Fatalf("canary Ingress after Apply: host %s, annotations %v", got.Spec.Rules[0].Host, got.Annotations)
	}
}

func TestWhatIngressNginxCannotRouteIsAnError(t *testing.T) {
	routertest.RunRefusals(t, func(t *testing.T) (router.Router, *routertest.Writes) {
		r, _, w := newRouter(t)
		return r, w
	}, newCanary, []routertest.Refusal{
		{Name: "an Ingress without a path to the apex Service", Canary: func(c *siskinv1.Canary) { c.Spec.Service.Name = "frontend" },
			Desired: canary.DesiredRoute{PrimaryWeight: 100}, Want: "sends no request to Service frontend"},
		{Name: "a baseline", Desired: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10},
			Want: "cannot give <target>-baseline a weight"},
		{Name: "mirroring", Desired: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true}, Want: "cannot mirror"},
		{Name: "an A/B weight between 0 and 100", Canary: routertest.ABTest(routertest.Header("x-canary", siskinv1.StringMatch{Exact: "1"})),
			Desired: canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}, Want: "at weight 0 or 100, not 50"},
		{Name: "two headers in one match", Canary: routertest.ABTest(siskinv1.HTTPMatchRequest{Headers: map[string]siskinv1.StringMatch{
			"x-a": {Exact: "1"}, "x-b": {Exact: "2"}}}), Desired: canary.DesiredRoute{CanaryWeight: 100}, Want: "one header or one cookie per match"},
		{Name: "a header and a path", Canary: routertest.ABTest(siskinv1.HTTPMatchRequest{URI: &siskinv1.StringMatch{Prefix: "/api"},
			Headers: map[string]siskinv1.StringMatch{"x-a": {Exact: "1"}}}), Desired: canary.DesiredRoute{CanaryWeight: 100}, Want: "one header or one cookie per match"},
		{Name: "two header matches", Canary: routertest.ABTest(routertest.Header("x-a", siskinv1.StringMatch{Exact: "1"}), routertest.Header("x-b", siskinv1.StringMatch{Exact: "2"})),
			Desired: canary.DesiredRoute{CanaryWeight: 100}, Want: "analysis.match[1]: ingress-nginx routes one header"},
		{Name: "a cookie regex", Canary: routertest.ABTest(routertest.Header("cookie", siskinv1.StringMatch{Regex: "^(.*?;)?(canary=always)(;.*)?$"})),
			Desired: canary.DesiredRoute{CanaryWeight: 100}, Want: "a cookie is matched by its name, with exact: <cookie name>"},
	})
}

// The A/B test routes the match only while matching requests go to the canary.
func TestABTestRoutesTheMatchOnlyAtFullWeight(t *testing.T) {
	ctx := context.Background()
	r, cl, _ := newRouter(t)
	c := newCanary(routertest.ABTest(routertest.Header("x-canary", siskinv1.StringMatch{Exact: "insider"})))
	for _, d := range []canary.DesiredRoute{{CanaryWeight: 100}, {PrimaryWeight: 100}} {
		if err := r.Apply(ctx, c, d); err != nil {
			t.Fatal(err)
		}
		got := getIngress(t, cl, "podinfo-canary").Annotations
		if _, routed := got[annByHeader]; routed != (d.CanaryWeight == 100) || got[annWeight] != "0" {
			t.Fatalf("annotations at %d: %v", d.CanaryWeight, got)
		}
		route, err := r.Observe(ctx, c)
		if err != nil || !route.Converged || route.CanaryWeight != d.CanaryWeight || route.PrimaryWeight != d.PrimaryWeight {
			t.Fatalf("Observe at %d = %+v, %v", d.CanaryWeight, route, err)
		}
	}
}
