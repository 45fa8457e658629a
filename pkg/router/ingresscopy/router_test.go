package ingresscopy_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/ingresscopy"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

const annWeight = "example.com/canary-weight"

var errSpec = errors.New("provider example cannot route this spec")

// example is an ingress controller that routes the copy's paths to the canary with the weight
// in an annotation.
var example = ingresscopy.Controller{
	Copy: func(c *siskinv1.Canary, user *networkingv1.Ingress, d canary.DesiredRoute) (ingresscopy.Desired, error) {
		apex, _, canaryName := router.ServiceNames(c)
		spec := networkingv1.IngressSpec{IngressClassName: user.Spec.IngressClassName}
		spec.Rules = ingresscopy.Rules(user.Spec.Rules, apex, func(p networkingv1.HTTPIngressPath) []networkingv1.HTTPIngressPath {
			return []networkingv1.HTTPIngressPath{ingresscopy.To(p, canaryName)}
		})
		ann := ingresscopy.Annotations(user.Annotations, func(k string) bool { return k == annWeight })
		ann[annWeight] = strconv.Itoa(int(d.CanaryWeight))
		return ingresscopy.Desired{Spec: spec, Annotations: ann}, nil
	},
	Weights: func(_ *siskinv1.Canary, annotations map[string]string) (int32, int32) {
		w, _ := strconv.Atoi(annotations[annWeight])
		return int32(100 - w), int32(w)
	},
}

func newRouter(t *testing.T, objs ...client.Object) (*ingresscopy.Router, client.Client, *routertest.Writes) {
	t.Helper()
	cl, w := routertest.Client(t, nil, nil, append([]client.Object{routertest.UserIngress("example", nil)}, objs...)...)
	return ingresscopy.New(cl, cl, example, errSpec), cl, w
}

func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	return routertest.IngressCanary("example", mods...)
}

// The copy carries the user's rules to the apex Service and annotations, without kubectl's
// last-applied configuration and Siskin's own; Observe reads its weights back.
func TestApplyWritesTheCopyAndObserveReadsItBack(t *testing.T) {
	ctx := context.Background()
	r, cl, w := newRouter(t)
	c := newCanary()
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30}); err != nil {
		t.Fatal(err)
	}
	got := routertest.Get(t, cl, "podinfo"+ingresscopy.CanarySuffix, &networkingv1.Ingress{})
	paths := got.Spec.Rules[0].HTTP.Paths
	if len(got.Spec.Rules) != 1 || len(paths) != 1 || paths[0].Path != "/" || paths[0].Backend.Service.Name != "podinfo-canary" {
		t.Fatalf("the copy's rules: %+v", got.Spec.Rules)
	}
	if got.Annotations[annWeight] != "30" || got.Annotations["kubectl.kubernetes.io/last-applied-configuration"] != "" ||
		got.Annotations["siskin.dev/something-of-its"] != "" {
		t.Fatalf("the copy's annotations: %v", got.Annotations)
	}
	route, err := r.Observe(ctx, c)
	if err != nil || !route.Converged || route.PrimaryWeight != 70 || route.CanaryWeight != 30 {
		t.Fatalf("Observe = %+v, %v", route, err)
	}
	before := w.N
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30}); err != nil || w.N != before {
		t.Fatalf("Apply of the same route: %v, %d writes, want none", err, w.N-before)
	}
}

// Finalize deletes the copy and never touches the user's Ingress; a second Finalize finds
// nothing to do.
func TestFinalizeDeletesTheCopyAndKeepsTheUsers(t *testing.T) {
	ctx := context.Background()
	r, cl, _ := newRouter(t)
	c := newCanary()
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}); err != nil {
		t.Fatal(err)
	}
	user := routertest.Get(t, cl, "podinfo", &networkingv1.Ingress{})
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	err := cl.Get(ctx, client.ObjectKey{Namespace: routertest.Namespace, Name: "podinfo" + ingresscopy.CanarySuffix}, &networkingv1.Ingress{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("the copy after Finalize: %v", err)
	}
	if after := routertest.Get(t, cl, "podinfo", &networkingv1.Ingress{}); after.ResourceVersion != user.ResourceVersion {
		t.Fatalf("the user's Ingress changed: %+v", after)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatalf("Finalize again: %v", err)
	}
}

// A Canary without an Ingress to copy is refused before anything is written.
func TestWithoutTheUsersIngressNothingIsWritten(t *testing.T) {
	routertest.RunRefusals(t, func(t *testing.T) (router.Router, *routertest.Writes) {
		r, _, w := newRouter(t)
		return r, w
	}, newCanary, []routertest.Refusal{
		{Name: "no ingressRef", Canary: func(c *siskinv1.Canary) { c.Spec.IngressRef = nil }, Desired: canary.DesiredRoute{PrimaryWeight: 100},
			Want: "provider example cannot route this spec: spec.ingressRef must name the Ingress to route"},
		{Name: "a missing Ingress", Canary: func(c *siskinv1.Canary) { c.Spec.IngressRef.Name = "web" }, Desired: canary.DesiredRoute{PrimaryWeight: 100},
			Want: "Ingress test/web (spec.ingressRef) not found"},
	})
}
