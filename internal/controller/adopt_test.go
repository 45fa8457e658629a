package controller

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	istioapi "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/target"
)

// The take-over scenarios create what Flagger leaves in a namespace for its Canary podinfo on
// Istio, start Siskin, and create a Siskin Canary of the same name. No Flagger Canary exists:
// the owner references point at a made-up UID, as they would once Flagger's CRD is gone.

const flaggerCanaryUID = "0f1a2b3c-flag-ger0-0000-000000000001"

func flaggerOwnerRef() metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: "podinfo",
		UID: flaggerCanaryUID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

// flaggerInstall creates the target (scaled to zero when it runs the primary's image, as
// Flagger leaves it after a promotion) and what Flagger made: podinfo-primary with its own
// one-label selector and a flagger-id on its pod template, the apex, -primary and -canary
// Services, and the router's objects (flaggerIstio, flaggerHTTPRoute).
func flaggerInstall(t *testing.T, ns, targetImage, primaryImage string, routes ...client.Object) {
	t.Helper()
	ctx := context.Background()
	tgt := podinfoDeployment(ns, targetImage)
	if targetImage == primaryImage {
		tgt.Spec.Replicas = ptr.To[int32](0)
	}
	primary := podinfoDeployment(ns, primaryImage)
	primary.Name = "podinfo-primary"
	primary.Labels = map[string]string{"app": "podinfo-primary"}
	primary.OwnerReferences = []metav1.OwnerReference{flaggerOwnerRef()}
	primary.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo-primary"}}
	primary.Spec.Template.Labels = map[string]string{"app": "podinfo-primary"}
	primary.Spec.Template.Annotations = map[string]string{"flagger-id": "8d4a3f0e-5b7c-4e21-9a6d-2c1b0e9f7a55"}

	svc := func(name, selector string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name},
				OwnerReferences: []metav1.OwnerReference{flaggerOwnerRef()}},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeClusterIP,
				Selector: map[string]string{"app": selector},
				Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 9898, TargetPort: intstr.FromInt32(9898)}},
			},
		}
	}
	objs := []client.Object{tgt, primary,
		svc("podinfo", "podinfo-primary"), svc("podinfo-primary", "podinfo-primary"), svc("podinfo-canary", "podinfo")}
	for _, obj := range append(objs, routes...) {
		if err := k8sClient.Create(ctx, obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}
}

// flaggerIstio are Flagger's DestinationRules and VirtualService routing all traffic to the
// primary.
func flaggerIstio(ns string) []client.Object {
	dr := func(name string) *networkingv1.DestinationRule {
		d := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			OwnerReferences: []metav1.OwnerReference{flaggerOwnerRef()}}}
		d.Spec.Host = name
		return d
	}
	vs := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns,
		OwnerReferences: []metav1.OwnerReference{flaggerOwnerRef()}}}
	vs.Spec.Hosts = []string{"podinfo"}
	vs.Spec.Http = []*istioapi.HTTPRoute{{
		Name: "default",
		Route: []*istioapi.HTTPRouteDestination{
			{Destination: &istioapi.Destination{Host: "podinfo-primary." + ns + ".svc.cluster.local"}, Weight: 100},
			{Destination: &istioapi.Destination{Host: "podinfo-canary." + ns + ".svc.cluster.local"}, Weight: 0},
		},
	}}
	return []client.Object{dr("podinfo-primary"), dr("podinfo-canary"), vs}
}

// flaggerHTTPRoute is Flagger's HTTPRoute routing all traffic to the primary.
func flaggerHTTPRoute(ns string) []client.Object {
	rt := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns,
		OwnerReferences: []metav1.OwnerReference{flaggerOwnerRef()}}}
	rt.Spec.ParentRefs = []gatewayv1.ParentReference{{Name: testGatewayName}}
	rt.Spec.Hostnames = []gatewayv1.Hostname{"podinfo.example.com"}
	backend := func(name string, weight int32) gatewayv1.HTTPBackendRef {
		return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(name), Port: ptr.To[gatewayv1.PortNumber](9898)},
			Weight:                 ptr.To(weight),
		}}
	}
	rt.Spec.Rules = []gatewayv1.HTTPRouteRule{{
		Matches:     []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To("/")}}},
		BackendRefs: []gatewayv1.HTTPBackendRef{backend("podinfo-primary", 100), backend("podinfo-canary", 0)},
	}}
	return []client.Object{rt}
}

// takeOverRouter wires one router into the take-over scenario.
type takeOverRouter struct {
	rc routerCase
	// flagger returns Flagger's routing objects in ns.
	flagger func(ns string) []client.Object
}

var (
	istioTakeOver = takeOverRouter{
		rc:      routerCase{provider: siskinv1.ProviderIstio, prepare: func(*testing.T, string) {}, spec: func(*siskinv1.Canary) {}, route: virtualServiceRoute},
		flagger: flaggerIstio,
	}
	gatewayAPITakeOver = takeOverRouter{
		rc: routerCase{
			provider: siskinv1.ProviderGatewayAPI,
			prepare: func(t *testing.T, ns string) {
				createGateway(t, ns)
				runGateway(t, ns, gatewayDelay)
			},
			spec: func(c *siskinv1.Canary) {
				c.Spec.Service.GatewayRefs = []siskinv1.ParentReference{{Name: testGatewayName}}
				c.Spec.Service.Hosts = []string{"podinfo.example.com"}
			},
			route: httpRouteRoute,
		},
		flagger: flaggerHTTPRoute,
	}
)

