package dataplane

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Snapshot holds the objects a table is built from. Pods and ReplicaSets need only their
// metadata (owners and labels).
type Snapshot struct {
	// ControllerName is the GatewayClass controller name the data plane implements.
	ControllerName string
	// Address is the data plane's IP, reported in Gateway status.
	Address string

	Services        []*corev1.Service
	EndpointSlices  []*discoveryv1.EndpointSlice
	Pods            []*metav1.PartialObjectMetadata
	ReplicaSets     []*metav1.PartialObjectMetadata
	VirtualServices []*networkingv1.VirtualService
	HTTPRoutes      []*gatewayv1.HTTPRoute
	Gateways        []*gatewayv1.Gateway
	GatewayClasses  []*gatewayv1.GatewayClass
	Ingresses       []*knetworkingv1.Ingress
	IngressClasses  []*knetworkingv1.IngressClass
	// HTTPProxies are Contour\'s (httpproxy.go).
	HTTPProxies []*contourv1.HTTPProxy
	// IngressRoutes and TraefikServices are Traefik's (traefik.go).
	IngressRoutes   []*unstructured.Unstructured
	TraefikServices []*unstructured.Unstructured
}

// Build compiles a snapshot into a routing table. Objects that cannot be compiled (a bad
// regular expression, say) are skipped and reported in the table's routes view.
func Build(s Snapshot) *Table {
	t := &Table{
		services:    map[svcKey]*service{},
		hosts:       map[string][]entry{},
		routeStatus: map[svcKey][]parentStatus{},
		gateways:    map[svcKey]gatewayStatus{},
	}
	workloads := newWorkloadIndex(s.Pods, s.ReplicaSets)
	bySvc := map[svcKey][]*discoveryv1.EndpointSlice{}
	for _, es := range s.EndpointSlices {
		name := es.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		k := svcKey{Namespace: es.Namespace, Name: name}
		bySvc[k] = append(bySvc[k], es)
	}
	for _, svc := range s.Services {
		k := svcKey{Namespace: svc.Namespace, Name: svc.Name}
		t.services[k] = buildService(k, svc, bySvc[k], workloads)
	}

	var wild map[string][]entry
	addHost := func(host string, es []entry) {
		if suffix, ok := strings.CutPrefix(host, "*"); ok {
			if wild == nil {
				wild = map[string][]entry{}
			}
			wild[suffix] = append(wild[suffix], es...)
			return
		}
		t.hosts[host] = append(t.hosts[host], es...)
	}

	// Istio: for each host, the oldest VirtualService that names it wins.
	vss := append([]*networkingv1.VirtualService(nil), s.VirtualServices...)
	sortByAge(vss, func(v *networkingv1.VirtualService) *metav1.ObjectMeta { return &v.ObjectMeta })
	claimed := map[string]bool{}
	for _, vs := range vss {
		rules, errs := compileVirtualService(vs)
		t.routes.Errors = append(t.routes.Errors, errs...)
		for _, h := range vs.Spec.Hosts {
			host := t.vsHost(h, vs.Namespace)
			if claimed[host] {
				continue
			}
			claimed[host] = true
			addHost(host, rules)
		}
	}

	// Gateway API: HTTPRoutes attached to a Gateway of ours, or to a Service (GAMMA).
	ours := t.indexGateways(s)
	envoyGWs := envoyGateways(s)
	routes := append([]*gatewayv1.HTTPRoute(nil), s.HTTPRoutes...)
	sortByAge(routes, func(r *gatewayv1.HTTPRoute) *metav1.ObjectMeta { return &r.ObjectMeta })
	byHost := map[string][]ranked{}
	for order, hr := range routes {
		hosts, status := t.attach(hr, ours)
		if len(status) > 0 {
			t.routeStatus[svcKey{Namespace: hr.Namespace, Name: hr.Name}] = status
		}
		if len(hosts) == 0 {
			continue
		}
		ranks, errs := compileHTTPRoute(hr, order)
		markEnvoyGatewayClusters(hr, ranks, envoyGWs)
		t.routes.Errors = append(t.routes.Errors, errs...)
		for _, h := range hosts {
			byHost[h] = append(byHost[h], ranks...)
		}
	}
	for host, rs := range byHost {
		slicesSortRanked(rs)
		es := make([]entry, len(rs))
		for i, r := range rs {
			es[i] = r.entry
		}
		addHost(host, es)
	}

	// Ingresses of an IngressClass of ours (ingress-nginx), after the mesh's and the gateway's
	// routes of the same host.
	ingresses, errs := t.compileIngresses(s)
	t.routes.Errors = append(t.routes.Errors, errs...)
	for _, host := range sortedKeys(ingresses) {
		addHost(t.canonicalHost(host), ingresses[host])
	}
	// Traefik's IngressRoutes, after the others of the same host.
	traefik, errs := t.compileIngressRoutes(s)
	t.routes.Errors = append(t.routes.Errors, errs...)
	for _, host := range sortedKeys(traefik) {
		addHost(t.canonicalHost(host), traefik[host])
	}
	// Ingresses of Skipper's class (skipper.go), after the others of the same host.
	skipper, errs := t.compileSkipperIngresses(s)
	t.routes.Errors = append(t.routes.Errors, errs...)
	for _, host := range sortedKeys(skipper) {
		addHost(t.canonicalHost(host), skipper[host])
	}
	// Contour\'s root HTTPProxies and what they include, after the others of the same host.
	proxies, errs := compileHTTPProxies(s.HTTPProxies)
	t.routes.Errors = append(t.routes.Errors, errs...)
	for _, host := range sortedKeys(proxies) {
		addHost(t.canonicalHost(host), proxies[host])
	}
	for suffix, es := range wild {
		t.wildcards = append(t.wildcards, wildcard{suffix: suffix, entries: es})
	}
	slicesSortWildcards(t.wildcards)
	t.routes = t.view(t.routes.Errors)
	return t
}

