package contour

import (
	"context"
	"errors"
	"strings"
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
	"github.com/siskin-dev/siskin/pkg/target"
)

// The behaviour every router with objects of its own has: the HTTPProxy named after the apex
// Service.
func TestContract(t *testing.T) {
	routertest.Contract{
		New:    routertest.New(newRouter),
		Canary: newCanary,
		Kind:   kindHTTPProxy, Name: "podinfo",
		Foreign: func() client.Object {
			return &contourv1.HTTPProxy{
				ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
				Spec: contourv1.HTTPProxySpec{
					VirtualHost: &contourv1.VirtualHost{Fqdn: "app.example.com"},
					Routes:      []contourv1.Route{{Services: []contourv1.Service{{Name: "podinfo", Port: 9898}}}},
				},
			}
		},
		Orphan: func() client.Object {
			return &contourv1.HTTPProxy{
				ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, Annotations: map[string]string{target.AnnotationCanary: "podinfo"}},
				Spec: contourv1.HTTPProxySpec{Routes: []contourv1.Route{{Services: []contourv1.Service{
					{Name: "podinfo-primary", Port: 9898, Weight: 70}, {Name: "podinfo-canary", Port: 9898, Weight: 30},
				}}}},
			}
		},
		OrphanWeight: 30, CreateWrites: 1, WritesPerChange: 1, AdoptWrites: 1,
		EditWeight: func(t *testing.T, cl client.Client, w int32) {
			routertest.Edit(t, cl, "podinfo", &contourv1.HTTPProxy{}, func(p *contourv1.HTTPProxy) {
				p.Spec.Routes[0].Services[0].Weight, p.Spec.Routes[0].Services[1].Weight = int64(100-w), int64(w)
			})
		},
		EditOther: func(t *testing.T, cl client.Client) {
			routertest.Edit(t, cl, "podinfo", &contourv1.HTTPProxy{}, func(p *contourv1.HTTPProxy) {
				p.Spec.Routes[0].TimeoutPolicy = &contourv1.TimeoutPolicy{Response: "1s"}
			})
		},
	}.Run(t)
}

// The HTTPProxy is named after spec.service.name when it is set.
func TestHTTPProxyIsNamedAfterTheApexService(t *testing.T) {
	ctx := context.Background()
	r, cl, _ := newRouter(t)
	c := newCanary(func(c *siskinv1.Canary) { c.Spec.Service.Name = "frontend" })
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}); err != nil {
		t.Fatal(err)
	}
	p := getProxy(t, cl, "frontend")
	if got := p.Spec.Routes[0].Services; got[0].Name != "frontend-primary" || got[1].Name != "frontend-canary" {
		t.Fatalf("services = %+v, want frontend-primary and frontend-canary", got)
	}
}

// Contour's Valid condition for the current generation decides: an invalid or orphaned
// HTTPProxy does not route, a condition of an older generation says nothing.
func TestObserveWaitsForContourToServeTheHTTPProxy(t *testing.T) {
	ctx := context.Background()
	r, cl, _ := newRouter(t)
	c := newCanary()
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}); err != nil {
		t.Fatal(err)
	}
	p := getProxy(t, cl, "podinfo")
	p.Status.CurrentStatus, p.Status.Description = "orphaned", "this HTTPProxy is not part of a delegation chain from a root HTTPProxy"
	p.Status.Conditions = []contourv1.DetailedCondition{{Condition: contourv1.Condition{
		Type: contourv1.ValidConditionType, Status: contourv1.ConditionFalse, Reason: "Orphaned",
		Message: "this HTTPProxy is not part of a delegation chain from a root HTTPProxy", ObservedGeneration: p.Generation,
	}}}
	if err := cl.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	route, err := r.Observe(ctx, c)
	want := "HTTPProxy test/podinfo is Orphaned: this HTTPProxy is not part of a delegation chain from a root HTTPProxy"
	if err != nil || route.Converged || route.Message != want || route.CanaryWeight != 10 {
		t.Fatalf("Observe of an orphaned HTTPProxy = %+v, %v; want message %q", route, err, want)
	}
	p = getProxy(t, cl, "podinfo")
	p.Status.Conditions[0].ObservedGeneration = p.Generation - 1
	if err := cl.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	if route, err := r.Observe(ctx, c); err != nil || !route.Converged {
		t.Fatalf("Observe with the condition of an older generation = %+v, %v", route, err)
	}
	p = getProxy(t, cl, "podinfo")
	p.Status.Conditions[0].ObservedGeneration, p.Status.Conditions[0].Status = p.Generation, contourv1.ConditionTrue
	if err := cl.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	if route, err := r.Observe(ctx, c); err != nil || !route.Converged {
		t.Fatalf("Observe of a valid HTTPProxy = %+v, %v", route, err)
	}
}

