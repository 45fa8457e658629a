package dataplane

import (
	"context"
	"fmt"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// rebuildDelay coalesces bursts of events into one table build.
const rebuildDelay = 20 * time.Millisecond

// slowBuild is the build time from which builds are spaced by their cost.
const slowBuild = 20 * time.Millisecond

// maxRebuildDelay bounds the spacing of builds, however long one took.
const maxRebuildDelay = 2 * time.Second

// Scheme returns the kinds the data plane reads.
func Scheme() (*k8sruntime.Scheme, error) {
	s := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, networkingv1.AddToScheme, gatewayv1.Install, contourv1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	return s, nil
}

func metadataOf(gvk string) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	switch gvk {
	case "Pod":
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	case "ReplicaSet":
		m.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
	}
	return m
}

// Run watches Services, EndpointSlices, pods, ReplicaSets, VirtualServices, HTTPRoutes,
// Gateways, GatewayClasses, Ingresses, IngressClasses, IngressRoutes and TraefikServices,
// rebuilds the table when any of them changes, and writes the status a Gateway API
// implementation and ingress-nginx write. The Istio, Gateway API and Traefik CRDs must be
// installed. It returns when ctx ends.
func (s *Server) Run(ctx context.Context, cfg *rest.Config) error {
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return fmt.Errorf("create cache: %w", err)
	}
	writer, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	kick := make(chan struct{}, 1)
	notify := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	// Pods and ReplicaSets matter only for their owners, which do not change: their updates
	// (status, mostly) need no rebuild.
	ownersOnly := toolscache.ResourceEventHandlerFuncs{AddFunc: handler.AddFunc, DeleteFunc: handler.DeleteFunc}
	watched := []struct {
		obj client.Object
		h   toolscache.ResourceEventHandler
	}{
		{&corev1.Service{}, handler}, {&discoveryv1.EndpointSlice{}, handler},
		{metadataOf("Pod"), ownersOnly}, {metadataOf("ReplicaSet"), ownersOnly},
		{&networkingv1.VirtualService{}, handler}, {&gatewayv1.HTTPRoute{}, handler},
		{&gatewayv1.Gateway{}, handler}, {&gatewayv1.GatewayClass{}, handler},
		{&knetworkingv1.Ingress{}, handler}, {&knetworkingv1.IngressClass{}, handler},
		{&contourv1.HTTPProxy{}, handler},
		{traefikObject(IngressRouteGVK), handler}, {traefikObject(TraefikServiceGVK), handler},
	}
	for _, w := range watched {
		inf, err := c.GetInformer(ctx, w.obj)
		if err != nil {
			return fmt.Errorf("watch %T: %w", w.obj, err)
		}
		if _, err := inf.AddEventHandler(w.h); err != nil {
			return fmt.Errorf("watch %T: %w", w.obj, err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return fmt.Errorf("caches did not sync")
	}
	notify()
	delay := rebuildDelay
	for {
		select {
		case <-ctx.Done():
			return <-errc
		case <-kick:
		}
		select {
		case <-ctx.Done():
			return <-errc
		case <-time.After(delay):
		}
		start := time.Now()
		snap, err := s.snapshot(ctx, c)
		if err != nil {
			s.opts.Log.Error(err, "Reading objects failed")
			continue
		}
		t := Build(snap)
		t.keepRoundRobin(s.table.Load())
		s.metrics.builds.Inc()
		s.table.Store(t)
		s.synced.Store(true)
		s.writeStatus(ctx, c, writer, t)
		delay = nextRebuildDelay(time.Since(start))
	}
}

// nextRebuildDelay spaces the builds of a large table by ten times what the last one took, so
// that a cluster whose routes change all the time (the scale bench's thousand Canaries) costs
// the data plane about a tenth of a core instead of starving the API server it shares the
// machine with. A table that builds in less than slowBuild (the e2e scenarios') keeps the
// 20 ms reaction the scenarios rely on.
func nextRebuildDelay(lastBuild time.Duration) time.Duration {
	if lastBuild < slowBuild {
		return rebuildDelay
	}
	return min(10*lastBuild, maxRebuildDelay)
}

func (s *Server) snapshot(ctx context.Context, c cache.Cache) (Snapshot, error) {
	snap := Snapshot{ControllerName: s.opts.ControllerName, Address: s.opts.Address}
	fast := client.UnsafeDisableDeepCopy
	var svcs corev1.ServiceList
	var eps discoveryv1.EndpointSliceList
	var vss networkingv1.VirtualServiceList
	var hrs gatewayv1.HTTPRouteList
	var gws gatewayv1.GatewayList
	var gcs gatewayv1.GatewayClassList
	var ings knetworkingv1.IngressList
	var ics knetworkingv1.IngressClassList
	var hps contourv1.HTTPProxyList
	pods := &metav1.PartialObjectMetadataList{}
	pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	rss := &metav1.PartialObjectMetadataList{}
	rss.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("ReplicaSetList"))
	for _, l := range []client.ObjectList{&svcs, &eps, pods, rss, &vss, &hrs, &gws, &gcs, &ings, &ics, &hps} {
		if err := c.List(ctx, l, fast); err != nil {
			return snap, fmt.Errorf("list %T: %w", l, err)
		}
	}
	snap.Services = pointers(svcs.Items)
	snap.EndpointSlices = pointers(eps.Items)
	snap.Pods = pointers(pods.Items)
	snap.ReplicaSets = pointers(rss.Items)
	snap.VirtualServices = vss.Items
	snap.HTTPRoutes = pointers(hrs.Items)
	snap.Gateways = pointers(gws.Items)
	snap.GatewayClasses = pointers(gcs.Items)
	snap.Ingresses = pointers(ings.Items)
	snap.IngressClasses = pointers(ics.Items)
	snap.HTTPProxies = pointers(hps.Items)
	var err error
	if snap.IngressRoutes, err = listTraefik(ctx, c, IngressRouteGVK); err != nil {
		return snap, err
	}
	if snap.TraefikServices, err = listTraefik(ctx, c, TraefikServiceGVK); err != nil {
		return snap, err
	}
	return snap, nil
}

