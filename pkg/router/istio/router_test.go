package istio

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"
	istioapi "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
	"github.com/siskin-dev/siskin/pkg/target"
)

func TestObserve(t *testing.T) {
	tests := []struct {
		name  string
		apply bool
		edit  func(t *testing.T, cl client.Client)
		spec  func(*siskinv1.Canary)
		want  canary.Route
	}{
		{
			name: "a missing VirtualService is not converged",
			want: canary.Route{Message: "VirtualService test/podinfo not found"},
		},
		{
			name:  "an applied route is converged with its weights",
			apply: true,
			want:  canary.Route{Converged: true, PrimaryWeight: 90, CanaryWeight: 10},
		},
		{
			name:  "weights changed by hand are reported as they are live",
			apply: true,
			edit: func(t *testing.T, cl client.Client) {
				editVirtualService(t, cl, func(vs *networkingv1.VirtualService) {
					vs.Spec.Http[0].Route[0].Weight, vs.Spec.Http[0].Route[1].Weight = 50, 50
				})
			},
			want: canary.Route{Converged: true, PrimaryWeight: 50, CanaryWeight: 50},
		},
		{
			name:  "a route option changed by hand is not converged",
			apply: true,
			edit: func(t *testing.T, cl client.Client) {
				editVirtualService(t, cl, func(vs *networkingv1.VirtualService) { vs.Spec.Http[0].Timeout = durationpb.New(5e9) })
			},
			want: canary.Route{PrimaryWeight: 90, CanaryWeight: 10, Message: "VirtualService test/podinfo differs from the route Siskin applies for weights 90/10"},
		},
		{
			name:  "a spec changed since the last apply is not converged",
			apply: true,
			spec:  func(c *siskinv1.Canary) { c.Spec.Service.Hosts = []string{"podinfo.example.com"} },
			want:  canary.Route{PrimaryWeight: 90, CanaryWeight: 10, Message: "VirtualService test/podinfo differs from the route Siskin applies for weights 90/10"},
		},
		{
			name:  "a changed traffic policy is not converged",
			apply: true,
			spec: func(c *siskinv1.Canary) {
				c.Spec.Service.TrafficPolicy = &runtime.RawExtension{Raw: []byte(`{"tls":{"mode":"DISABLE"}}`)}
			},
			want: canary.Route{PrimaryWeight: 90, CanaryWeight: 10, Message: "DestinationRule test/podinfo-primary differs from the spec"},
		},
		{
			name:  "a deleted DestinationRule is not converged",
			apply: true,
			edit: func(t *testing.T, cl client.Client) {
				if err := cl.Delete(context.Background(), getDestinationRule(t, cl, "podinfo-canary")); err != nil {
					t.Fatal(err)
				}
			},
			want: canary.Route{PrimaryWeight: 90, CanaryWeight: 10, Message: "DestinationRule test/podinfo-canary not found"},
		},
		{
			name:  "a mirror is observed",
			apply: true,
			edit: func(t *testing.T, cl client.Client) {
				editVirtualService(t, cl, func(vs *networkingv1.VirtualService) {
					vs.Spec.Http[0].Mirror = &istioapi.Destination{Host: "podinfo-canary.test.svc.cluster.local", Port: &istioapi.PortSelector{Number: 9898}}
					vs.Spec.Http[0].MirrorPercentage = &istioapi.Percent{Value: 100}
				})
			},
			want: canary.Route{Converged: true, PrimaryWeight: 90, CanaryWeight: 10, Mirror: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newCanary()
			r, cl, _ := newRouter(t)
			if tt.apply {
				if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.edit != nil {
				tt.edit(t, cl)
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

func editVirtualService(t *testing.T, cl client.Client, edit func(*networkingv1.VirtualService)) {
	t.Helper()
	routertest.Edit(t, cl, "podinfo", &networkingv1.VirtualService{}, edit)
}

func handWritten(owner *metav1.OwnerReference) *networkingv1.VirtualService {
	vs := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns}}
	vs.Spec.Hosts = []string{"podinfo"}
	vs.Spec.Http = []*istioapi.HTTPRoute{{Route: []*istioapi.HTTPRouteDestination{{Destination: &istioapi.Destination{Host: "podinfo"}}}}}
	if owner != nil {
		vs.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return vs
}

// The behaviour every router with objects of its own has: the VirtualService named after the
// apex Service (with the DestinationRules of the primary and the canary).
func TestContract(t *testing.T) {
	routertest.Contract{
		New:     routertest.New(newRouter),
		Canary:  newCanary,
		Kind:    kindVirtualService,
		Name:    "podinfo",
		Foreign: func() client.Object { return handWritten(nil) },
		Orphan: func() client.Object {
			vs := handWritten(nil)
			vs.Annotations = map[string]string{target.AnnotationCanary: "podinfo"}
			return vs
		},
		// Its DestinationRules are missing: Observe names the first.
		OrphanMessage: "DestinationRule test/podinfo-primary not found",
		// The VirtualService and two DestinationRules; a change of weights rewrites the
		// VirtualService alone; adopting the VirtualService creates the DestinationRules.
		CreateWrites: 3, WritesPerChange: 1, AdoptWrites: 3,
	}.Run(t)
}

func TestForeignObjectsAreNotOverwritten(t *testing.T) {
	helm := &metav1.OwnerReference{APIVersion: "helm.toolkit.fluxcd.io/v2", Kind: "HelmRelease", Name: "apps", UID: "helm-uid", Controller: ptr.To(true)}
	tests := []struct {
		name    string
		obj     client.Object
		message string
	}{
		{
			name:    "a hand-written VirtualService",
			obj:     handWritten(nil),
			message: "VirtualService test/podinfo exists and is not managed by Canary podinfo; delete it or annotate it siskin.dev/canary=podinfo",
		},
		{
			name:    "a VirtualService controlled by another owner",
			obj:     handWritten(helm),
			message: "VirtualService test/podinfo is controlled by HelmRelease apps, not by Canary podinfo",
		},
		{
			name:    "a hand-written DestinationRule",
			obj:     &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-canary", Namespace: ns}},
			message: "DestinationRule test/podinfo-canary exists and is not managed by Canary podinfo",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newCanary()
			r, _, w := newRouter(t, tt.obj)
			err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100})
			if !errors.Is(err, router.ErrNotOwned) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("Apply error = %v, want ErrNotOwned with %q", err, tt.message)
			}
			if w.N != 0 {
				t.Fatalf("Apply wrote %d objects before failing", w.N)
			}
			_, err = r.Observe(ctx, c)
			if tt.obj.GetName() == "podinfo-canary" {
				// Observe stops at the missing VirtualService before it reaches the DestinationRule.
				return
			}
			if !errors.Is(err, router.ErrNotOwned) {
				t.Fatalf("Observe error = %v, want ErrNotOwned", err)
			}
		})
	}
}

func TestEnsureKeepsLiveWeights(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	r, _, _ := newRouter(t)
	if err := r.Ensure(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Observe(ctx, c); got != (canary.Route{Converged: true, PrimaryWeight: 100}) {
		t.Fatalf("after Ensure of nothing: %+v", got)
	}
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30}); err != nil {
		t.Fatal(err)
	}
	c.Spec.Service.Timeout = "10s"
	if err := r.Ensure(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Observe(ctx, c); got != (canary.Route{Converged: true, PrimaryWeight: 70, CanaryWeight: 30}) {
		t.Fatalf("after Ensure of a changed spec: %+v", got)
	}
}

func TestFinalizeHandsTheRouteBackToTheApexService(t *testing.T) {
	ctx := context.Background()
	c := newCanary(func(c *siskinv1.Canary) {
		c.Spec.Service.Gateways = []string{"istio-system/public-gateway"}
		c.Spec.Service.Timeout = "15s"
	})
	r, cl, w := newRouter(t)
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 60, CanaryWeight: 40}); err != nil {
		t.Fatal(err)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	vs := getVirtualService(t, cl, "podinfo")
	if metav1.GetControllerOf(vs) != nil || vs.Annotations[target.AnnotationCanary] != "podinfo" {
		t.Fatalf("metadata after Finalize: %+v", vs.ObjectMeta)
	}
	if len(vs.Spec.Http) != 1 || len(vs.Spec.Http[0].Route) != 1 {
		t.Fatalf("routes after Finalize: %v", vs.Spec.Http)
	}
	rt := vs.Spec.Http[0]
	if rt.Route[0].Destination.Host != "podinfo.test.svc.cluster.local" || rt.Timeout.AsDuration().String() != "15s" ||
		vs.Spec.Gateways[0] != "istio-system/public-gateway" {
		t.Fatalf("route after Finalize: %v", vs.Spec.String())
	}
	n := w.N
	if err := r.Finalize(ctx, c); err != nil || w.N != n {
		t.Fatalf("second Finalize: %v, %d writes", err, w.N-n)
	}

	// A Canary of the same name, created again, takes the route back.
	again := newCanary()
	again.UID = types.UID("new-uid")
	if err := r.Apply(ctx, again, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
}

func TestFinalizeLeavesForeignObjects(t *testing.T) {
	ctx := context.Background()
	r, _, w := newRouter(t, handWritten(nil))
	if err := r.Finalize(ctx, newCanary()); err != nil || w.N != 0 {
		t.Fatalf("Finalize: %v, %d writes", err, w.N)
	}
}

func TestSessionAffinityRoutesOnlyWhileTheCanaryHasTraffic(t *testing.T) {
	ctx := context.Background()
	c := newCanary(func(c *siskinv1.Canary) {
		c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "canary-session"}
	})
	// At weight 0 the planner records no current cookie, and no earlier one to expire.
	c.Status.SessionAffinityCookie, c.Status.PreviousSessionAffinityCookie = "", ""
	r, cl, _ := newRouter(t)
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	vs := getVirtualService(t, cl, "podinfo")
	if len(vs.Spec.Http) != 1 || vs.Spec.Http[0].Route[1].Headers != nil {
		t.Fatalf("routes at weight 0: %v", vs.Spec.String())
	}
	if got, err := r.Observe(ctx, c); err != nil || !got.Converged {
		t.Fatalf("Observe = %+v, %v", got, err)
	}
}