// Finalize hands the HTTPProxy back, and a Canary of the same name takes it over again.
func TestFinalizeHandsBackAndIsAdoptedAgain(t *testing.T) {
	ctx := context.Background()
	r, cl, w := newRouter(t)
	c := newCanary()
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}); err != nil {
		t.Fatal(err)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	n := w.N
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	if w.N != n {
		t.Fatalf("a second Finalize wrote %d times", w.N-n)
	}
	if p := getProxy(t, cl, "podinfo"); metav1.GetControllerOf(p) != nil {
		t.Fatalf("the handed-back HTTPProxy still has a controller")
	}
	next := newCanary(func(c *siskinv1.Canary) { c.UID = "next-uid" })
	if err := r.Apply(ctx, next, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(getProxy(t, cl, "podinfo")); ref == nil || ref.UID != "next-uid" {
		t.Fatalf("controller after a new Canary's Apply = %+v", ref)
	}
}

// What an HTTPProxy cannot express is refused with what to change, before anything is written.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*siskinv1.Canary)
		want string
	}{
		{"session affinity", func(c *siskinv1.Canary) {
			c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "flagger-cookie"}
		}, "analysis.sessionAffinity: an HTTPProxy can only set a response header, not add one"},
		{"headers to add", func(c *siskinv1.Canary) {
			c.Spec.Service.Headers = &siskinv1.Headers{Request: &siskinv1.HeaderOperations{Add: map[string]string{"x-a": "b"}}}
		}, "spec.service.headers.request.add"},
		{"method match", routertest.ABTest(siskinv1.HTTPMatchRequest{Method: &siskinv1.StringMatch{Exact: "GET"}}),
			"analysis.match[0]: HTTPProxy conditions match the path, headers and query parameters only"},
		{"withoutHeaders regex", routertest.ABTest(siskinv1.HTTPMatchRequest{WithoutHeaders: map[string]siskinv1.StringMatch{"x-a": {Regex: "b.*"}}}),
			"withoutHeaders x-a: HTTPProxy conditions exclude a header by its exact value only"},
		{"unknown retry condition", func(c *siskinv1.Canary) {
			c.Spec.Service.Retries = &siskinv1.HTTPRetry{Attempts: 2, RetryOn: "5xx,sometimes"}
		}, `spec.service.retries.retryOn "sometimes"`},
		{"additional ports", func(c *siskinv1.Canary) {
			c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "grpc", Port: 9999}}
		}, "spec.service.additionalPorts"},
		{"backend timeout", func(c *siskinv1.Canary) { c.Spec.Service.BackendTimeout = "2s" }, "spec.service.backendTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, w := newRouter(t)
			c := newCanary(tt.mod)
			err := r.Apply(context.Background(), c, canary.DesiredRoute{PrimaryWeight: 100})
			if !errors.Is(err, errSpec) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply error = %v, want errSpec with %q", err, tt.want)
			}
			if w.N != 0 {
				t.Fatalf("%d writes for a refused spec", w.N)
			}
		})
	}
}

// Services without weights share a route evenly, as Contour splits them.
func TestReadWeightsOfUnweightedServices(t *testing.T) {
	c := newCanary()
	var route canary.Route
	readWeights(c, &contourv1.HTTPProxySpec{Routes: []contourv1.Route{{Services: []contourv1.Service{
		{Name: "podinfo-primary", Port: 9898}, {Name: "podinfo-canary", Port: 9898},
	}}}}, &route)
	if route.PrimaryWeight != 50 || route.CanaryWeight != 50 {
		t.Fatalf("weights of unweighted services = %d/%d, want 50/50", route.PrimaryWeight, route.CanaryWeight)
	}
}