// adoptingCanary is the Siskin Canary that takes over Flagger's podinfo.
func adoptingCanary(ns string, rc routerCase, optIn bool) *siskinv1.Canary {
	c := weightedCanary(ns, rc)
	if optIn {
		c.Annotations = map[string]string{target.AnnotationAdopt: target.AdoptFlagger}
	}
	return c
}

// watchWeights polls the VirtualService's weights until stopped, and returns every distinct
// value seen, and whether it was ever missing.
func watchWeights(t *testing.T, ns string, rc routerCase) (stop func() (seen []routeWeights, missing bool)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		miss bool
		all  []routeWeights
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			rt, ok, err := rc.route(ctx, ns)
			mu.Lock()
			switch {
			case err != nil:
			case !ok:
				miss = true
			case len(all) == 0 || all[len(all)-1] != rt.weights:
				all = append(all, rt.weights)
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var once sync.Once
	stop = func() ([]routeWeights, bool) {
		once.Do(func() { cancel(); wg.Wait() })
		mu.Lock()
		defer mu.Unlock()
		return all, miss
	}
	t.Cleanup(func() { stop() })
	return stop
}

// checkTakenOver fails unless obj is controlled by c alone, without Flagger's reference.
func checkTakenOver(t *testing.T, obj client.Object, c *siskinv1.Canary) {
	t.Helper()
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.UID != c.UID || len(obj.GetOwnerReferences()) != 1 {
		t.Errorf("%T %s owner references %+v, want Canary %s alone", obj, obj.GetName(), obj.GetOwnerReferences(), c.UID)
	}
}

func TestTakeOverFromFlagger(t *testing.T) {
	t.Parallel()
	for _, tr := range []takeOverRouter{istioTakeOver, gatewayAPITakeOver} {
		t.Run(tr.rc.provider+": after a promotion the Canary comes up at rest and the next revision rolls out", func(t *testing.T) {
			t.Parallel()
			takeOverAfterPromotion(t, tr, false)
		})
	}
	// The namespace opt-in is held in memory only: every round, the actions after the status
	// write included, must see it (the status write used to drop it, and the round's SetRoute
	// then refused Flagger's VirtualService).
	t.Run("istio: opted in by --adopt-flagger-namespaces", func(t *testing.T) {
		t.Parallel()
		takeOverAfterPromotion(t, istioTakeOver, true)
	})

	t.Run("mid-rollout the target's revision is analysed, not promoted at once", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t)
		runKubelet(t, ns)
		flaggerInstall(t, ns, "podinfo:6.1.0", "podinfo:6.0.0", flaggerIstio(ns)...)
		waitForReady(t, ns, "podinfo-primary")
		before := getDeployment(t, ns, "podinfo-primary")
		startController(t, ns, controllerOptions{provider: siskinv1.ProviderIstio})

		c := adoptingCanary(ns, istioTakeOver.rc, true)
		if err := k8sClient.Create(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		got := waitFor(t, keyOf(c), "Progressing", func(c *siskinv1.Canary) bool {
			return c.Status.Phase == siskinv1.PhaseProgressing
		})
		if got.Status.LastPromotedSpec == "" || got.Status.LastPromotedSpec == got.Status.LastAppliedSpec {
			t.Errorf("lastPromotedSpec %q lastAppliedSpec %q: the primary's revision must stay the promoted one",
				got.Status.LastPromotedSpec, got.Status.LastAppliedSpec)
		}
		if after := getDeployment(t, ns, "podinfo-primary"); !equality.Semantic.DeepEqual(after.Spec.Template, before.Spec.Template) {
			t.Errorf("the primary's pod template changed before the analysis ended: image %s", image(after))
		}
		waitForWithin(t, keyOf(c), "Succeeded", 5*analysisInterval, func(c *siskinv1.Canary) bool {
			return c.Status.Phase == siskinv1.PhaseSucceeded
		})
		if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.1.0" {
			t.Errorf("primary runs %s after the analysis, want podinfo:6.1.0", img)
		}
	})

	t.Run("without the opt-in nothing is taken over", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t)
		runKubelet(t, ns)
		flaggerInstall(t, ns, "podinfo:6.0.0", "podinfo:6.0.0", flaggerIstio(ns)...)
		waitForReady(t, ns, "podinfo-primary")
		before := getDeployment(t, ns, "podinfo-primary")
		startController(t, ns, controllerOptions{provider: siskinv1.ProviderIstio})

		c := adoptingCanary(ns, istioTakeOver.rc, false)
		if err := k8sClient.Create(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		waitForEvent(t, c, siskinv1.ReasonReconcileError, "made by Flagger")
		after := getDeployment(t, ns, "podinfo-primary")
		if !equality.Semantic.DeepEqual(after.Annotations, before.Annotations) {
			t.Errorf("a primary Siskin may not take over was annotated: %v", after.Annotations)
		}
		if ref := metav1.GetControllerOf(after); ref == nil || ref.UID != flaggerCanaryUID || !equality.Semantic.DeepEqual(after.Spec, before.Spec) {
			t.Errorf("the primary was changed without the opt-in: %+v", after.OwnerReferences)
		}
		vs := &networkingv1.VirtualService{}
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, vs); err != nil {
			t.Fatal(err)
		}
		if ref := metav1.GetControllerOf(vs); ref == nil || ref.UID != flaggerCanaryUID {
			t.Errorf("the VirtualService was taken over without the opt-in: %+v", vs.OwnerReferences)
		}
	})
}