func TestInvalidTrafficPolicyFailsBeforeWriting(t *testing.T) {
	c := newCanary(func(c *siskinv1.Canary) {
		c.Spec.Service.TrafficPolicy = &runtime.RawExtension{Raw: []byte(`{"loadBalancer":{"simpel":"ROUND_ROBIN"}}`)}
	})
	r, _, w := newRouter(t)
	err := r.Apply(context.Background(), c, canary.DesiredRoute{PrimaryWeight: 100})
	if err == nil || !strings.Contains(err.Error(), "spec.service.trafficPolicy") || w.N != 0 {
		t.Fatalf("Apply = %v with %d writes", err, w.N)
	}
}

func TestTCPRoutesRefuseWhatTheyCannotDo(t *testing.T) {
	tests := []struct {
		name   string
		canary func(*siskinv1.Canary)
		route  canary.DesiredRoute
	}{
		{
			name: "A/B testing",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Iterations: 2, Match: []siskinv1.HTTPMatchRequest{{SourceLabels: map[string]string{"a": "b"}}}}
			},
			route: canary.DesiredRoute{CanaryWeight: 100},
		},
		{name: "mirroring", route: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCanary(func(c *siskinv1.Canary) { c.Spec.Service.AppProtocol = "TCP" })
			if tt.canary != nil {
				tt.canary(c)
			}
			r, _, w := newRouter(t)
			if err := r.Apply(context.Background(), c, tt.route); err == nil || !strings.Contains(err.Error(), "appProtocol is tcp") || w.N != 0 {
				t.Fatalf("Apply = %v with %d writes", err, w.N)
			}
		})
	}
}