func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// writeStatus reports the data plane's view in the status of HTTPRoutes, Gateways and
// GatewayClasses, as a Gateway API implementation does, and its address in the status of the
// Ingresses it serves, as ingress-nginx does; unchanged status is not written.
func (s *Server) writeStatus(ctx context.Context, c cache.Cache, w client.Client, t *Table) {
	log := s.opts.Log
	s.ingressStatus(ctx, c, w)
	var gcs gatewayv1.GatewayClassList
	if err := c.List(ctx, &gcs); err == nil {
		for i := range gcs.Items {
			gc := &gcs.Items[i]
			if string(gc.Spec.ControllerName) != s.opts.ControllerName {
				continue
			}
			before := gc.Status.DeepCopy()
			meta.SetStatusCondition(&gc.Status.Conditions, condition(string(gatewayv1.GatewayClassConditionStatusAccepted), "Accepted", "handled by the localenv data plane", gc.Generation))
			if !equality.Semantic.DeepEqual(before, &gc.Status) {
				if err := w.Status().Update(ctx, gc); err != nil {
					log.V(1).Info("Updating GatewayClass status failed", "name", gc.Name, "error", err.Error())
				}
			}
		}
	}
	var gws gatewayv1.GatewayList
	if err := c.List(ctx, &gws); err == nil {
		for i := range gws.Items {
			gw := &gws.Items[i]
			st, ours := t.gateways[svcKey{Namespace: gw.Namespace, Name: gw.Name}]
			if !ours {
				continue
			}
			before := gw.Status.DeepCopy()
			s.gatewayStatus(gw, st)
			if !equality.Semantic.DeepEqual(before, &gw.Status) {
				if err := w.Status().Update(ctx, gw); err != nil {
					log.V(1).Info("Updating Gateway status failed", "gateway", gw.Namespace+"/"+gw.Name, "error", err.Error())
				}
			}
		}
	}
	var hrs gatewayv1.HTTPRouteList
	if err := c.List(ctx, &hrs); err == nil {
		for i := range hrs.Items {
			hr := &hrs.Items[i]
			before := hr.Status.DeepCopy()
			s.routeStatus(hr, t.routeStatus[svcKey{Namespace: hr.Namespace, Name: hr.Name}])
			if !equality.Semantic.DeepEqual(before, &hr.Status) {
				if err := w.Status().Update(ctx, hr); err != nil {
					log.V(1).Info("Updating HTTPRoute status failed", "route", hr.Namespace+"/"+hr.Name, "error", err.Error())
				}
			}
		}
	}
}

func condition(typ, reason, msg string, gen int64) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: msg, ObservedGeneration: gen}
}

