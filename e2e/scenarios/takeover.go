//go:build e2e

package scenarios

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	istioapi "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// FlaggerTakeover: a namespace runs what Flagger leaves after a promotion (the target scaled to
// zero, podinfo-primary serving, the apex, -primary and -canary Services and the
// VirtualService or HTTPRoute sending everything to the primary, all controlled by Flagger's
// Canary). Flagger is gone; users keep sending requests through the data plane while Siskin is
// started with --adopt-flagger-namespaces and takes the objects over. No request fails, the
// primary's pods are the same pods afterwards, and the next release rolls out under Siskin.
func FlaggerTakeover(t *testing.T, in Input) {
	r := newRig(t, in)
	// The rig's controller runs without the opt-in; the take-over starts with one that has it.
	if err := r.ctrl.Stop(); err != nil {
		t.Fatal(err)
	}
	r.flaggerInstall(map[string]string{"VERSION": "1.0.0"})
	r.waitServed("1.0.0")
	r.waitAvailable(in.Name+"-primary", 2)
	// Flagger's objects were created a moment ago: the EndpointSlices are still being written
	// (the data plane can meet a slice with no ready endpoint). Users start once both primary
	// pods are ready endpoints of the primary Service, as they are at a real take-over.
	r.waitReadyEndpoints(in.Name+"-primary", 2)
	r.expectServed(10, "1.0.0", nil)
	pods := r.primaryPods()
	before := r.deployment(in.Name + "-primary")
	users := in.Env.StartTraffic(r.ctx, r.host(), 10, nil)

	c := r.canary()
	if err := in.Env.Client.Create(r.ctx, c); err != nil {
		t.Fatalf("create Canary: %v", err)
	}
	ctrl, err := in.Env.StartController(r.ctx, framework.ControllerOptions{
		LogFile:    filepath.Join(in.Env.StateDir, "logs", "siskin-"+in.Namespace+".log"),
		Provider:   in.Router.Provider,
		Namespaces: []string{in.Namespace},
		Args:       append(strings.Fields(os.Getenv("E2E_CONTROLLER_ARGS")), "--adopt-flagger-namespaces="+in.Namespace),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.ctrl = ctrl
	t.Cleanup(func() { _ = ctrl.Stop() })

	got := r.waitPhase(initTimeout, siskinv1.PhaseInitialized)
	r.expectRouteAtRest()
	// A few seconds of traffic after the take-over: the data plane applies what Siskin wrote
	// a moment after it is written.
	r.settle(3 * time.Second)
	stats := users.Take()
	expectNoLoss(t, r, "during the take-over", stats)
	if stats.Versions["1.0.0"] == 0 || len(stats.Versions) != 1 {
		r.fatalf("users were not served by the primary alone during the take-over: %s", stats)
	}
	after := r.deployment(in.Name + "-primary")
	if !equality.Semantic.DeepEqual(after.Spec.Template, before.Spec.Template) || !equality.Semantic.DeepEqual(after.Spec.Selector, before.Spec.Selector) {
		r.fatalf("the take-over changed the primary's pod template or selector")
	}
	if now := r.primaryPods(); !slices.Equal(now, pods) {
		r.fatalf("the primary's pods were replaced by the take-over: %v, before %v", now, pods)
	}
	if ref := metav1.GetControllerOf(after); ref == nil || ref.UID != got.UID {
		r.fatalf("the primary is controlled by %+v after the take-over, not by the Canary", ref)
	}
	if got.Status.LastPromotedSpec == "" || got.Status.LastPromotedSpec != got.Status.LastAppliedSpec {
		r.fatalf("status after the take-over: lastPromotedSpec %q lastAppliedSpec %q", got.Status.LastPromotedSpec, got.Status.LastAppliedSpec)
	}
	t.Logf("users during the take-over: %s", stats)

	r.release(map[string]string{"VERSION": "1.1.0"})
	c = r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded, siskinv1.PhaseFailed)
	stats = users.Stop()
	if c.Status.Phase != siskinv1.PhaseSucceeded {
		r.fatalf("the first release under Siskin was rolled back: %s", readyMessage(c))
	}
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the first release under Siskin; expected 1.1.0", v)
	}
	r.expectRouteAtRest()
	expectNoLoss(t, r, "during the first release under Siskin", stats)
	if stats.Versions["1.1.0"] == 0 {
		r.fatalf("users never reached the canary during the analysis: %s", stats)
	}
	t.Logf("users during the release: %s", stats)
}

