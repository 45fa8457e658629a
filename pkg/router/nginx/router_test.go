package nginx

import (
	"context"
	"strconv"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
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

func TestFinalizeDeletesTheCanaryIngressAndKeepsTheUsers(t *testing.T) {
	ctx := context.Background()
	r, cl, _ := newRouter(t)
	c := newCanary()
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}); err != nil {
		t.Fatal(err)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-canary"}, &networkingv1.Ingress{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("canary Ingress after Finalize: %v", err)
	}
	if got := getIngress(t, cl, "podinfo"); got.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "podinfo" {
		t.Fatalf("the user's Ingress changed: %+v", got.Spec)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatalf("Finalize again: %v", err)
	}
}

func TestWhatIngressNginxCannotRouteIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		canary  func(*siskinv1.Canary)
		desired canary.DesiredRoute
		want    string
	}{
		{"no ingressRef", func(c *siskinv1.Canary) { c.Spec.IngressRef = nil }, canary.DesiredRoute{PrimaryWeight: 100},
			"spec.ingressRef must name the Ingress to route"},
		{"a missing Ingress", func(c *siskinv1.Canary) { c.Spec.IngressRef.Name = "web" }, canary.DesiredRoute{PrimaryWeight: 100},
			"Ingress test/web (spec.ingressRef) not found"},
		{"an Ingress without a path to the apex Service", func(c *siskinv1.Canary) { c.Spec.Service.Name = "frontend" },
			canary.DesiredRoute{PrimaryWeight: 100}, "sends no request to Service frontend"},
		{"a baseline", nil, canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10}, "cannot give <target>-baseline a weight"},
		{"mirroring", nil, canary.DesiredRoute{PrimaryWeight: 100, Mirror: true}, "cannot mirror"},
		{"an A/B weight between 0 and 100", routertest.ABTest(routertest.Header("x-canary", siskinv1.StringMatch{Exact: "1"})),
			canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}, "at weight 0 or 100, not 50"},
		{"two headers in one match", routertest.ABTest(siskinv1.HTTPMatchRequest{Headers: map[string]siskinv1.StringMatch{
			"x-a": {Exact: "1"}, "x-b": {Exact: "2"}}}), canary.DesiredRoute{CanaryWeight: 100}, "one header or one cookie per match"},
		{"a header and a path", routertest.ABTest(siskinv1.HTTPMatchRequest{URI: &siskinv1.StringMatch{Prefix: "/api"},
			Headers: map[string]siskinv1.StringMatch{"x-a": {Exact: "1"}}}), canary.DesiredRoute{CanaryWeight: 100}, "one header or one cookie per match"},
		{"two header matches", routertest.ABTest(routertest.Header("x-a", siskinv1.StringMatch{Exact: "1"}), routertest.Header("x-b", siskinv1.StringMatch{Exact: "2"})),
			canary.DesiredRoute{CanaryWeight: 100}, "analysis.match[1]: ingress-nginx routes one header"},
		{"a cookie regex", routertest.ABTest(routertest.Header("cookie", siskinv1.StringMatch{Regex: "^(.*?;)?(canary=always)(;.*)?$"})),
			canary.DesiredRoute{CanaryWeight: 100}, "a cookie is matched by its name, with exact: <cookie name>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			if tc.canary != nil {
				tc.canary(c)
			}
			r, _, w := newRouter(t)
			err := r.Apply(context.Background(), c, tc.desired)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply: %v, want an error containing %q", err, tc.want)
			}
			if w.N != 0 {
				t.Fatalf("%d writes, want none", w.N)
			}
		})
	}
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