// severalPorts gives the canary an HTTP (grpc) and a TCP (redis) additional port.
func severalPorts(c *siskinv1.Canary) {
	c.Spec.Service.AdditionalPorts = []siskinv1.ServicePort{
		{Name: "grpc", Port: 9999, AppProtocol: "grpc"},
		{Name: "redis", Port: 6379, AppProtocol: "tcp"},
	}
}

func TestObserveChecksEveryPortCarriesTheWeights(t *testing.T) {
	ctx := context.Background()
	c := newCanary(severalPorts)
	r, cl, _ := newRouter(t)
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30}); err != nil {
		t.Fatal(err)
	}
	editVirtualService(t, cl, func(vs *networkingv1.VirtualService) {
		vs.Spec.Tcp[0].Route[0].Weight, vs.Spec.Tcp[0].Route[1].Weight = 100, 0
	})
	route, err := r.Observe(ctx, c)
	want := "VirtualService test/podinfo routes port redis at weights 100/0, but port http at 70/30"
	if err != nil || route.Converged || route.Message != want || route.PrimaryWeight != 70 {
		t.Fatalf("Observe = %+v, %v; want not converged: %s", route, err, want)
	}
}

func TestSeveralPortsRefuseABTestingOnATCPPort(t *testing.T) {
	c := newCanary(severalPorts, func(c *siskinv1.Canary) {
		c.Spec.Analysis = &siskinv1.CanaryAnalysis{Iterations: 2, Match: []siskinv1.HTTPMatchRequest{{SourceLabels: map[string]string{"a": "b"}}}}
	})
	r, _, w := newRouter(t)
	err := r.Apply(context.Background(), c, canary.DesiredRoute{CanaryWeight: 100})
	if err == nil || !strings.Contains(err.Error(), "additionalPorts redis (6379) has appProtocol tcp") || w.N != 0 {
		t.Fatalf("Apply = %v with %d writes", err, w.N)
	}
}

func TestFinalizeHandsEveryPortBack(t *testing.T) {
	ctx := context.Background()
	c := newCanary(severalPorts)
	r, cl, _ := newRouter(t)
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 60, CanaryWeight: 40}); err != nil {
		t.Fatal(err)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	vs := getVirtualService(t, cl, "podinfo")
	var got []string
	for _, rt := range vs.Spec.Http {
		got = append(got, fmt.Sprintf("%s %d->%s:%d", rt.Name, rt.Match[0].Port, rt.Route[0].Destination.Host, rt.Route[0].Destination.Port.Number))
	}
	for _, rt := range vs.Spec.Tcp {
		got = append(got, fmt.Sprintf("tcp %d->%s:%d", rt.Match[0].Port, rt.Route[0].Destination.Host, rt.Route[0].Destination.Port.Number))
	}
	want := []string{
		"default 9898->podinfo.test.svc.cluster.local:9898",
		"default-grpc 9999->podinfo.test.svc.cluster.local:9999",
		"tcp 6379->podinfo.test.svc.cluster.local:6379",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("routes after Finalize %v, want %v", got, want)
	}
}