// flaggerOwner is the controller reference Flagger sets on what it makes for its Canary. The
// Flagger Canary itself is gone (Flagger was uninstalled with its CRD), so the UID is made up;
// the garbage collector cannot resolve the kind and leaves the objects alone.
func (r *rig) flaggerOwner() metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: r.in.Name,
		UID:        types.UID("f1a66e40-0000-4000-8000-" + fmt.Sprintf("%012x", time.Now().UnixNano()&0xffffffffffff)),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

// flaggerInstall creates what Flagger leaves after promoting env: the target scaled to zero,
// <name>-primary with Flagger's one-label selector <app>-primary and a flagger-id on its pod
// template, the Services, and the router's objects routing everything to the primary.
func (r *rig) flaggerInstall(env map[string]string) {
	r.t.Helper()
	name, ns, port := r.in.Name, r.in.Namespace, r.in.Port
	owner := r.flaggerOwner()
	app := framework.App{Namespace: ns, Name: name, Replicas: 2, Port: port, Env: env}
	target := app.Deployment()
	target.Spec.Replicas = ptr.To[int32](0)

	primary := app.Deployment()
	primary.Name = name + "-primary"
	primary.Labels = map[string]string{"app": name + "-primary"}
	primary.OwnerReferences = []metav1.OwnerReference{owner}
	primary.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name + "-primary"}}
	primary.Spec.Template.Labels = map[string]string{"app": name + "-primary"}
	primary.Spec.Template.Annotations = map[string]string{"flagger-id": "3b0c2f4e-9d1a-4c7b-8e55-0a6f2d9c1e77"}

	svc := func(svcName, selector string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: svcName, Namespace: ns, Labels: map[string]string{"app": svcName},
				OwnerReferences: []metav1.OwnerReference{owner}},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeClusterIP,
				Selector: map[string]string{"app": selector},
				Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(port)}},
			},
		}
	}
	objs := []client.Object{target, primary,
		svc(name, name+"-primary"), svc(name+"-primary", name+"-primary"), svc(name+"-canary", name)}
	if r.in.Router.Provider == siskinv1.ProviderIstio {
		objs = append(objs, r.flaggerIstio(owner)...)
	} else {
		objs = append(objs, r.flaggerHTTPRoute(owner))
	}
	for _, obj := range objs {
		if err := r.in.Env.Client.Create(r.ctx, obj); err != nil {
			r.t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}
}

// flaggerIstio are Flagger's DestinationRules and VirtualService at rest.
func (r *rig) flaggerIstio(owner metav1.OwnerReference) []client.Object {
	name, ns, port := r.in.Name, r.in.Namespace, r.in.Port
	meta := func(n string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: n, Namespace: ns, OwnerReferences: []metav1.OwnerReference{owner}}
	}
	primaryDR := &networkingv1.DestinationRule{ObjectMeta: meta(name + "-primary")}
	primaryDR.Spec.Host = name + "-primary"
	canaryDR := &networkingv1.DestinationRule{ObjectMeta: meta(name + "-canary")}
	canaryDR.Spec.Host = name + "-canary"
	vs := &networkingv1.VirtualService{ObjectMeta: meta(name)}
	vs.Spec.Hosts = []string{name}
	dest := func(host string, weight int32) *istioapi.HTTPRouteDestination {
		return &istioapi.HTTPRouteDestination{Destination: &istioapi.Destination{Host: host, Port: &istioapi.PortSelector{Number: uint32(port)}}, Weight: weight}
	}
	vs.Spec.Http = []*istioapi.HTTPRoute{{Route: []*istioapi.HTTPRouteDestination{dest(name+"-primary", 100), dest(name+"-canary", 0)}}}
	return []client.Object{primaryDR, canaryDR, vs}
}

