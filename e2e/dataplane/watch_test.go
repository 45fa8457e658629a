package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/go-logr/logr/testr"

	"github.com/siskin-dev/siskin/internal/testenv"
)

// TestRunFollowsTheAPIServer runs the data plane against a real API server: it must pick up
// a VirtualService, follow a weight change, mark an HTTPRoute on its Gateway Accepted, and
// follow a canary Ingress's weight and publish its address in the Ingresses' status.
func TestRunFollowsTheAPIServer(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Objects of the podinfo world, with endpoints on httptest servers.
	w := podinfo(t)
	mustCreate := func(o client.Object) {
		t.Helper()
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	mustCreate(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	mustCreate(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gateway-system"}})
	for _, s := range w.snap.Services {
		mustCreate(s.DeepCopy())
	}
	// The API server refuses loopback endpoint addresses: give each endpoint a 10.250.0.x
	// address, which the data plane dials at 127.0.0.1 where its httptest server listens.
	for i, es := range w.snap.EndpointSlices {
		es := es.DeepCopy()
		es.AddressType = discoveryv1.AddressTypeIPv4
		es.Endpoints[0].Addresses = []string{fmt.Sprintf("10.250.0.%d", i+1)}
		mustCreate(es)
	}
	vs := &networkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
		Spec: networkingv1alpha3.VirtualService{Hosts: []string{"podinfo"}, Http: []*networkingv1alpha3.HTTPRoute{{
			Route: []*networkingv1alpha3.HTTPRouteDestination{dest("podinfo-primary", 100), dest("podinfo-canary", 0)},
		}}},
	}
	mustCreate(vs)
	w.gateway("localenv", DefaultControllerName)
	mustCreate(w.snap.GatewayClasses[0].DeepCopy())
	mustCreate(w.snap.Gateways[0].DeepCopy())
	hr := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"}}
	hr.Spec.ParentRefs = []gatewayv1.ParentReference{gatewayParent("localenv")}
	hr.Spec.Hostnames = []gatewayv1.Hostname{"app.example.com"}
	hr.Spec.Rules = []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{backendRef("podinfo-canary", 1)}}}
	mustCreate(hr)
	w.nginxClass(false)
	mustCreate(w.snap.IngressClasses[0].DeepCopy())
	main := w.ingress("podinfo", "ingress.example.com", "/", "podinfo-primary", nil)
	mustCreate(main.DeepCopy())
	w.canaryIngress(map[string]string{"canary-weight": "0"})
	canary := w.snap.Ingresses[1].DeepCopy()
	canary.Spec.Rules[0].Host = "ingress.example.com"
	mustCreate(canary)

	s := New(Options{Address: "127.0.0.1", Log: testr.New(t), DialAddr: func(hostport string) string {
		_, port, _ := net.SplitHostPort(hostport)
		return net.JoinHostPort("127.0.0.1", port)
	}})
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- s.Run(runCtx, env.Config) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	routedTo := func(host string) string {
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/", nil)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		return rec.Body.String()
	}
	waitUntil(t, "the VirtualService to route to the primary", func() bool { return routedTo("podinfo.test:9898") == "podinfo-primary" })
	waitUntil(t, "the HTTPRoute to route to the canary", func() bool { return routedTo("app.example.com") == "podinfo" })

	// Shift all traffic to the canary.
	if err := c.Get(ctx, client.ObjectKeyFromObject(vs), vs); err != nil {
		t.Fatal(err)
	}
	vs.Spec.Http[0].Route[0].Weight, vs.Spec.Http[0].Route[1].Weight = 0, 100
	if err := c.Update(ctx, vs); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the weight change to take effect", func() bool { return routedTo("podinfo.test:9898") == "podinfo" })

	waitUntil(t, "the Ingress to route to the primary", func() bool { return routedTo("ingress.example.com") == "podinfo-primary" })
	if err := c.Get(ctx, client.ObjectKeyFromObject(canary), canary); err != nil {
		t.Fatal(err)
	}
	canary.Annotations[canaryWeightAnnotation] = "100"
	if err := c.Update(ctx, canary); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the canary Ingress's weight to take effect", func() bool { return routedTo("ingress.example.com") == "podinfo" })
	waitUntil(t, "the Ingresses to carry the data plane's address", func() bool {
		for _, ing := range []client.Object{main, canary} {
			var got knetworkingv1.Ingress
			if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &got); err != nil {
				return false
			}
			if lb := got.Status.LoadBalancer.Ingress; len(lb) != 1 || lb[0].IP != "127.0.0.1" {
				return false
			}
		}
		return true
	})

	waitUntil(t, "the HTTPRoute to be Accepted", func() bool {
		var got gatewayv1.HTTPRoute
		if err := c.Get(ctx, client.ObjectKeyFromObject(hr), &got); err != nil || len(got.Status.Parents) != 1 {
			return false
		}
		p := got.Status.Parents[0]
		return p.ControllerName == DefaultControllerName && meta.IsStatusConditionTrue(p.Conditions, "Accepted") &&
			meta.IsStatusConditionTrue(p.Conditions, "ResolvedRefs")
	})
	waitUntil(t, "the Gateway to be Programmed with an address", func() bool {
		var got gatewayv1.Gateway
		if err := c.Get(ctx, client.ObjectKeyFromObject(w.snap.Gateways[0]), &got); err != nil {
			return false
		}
		return meta.IsStatusConditionTrue(got.Status.Conditions, "Programmed") && len(got.Status.Addresses) == 1 &&
			len(got.Status.Listeners) == 1 && got.Status.Listeners[0].AttachedRoutes == 1
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRebuildsAreSpacedByTheirCost(t *testing.T) {
	for _, tc := range []struct {
		build, want time.Duration
	}{
		{0, rebuildDelay},
		{time.Millisecond, rebuildDelay},
		{19 * time.Millisecond, rebuildDelay},
		{30 * time.Millisecond, 300 * time.Millisecond},
		{time.Second, maxRebuildDelay},
	} {
		if got := nextRebuildDelay(tc.build); got != tc.want {
			t.Errorf("after a build of %s: delay %s, want %s", tc.build, got, tc.want)
		}
	}
}