func (s *Server) gatewayStatus(gw *gatewayv1.Gateway, st gatewayStatus) {
	gen := gw.Generation
	meta.SetStatusCondition(&gw.Status.Conditions, condition(string(gatewayv1.GatewayConditionAccepted), "Accepted", "handled by the localenv data plane", gen))
	meta.SetStatusCondition(&gw.Status.Conditions, condition(string(gatewayv1.GatewayConditionProgrammed), "Programmed", "serving on the localenv data plane", gen))
	if s.opts.Address != "" {
		gw.Status.Addresses = []gatewayv1.GatewayStatusAddress{{Type: ptr.To(gatewayv1.IPAddressType), Value: s.opts.Address}}
	}
	old := map[gatewayv1.SectionName][]metav1.Condition{}
	for _, l := range gw.Status.Listeners {
		old[l.Name] = l.Conditions
	}
	gw.Status.Listeners = nil
	for _, name := range st.listeners {
		conds := old[name]
		for _, c := range []struct{ typ, reason string }{
			{string(gatewayv1.ListenerConditionAccepted), "Accepted"},
			{string(gatewayv1.ListenerConditionProgrammed), "Programmed"},
			{string(gatewayv1.ListenerConditionResolvedRefs), "ResolvedRefs"},
		} {
			meta.SetStatusCondition(&conds, condition(c.typ, c.reason, "listener ready", gen))
		}
		gw.Status.Listeners = append(gw.Status.Listeners, gatewayv1.ListenerStatus{
			Name:           name,
			SupportedKinds: []gatewayv1.RouteGroupKind{{Group: ptr.To(gatewayv1.Group(gatewayv1.GroupName)), Kind: "HTTPRoute"}},
			AttachedRoutes: st.attached,
			Conditions:     conds,
		})
	}
}

// routeStatus replaces the data plane's entries in an HTTPRoute's status.parents with want,
// leaving other controllers' entries alone.
func (s *Server) routeStatus(hr *gatewayv1.HTTPRoute, want []parentStatus) {
	ctrl := gatewayv1.GatewayController(s.opts.ControllerName)
	var keep []gatewayv1.RouteParentStatus
	old := map[string][]metav1.Condition{}
	for _, p := range hr.Status.Parents {
		if p.ControllerName != ctrl {
			keep = append(keep, p)
			continue
		}
		old[parentKey(p.ParentRef, hr.Namespace)] = p.Conditions
	}
	for _, ps := range want {
		conds := old[parentKey(ps.ref, hr.Namespace)]
		meta.SetStatusCondition(&conds, condition(string(gatewayv1.RouteConditionAccepted), "Accepted", "route attached to the localenv data plane", hr.Generation))
		refs := condition(string(gatewayv1.RouteConditionResolvedRefs), "ResolvedRefs", ps.refsMessage, hr.Generation)
		if !ps.resolvedRefs {
			refs.Status, refs.Reason = metav1.ConditionFalse, string(gatewayv1.RouteReasonBackendNotFound)
		}
		meta.SetStatusCondition(&conds, refs)
		keep = append(keep, gatewayv1.RouteParentStatus{ParentRef: ps.ref, ControllerName: ctrl, Conditions: conds})
	}
	if keep == nil {
		keep = []gatewayv1.RouteParentStatus{}
	}
	hr.Status.Parents = keep
}

func parentKey(ref gatewayv1.ParentReference, namespace string) string {
	return fmt.Sprintf("%s/%s/%s/%s/%s", ptrOr(ref.Group, gatewayv1.GroupName), ptrOr(ref.Kind, "Gateway"),
		ptrOr(ref.Namespace, gatewayv1.Namespace(namespace)), ref.Name, ptrOr(ref.SectionName, ""))
}

// ingressStatus publishes the data plane's address in status.loadBalancer of the Ingresses of
// its IngressClasses.
func (s *Server) ingressStatus(ctx context.Context, c cache.Cache, w client.Client) {
	if s.opts.Address == "" {
		return
	}
	var ics knetworkingv1.IngressClassList
	var ings knetworkingv1.IngressList
	if c.List(ctx, &ics) != nil || c.List(ctx, &ings) != nil {
		return
	}
	ours, deflt := ingressClasses(pointers(ics.Items))
	want := []knetworkingv1.IngressLoadBalancerIngress{{IP: s.opts.Address}}
	for i := range ings.Items {
		ing := &ings.Items[i]
		if !servedIngress(ing, ours, deflt) || equality.Semantic.DeepEqual(ing.Status.LoadBalancer.Ingress, want) {
			continue
		}
		ing.Status.LoadBalancer.Ingress = want
		if err := w.Status().Update(ctx, ing); err != nil {
			s.opts.Log.V(1).Info("Updating Ingress status failed", "ingress", ing.Namespace+"/"+ing.Name, "error", err.Error())
		}
	}
}
