package gatewayapi

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/target"
)

func TestObserve(t *testing.T) {
	const differs = "HTTPRoute test/podinfo differs from the route Siskin applies for weights 90/10"
	twoGateways := func(c *siskinv1.Canary) {
		c.Spec.Service.GatewayRefs = append(c.Spec.Service.GatewayRefs, siskinv1.ParentReference{Name: "internal"})
	}
	tests := []struct {
		name   string
		canary func(*siskinv1.Canary)
		apply  bool
		status func(t *testing.T, cl client.Client, gen int64)
		spec   func(*siskinv1.Canary)
		want   canary.Route
	}{
		{
			name: "a missing HTTPRoute is not converged",
			want: canary.Route{Message: "HTTPRoute test/podinfo not found"},
		},
		{
			name:  "a route no Gateway has reported on is not converged",
			apply: true,
			want:  canary.Route{PrimaryWeight: 90, CanaryWeight: 10, Message: "parent Gateway gateways/public has not reported on HTTPRoute test/podinfo yet"},
		},
		{
			name:   "a route accepted at its generation is converged",
			apply:  true,
			status: func(t *testing.T, cl client.Client, gen int64) { accept(t, cl, gen, metav1.ConditionTrue) },
			want:   canary.Route{Converged: true, PrimaryWeight: 90, CanaryWeight: 10},
		},
		{
			name:   "a route accepted at an older generation is not converged",
			apply:  true,
			status: func(t *testing.T, cl client.Client, gen int64) { accept(t, cl, gen-1, metav1.ConditionTrue) },
			want: canary.Route{PrimaryWeight: 90, CanaryWeight: 10,
				Message: "parent Gateway gateways/public has not accepted generation 1 of HTTPRoute test/podinfo yet (last accepted 0)"},
		},
		{
			name:   "a route a Gateway refused is not converged",
			apply:  true,
			status: func(t *testing.T, cl client.Client, gen int64) { accept(t, cl, gen, metav1.ConditionFalse) },
			want: canary.Route{PrimaryWeight: 90, CanaryWeight: 10,
				Message: "parent Gateway gateways/public has not accepted HTTPRoute test/podinfo: Accepted: accepted"},
		},
		{
			name:   "every parent must accept the route",
			canary: twoGateways,
			apply:  true,
			status: func(t *testing.T, cl client.Client, gen int64) {
				accept(t, cl, gen, metav1.ConditionTrue)
				rt := getHTTPRoute(t, cl)
				rt.Status.Parents = rt.Status.Parents[:1]
				if err := cl.Status().Update(context.Background(), rt); err != nil {
					t.Fatal(err)
				}
			},
			want: canary.Route{PrimaryWeight: 90, CanaryWeight: 10, Message: "parent Gateway test/internal has not reported on HTTPRoute test/podinfo yet"},
		},
		{
			name:  "unresolved backends are not converged",
			apply: true,
			status: func(t *testing.T, cl client.Client, gen int64) {
				accept(t, cl, gen, metav1.ConditionTrue)
				rt := getHTTPRoute(t, cl)
				rt.Status.Parents[0].Conditions = append(rt.Status.Parents[0].Conditions, metav1.Condition{
					Type: string(gatewayv1.RouteConditionResolvedRefs), Status: metav1.ConditionFalse, ObservedGeneration: gen,
					Reason: "BackendNotFound", Message: "service podinfo-canary not found", LastTransitionTime: metav1.Unix(0, 0),
				})
				if err := cl.Status().Update(context.Background(), rt); err != nil {
					t.Fatal(err)
				}
			},
			want: canary.Route{PrimaryWeight: 90, CanaryWeight: 10,
				Message: "parent Gateway gateways/public cannot resolve the backends of HTTPRoute test/podinfo: BackendNotFound: service podinfo-canary not found"},
		},
		{
			name:   "a spec changed since the last apply is not converged",
			apply:  true,
			status: func(t *testing.T, cl client.Client, gen int64) { accept(t, cl, gen, metav1.ConditionTrue) },
			spec:   func(c *siskinv1.Canary) { c.Spec.Service.BackendTimeout = "2s" },
			want:   canary.Route{PrimaryWeight: 90, CanaryWeight: 10, Message: differs},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newCanary()
			if tt.canary != nil {
				tt.canary(c)
			}
			r, cl, _ := newRouter(t)
			if tt.apply {
				if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}); err != nil {
					t.Fatal(err)
				}
				// The API server counts generations from 1.
				rt := getHTTPRoute(t, cl)
				if rt.Generation == 0 {
					rt.Generation = 1
					if err := cl.Update(ctx, rt); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.status != nil {
				tt.status(t, cl, getHTTPRoute(t, cl).Generation)
			}
			if tt.spec != nil {
				tt.spec(c)
			}
			got, err := r.Observe(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Observe = %+v\nwant      %+v", got, tt.want)
			}
		})
	}
}

// The behaviour every router with objects of its own has: the HTTPRoute named after the apex
// Service.
func TestContract(t *testing.T) {
	route := func(annotations map[string]string) client.Object {
		rt := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, Annotations: annotations}}
		rt.Spec.Hostnames = []gatewayv1.Hostname{"podinfo.example.com"}
		return rt
	}
	contract(newCanary, "HTTPRoute", 0, route, acceptEvery).Run(t)
}