// vsHost expands a VirtualService host: a short name is a Service in the VirtualService's
// namespace.
func (t *Table) vsHost(h, namespace string) string {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "*" {
		return h
	}
	if !strings.Contains(h, ".") {
		return h + "." + namespace + "." + clusterDomain
	}
	return t.canonicalHost(h)
}

func buildService(k svcKey, svc *corev1.Service, eps []*discoveryv1.EndpointSlice, w workloadIndex) *service {
	out := &service{key: k}
	for _, sp := range svc.Spec.Ports {
		if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
			continue
		}
		p := &servicePort{name: sp.Name, port: sp.Port, next: &atomic.Uint64{}}
		for _, es := range eps {
			var target int32
			found := false
			for _, ep := range es.Ports {
				if ep.Port != nil && ptrOr(ep.Name, "") == sp.Name {
					target, found = *ep.Port, true
					break
				}
			}
			if !found {
				continue
			}
			for _, e := range es.Endpoints {
				if e.Conditions.Ready != nil && !*e.Conditions.Ready {
					continue
				}
				ns, pod := k.Namespace, ""
				if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
					pod = e.TargetRef.Name
					ns = cmp.Or(e.TargetRef.Namespace, ns)
				}
				for _, a := range e.Addresses {
					p.endpoints = append(p.endpoints, Endpoint{
						Addr:     joinHostPort(a, target),
						Pod:      pod,
						Workload: w.workload(ns, pod),
					})
				}
			}
		}
		slicesSortEndpoints(p.endpoints)
		out.ports = append(out.ports, p)
	}
	return out
}

// workloadIndex resolves a pod to the workload that owns it: pod -> ReplicaSet -> Deployment,
// or the owner itself for a pod owned directly by a StatefulSet, a DaemonSet (or any other
// kind), as Istio's destination_workload does.
type workloadIndex struct {
	pods map[svcKey]*metav1.PartialObjectMetadata
	rss  map[svcKey]*metav1.PartialObjectMetadata
}

func newWorkloadIndex(pods, rss []*metav1.PartialObjectMetadata) workloadIndex {
	w := workloadIndex{pods: map[svcKey]*metav1.PartialObjectMetadata{}, rss: map[svcKey]*metav1.PartialObjectMetadata{}}
	for _, p := range pods {
		w.pods[svcKey{Namespace: p.Namespace, Name: p.Name}] = p
	}
	for _, r := range rss {
		w.rss[svcKey{Namespace: r.Namespace, Name: r.Name}] = r
	}
	return w
}

// workload names the Deployment of a pod, or the StatefulSet or DaemonSet that owns it. A
// ReplicaSet missing from the cache is resolved by its name less the pod-template-hash; a pod
// with no owner is its own workload.
func (w workloadIndex) workload(ns, pod string) string {
	if pod == "" {
		return "unknown"
	}
	p := w.pods[svcKey{Namespace: ns, Name: pod}]
	if p == nil {
		return "unknown"
	}
	owner := metav1.GetControllerOfNoCopy(p)
	if owner == nil {
		return cmp.Or(p.Labels["app"], p.Name)
	}
	if owner.Kind != "ReplicaSet" {
		return owner.Name
	}
	if rs := w.rss[svcKey{Namespace: ns, Name: owner.Name}]; rs != nil {
		if d := metav1.GetControllerOfNoCopy(rs); d != nil {
			return d.Name
		}
		return rs.Name
	}
	if hash := p.Labels["pod-template-hash"]; hash != "" {
		return strings.TrimSuffix(owner.Name, "-"+hash)
	}
	return owner.Name
}

// sortByAge orders objects oldest first, then by namespace and name, as Istio resolves
// conflicts and the Gateway API breaks ties.
func sortByAge[T any](objs []T, meta func(T) *metav1.ObjectMeta) {
	slices.SortStableFunc(objs, func(a, b T) int {
		ma, mb := meta(a), meta(b)
		if c := ma.CreationTimestamp.Compare(mb.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(ma.Namespace, mb.Namespace), cmp.Compare(ma.Name, mb.Name))
	})
}

func slicesSortEndpoints(eps []Endpoint) {
	slices.SortFunc(eps, func(a, b Endpoint) int { return cmp.Compare(a.Addr, b.Addr) })
}

func slicesSortWildcards(ws []wildcard) {
	slices.SortFunc(ws, func(a, b wildcard) int { return cmp.Compare(len(b.suffix), len(a.suffix)) })
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func joinHostPort(host string, port int32) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}