// takeOverAfterPromotion takes over what Flagger leaves after a promotion: the primary keeps
// its pod template and selector, the route carries all traffic to the primary throughout, the
// Canary comes up at rest with the primary's revision promoted, and the next revision rolls
// out under Siskin.
// takeOverAfterPromotion takes over Flagger's objects after a promotion, opted in by the
// Canary's annotation or, byNamespace, by --adopt-flagger-namespaces.
func takeOverAfterPromotion(t *testing.T, tr takeOverRouter, byNamespace bool) {
	ns := newNamespace(t)
	runKubelet(t, ns)
	tr.rc.prepare(t, ns)
	flaggerInstall(t, ns, "podinfo:6.0.0", "podinfo:6.0.0", tr.flagger(ns)...)
	waitForReady(t, ns, "podinfo-primary")
	before := getDeployment(t, ns, "podinfo-primary")
	weights := watchWeights(t, ns, tr.rc)
	opts := controllerOptions{provider: tr.rc.provider}
	if byNamespace {
		opts.adoptFlaggerNamespaces = []string{ns}
	}
	startController(t, ns, opts)

	c := adoptingCanary(ns, tr.rc, !byNamespace)
	if err := k8sClient.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, keyOf(c), "Initialized", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseInitialized
	})
	// The Deployment's generation moves with its annotations (the Deployment controller
	// copies them to the ReplicaSet); its pods restart only when the template changes.
	after := getDeployment(t, ns, "podinfo-primary")
	if !equality.Semantic.DeepEqual(after.Spec.Template, before.Spec.Template) ||
		!equality.Semantic.DeepEqual(after.Spec.Selector, before.Spec.Selector) ||
		ptr.Deref(after.Spec.Replicas, 1) != ptr.Deref(before.Spec.Replicas, 1) {
		t.Errorf("the take-over changed the primary's pod template, selector or replicas:\n%+v\nwant\n%+v", after.Spec, before.Spec)
	}
	if got.Status.LastPromotedSpec == "" || got.Status.LastPromotedSpec != after.Annotations[target.AnnotationRevision] ||
		got.Status.LastAppliedSpec != got.Status.LastPromotedSpec {
		t.Errorf("lastPromotedSpec %q lastAppliedSpec %q, primary revision %q", got.Status.LastPromotedSpec,
			got.Status.LastAppliedSpec, after.Annotations[target.AnnotationRevision])
	}
	waitForRoute(t, ns, tr.rc, allToPrimary, 10*time.Second)
	seen, missing := weights()
	if missing || len(seen) != 1 || seen[0] != allToPrimary {
		t.Errorf("route during the take-over: %v (missing: %v), want %s throughout", seen, missing, allToPrimary)
	}
	checkTakenOver(t, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo-primary"}}, got)
	waitForEvent(t, got, siskinv1.ReasonTakenOverFromFlagger, "took over what Flagger made")
	refusedFlaggers(t, ns)
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		checkTakenOver(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, got)
	}
	for _, obj := range tr.flagger(ns) {
		checkTakenOver(t, obj, got)
	}

	release(t, ns, "podinfo:6.1.0")
	waitForWithin(t, keyOf(c), "Succeeded", 5*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.1.0" {
		t.Errorf("primary runs %s after the first rollout under Siskin, want podinfo:6.1.0", img)
	}
	if sel := getDeployment(t, ns, "podinfo-primary").Spec.Selector; !equality.Semantic.DeepEqual(sel, before.Spec.Selector) {
		t.Errorf("the primary's selector changed to %v", sel)
	}
}

// waitForReady waits until the kubelet stand-in reports a Deployment available.
func waitForReady(t *testing.T, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := getDeployment(t, ns, name)
		if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == ptr.Deref(d.Spec.Replicas, 1) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s not available within 10s: %+v", name, d.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refusedFlaggers fails when a round of the take-over refused one of Flagger's objects as
// NotOwned: the opt-in must hold in every round and every action.
func refusedFlaggers(t *testing.T, ns string) {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := k8sClient.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Items {
		if e.Type == corev1.EventTypeWarning && strings.Contains(e.Note, "was made by Flagger") {
			t.Errorf("a round refused Flagger's objects during the take-over: %s: %s", e.Reason, e.Note)
		}
	}
}