func TestAStoredRouteWithoutDefaultsIsEqual(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	r, cl, w := newRouter(t)
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	rt := getHTTPRoute(t, cl)
	rt.Spec.ParentRefs[0].Group, rt.Spec.ParentRefs[0].Kind = nil, nil
	rt.Spec.Rules[0].Matches = nil
	rt.Spec.Rules[0].BackendRefs[0].Group, rt.Spec.Rules[0].BackendRefs[0].Kind = nil, nil
	if err := cl.Update(ctx, rt); err != nil {
		t.Fatal(err)
	}
	n := w.N
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil || w.N != n {
		t.Fatalf("Apply over a route stored without defaults: %v, %d writes", err, w.N-n)
	}
}

func TestFinalizeReleasesTheRoute(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	r, cl, w := newRouter(t)
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 60, CanaryWeight: 40}); err != nil {
		t.Fatal(err)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	rt := getHTTPRoute(t, cl)
	if metav1.GetControllerOf(rt) != nil || rt.Annotations[target.AnnotationCanary] != "podinfo" {
		t.Fatalf("metadata after Finalize: %+v", rt.ObjectMeta)
	}
	if be := rt.Spec.Rules[0].BackendRefs; len(rt.Spec.Rules) != 1 || len(be) != 1 || be[0].Name != "podinfo" {
		t.Fatalf("rules after Finalize: %+v", rt.Spec.Rules)
	}
	n := w.N
	if err := r.Finalize(ctx, c); err != nil || w.N != n {
		t.Fatalf("second Finalize: %v, %d writes", err, w.N-n)
	}
	again := newCanary()
	again.UID = types.UID("new-uid")
	if err := r.Apply(ctx, again, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatalf("a new Canary of the same name cannot take the route back: %v", err)
	}
}

func TestMatchesAnHTTPRouteCannotExpress(t *testing.T) {
	tests := []struct {
		name  string
		set   func(*siskinv1.Canary)
		field string
	}{
		{
			name: "source labels in analysis.match",
			set: func(c *siskinv1.Canary) {
				c.Spec.Analysis = abTest(siskinv1.HTTPMatchRequest{SourceLabels: map[string]string{"app": "a"}})
			},
			field: "spec.analysis.match[0].sourceLabels",
		},
		{
			name: "a method prefix in service.match",
			set: func(c *siskinv1.Canary) {
				c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{}, {Method: &siskinv1.StringMatch{Prefix: "G"}}}
			},
			field: "spec.service.match[1].method (only exact)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, w := newRouter(t)
			err := r.Apply(context.Background(), newCanary(tt.set), canary.DesiredRoute{PrimaryWeight: 100})
			if err == nil || !strings.Contains(err.Error(), tt.field) || w.N != 0 {
				t.Fatalf("Apply = %v with %d writes, want an error naming %s", err, w.N, tt.field)
			}
		})
	}
}

func abTest(m siskinv1.HTTPMatchRequest) *siskinv1.CanaryAnalysis {
	return &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 3, Match: []siskinv1.HTTPMatchRequest{m}}
}

func TestGatewayDuration(t *testing.T) {
	for in, want := range map[string]string{
		"30s": "30s", "1.5s": "1s500ms", "90m": "1h30m", "0.25ms": "0s", "2h0m3.0001s": "2h3s", "100s": "1m40s",
	} {
		got, err := gatewayDuration("f", in)
		if err != nil || string(ptr.Deref(got, "")) != want {
			t.Errorf("gatewayDuration(%q) = %v, %v; want %s", in, ptr.Deref(got, ""), err, want)
		}
	}
}

func TestAdditionalTCPPortsAreRefused(t *testing.T) {
	c := newCanary(func(c *siskinv1.Canary) {
		c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "redis", Port: 6379, AppProtocol: "tcp"}}
	})
	r, _, w := newRouter(t)
	want := "spec.service.additionalPorts redis (6379) has appProtocol tcp"
	if _, err := r.Observe(context.Background(), c); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Observe error = %v, want %q", err, want)
	}
	if err := r.Apply(context.Background(), c, canary.DesiredRoute{PrimaryWeight: 100}); err == nil || !strings.Contains(err.Error(), want) || w.N != 0 {
		t.Fatalf("Apply = %v with %d writes, want %q", err, w.N, want)
	}
}

func TestTheRouteOfARemovedPortIsDeleted(t *testing.T) {
	ctx := context.Background()
	c := newCanary(func(c *siskinv1.Canary) {
		c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{{Name: "admin", Port: 8080}}
	})
	r, cl, _ := newRouter(t)
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	if n := len(listHTTPRoutes(t, cl)); n != 2 {
		t.Fatalf("%d HTTPRoutes, want 2", n)
	}
	c.Spec.Service.AdditionalPorts = nil
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	if routes := listHTTPRoutes(t, cl); len(routes) != 1 || routes[0].Name != "podinfo" {
		t.Fatalf("HTTPRoutes after the port was removed: %d", len(routes))
	}
}