// flaggerHTTPRoute is Flagger's HTTPRoute at rest, on the local environment's Gateway.
func (r *rig) flaggerHTTPRoute(owner metav1.OwnerReference) client.Object {
	name, ns, port := r.in.Name, r.in.Namespace, r.in.Port
	svc := r.in.Router.Service(r.in.Env, ns, name, port)
	rt := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: []metav1.OwnerReference{owner}}}
	for _, g := range svc.GatewayRefs {
		ref := gatewayv1.ParentReference{Name: gatewayv1.ObjectName(g.Name)}
		if g.Namespace != nil {
			ref.Namespace = ptr.To(gatewayv1.Namespace(*g.Namespace))
		}
		rt.Spec.ParentRefs = append(rt.Spec.ParentRefs, ref)
	}
	for _, h := range svc.Hosts {
		rt.Spec.Hostnames = append(rt.Spec.Hostnames, gatewayv1.Hostname(h))
	}
	backend := func(svcName string, weight int32) gatewayv1.HTTPBackendRef {
		return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(svcName), Port: ptr.To(port)},
			Weight:                 ptr.To(weight),
		}}
	}
	rt.Spec.Rules = []gatewayv1.HTTPRouteRule{{
		Matches:     []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To("/")}}},
		BackendRefs: []gatewayv1.HTTPBackendRef{backend(name+"-primary", 100), backend(name+"-canary", 0)},
	}}
	return rt
}

// waitServed waits until the data plane serves version through the route, before users start.
func (r *rig) waitServed(version string) {
	r.t.Helper()
	err := framework.Eventually(r.ctx, 60*time.Second, "the data plane to serve "+version, func(ctx context.Context) (bool, error) {
		resp, err := r.in.Env.Get(ctx, r.host(), "/", nil)
		return err == nil && resp.Code == 200 && resp.Version == version, nil
	})
	if err != nil {
		r.fatalf("%v", err)
	}
}

// waitReadyEndpoints waits until the EndpointSlices of Service svc list exactly n ready
// endpoints.
func (r *rig) waitReadyEndpoints(svc string, n int) {
	r.t.Helper()
	err := framework.Eventually(r.ctx, 60*time.Second, svc+" endpoints ready", func(ctx context.Context) (bool, error) {
		list := &discoveryv1.EndpointSliceList{}
		if err := r.in.Env.Client.List(ctx, list, client.InNamespace(r.in.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: svc}); err != nil {
			return false, nil
		}
		ready := 0
		for _, s := range list.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready == nil || *e.Conditions.Ready {
					ready++
				}
			}
		}
		return ready == n, nil
	})
	if err != nil {
		r.fatalf("%v", err)
	}
}

// waitAvailable waits until the Deployment has rolled out n available replicas and no others.
func (r *rig) waitAvailable(name string, n int32) {
	r.t.Helper()
	err := framework.Eventually(r.ctx, 60*time.Second, name+" available", func(context.Context) (bool, error) {
		d := r.deployment(name)
		st := d.Status
		return st.ObservedGeneration == d.Generation && st.Replicas == n && st.UpdatedReplicas == n && st.AvailableReplicas == n, nil
	})
	if err != nil {
		r.fatalf("%v", err)
	}
}

// primaryPods returns the sorted UIDs of the primary's pods.
func (r *rig) primaryPods() []string {
	r.t.Helper()
	list := &corev1.PodList{}
	if err := r.in.Env.Client.List(r.ctx, list, client.InNamespace(r.in.Namespace), client.MatchingLabels{"app": r.in.Name + "-primary"}); err != nil {
		r.t.Fatal(err)
	}
	uids := map[string]bool{}
	for _, p := range list.Items {
		uids[string(p.UID)] = true
	}
	return slices.Sorted(maps.Keys(uids))
}

func (r *rig) deployment(name string) *appsv1.Deployment {
	r.t.Helper()
	d := &appsv1.Deployment{}
	if err := r.in.Env.Client.Get(r.ctx, client.ObjectKey{Namespace: r.in.Namespace, Name: name}, d); err != nil {
		r.t.Fatal(err)
	}
	return d
}

// settle lets d pass, unless the test's context ends first.
func (r *rig) settle(d time.Duration) {
	select {
	case <-r.ctx.Done():
	case <-time.After(d):
	}
}
