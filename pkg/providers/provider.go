// Package providers is the one place that says what each router provider is: its names, what
// its data plane can do, where its built-in queries live and whether the controller may
// default to it. The planner, the metrics, the controller's flags and watches, kubectl siskin
// and the dashboard read providers here and nowhere else, so that a router is added by its own
// package under pkg/router, one entry in All and one constructor in the controller's wiring.
//
// It holds facts only and imports no router: the planner reads it, and the routers import the
// planner.
package providers

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Info is what Siskin knows of one router provider.
type Info struct {
	// Name is the provider's canonical name, as the planner and the metrics see it.
	Name string
	// Aliases also name it in spec.provider and --provider (gatewayapi:v1).
	Aliases []string
	// Implementations are further aliases, each naming the implementation of the provider's
	// API that serves the route (gatewayapi:envoy): they route as the provider does, and their
	// built-in metrics are that implementation's.
	Implementations []Implementation
	// Weights is true when the router splits traffic by weight; without it every analysis
	// is blue/green (Flagger's kubernetes provider).
	Weights bool
	// Matches is true when it can route by header or cookie (A/B testing) and, unless
	// CanaryIngress, mirror.
	Matches bool
	// Mirror is true when it mirrors without matching: a provider without Matches can mirror
	// only with Mirror (a mirroring TraefikService).
	Mirror bool
	// Baseline is true when it can route a third backend (analysis.comparison control
	// baseline).
	Baseline bool
	// Services is true when Siskin generates the apex, -primary and -canary Services.
	Services bool
	// Pods is true when it routes nothing and the canary's share is its share of the pods.
	Pods bool
	// GatewayRefs is true when it needs spec.service.gatewayRefs.
	GatewayRefs bool
	// Queries is the directory of its built-in queries under pkg/metrics/queries; Compare is
	// true when the directory has the compared metrics' counts too.
	Queries string
	Compare bool
	// Default is true when it may be the controller's --provider.
	Default bool
	// CanaryIngress is true when it routes through a copy of spec.ingressRef carrying
	// ingress-nginx's canary annotations: it needs spec.ingressRef, an A/B test may match one
	// header and one cookie by name, and nothing can be mirrored or pinned by a session cookie.
	CanaryIngress bool
	// IngressRef is true when it routes through <ingress>-canary, a copy of the Ingress named
	// by spec.ingressRef, which it then needs.
	IngressRef bool
	// Route is the kind of the object that carries its route, for people ("" without one);
	// Owns are the kinds of the routing objects the controller makes and watches, when their
	// API is served.
	Route string
	Owns  []schema.GroupVersionKind
}

// Implementation is an alias of a provider that names who serves its routes, and so where its
// built-in metrics come from.
type Implementation struct {
	// Name is the alias in spec.provider: gatewayapi:envoy.
	Name string
	// Title names the implementation for people: Envoy Gateway.
	Title string
	// Queries and Compare are as in Info. Queries is "" when the implementation exports no
	// request metric by backend Service or workload; Refusal then says why, and what to write
	// instead, for the error that refuses its built-in metrics.
	Queries string
	Compare bool
	Refusal string
}

// Gateway API, Istio and Ingress kinds the routers own.
var (
	VirtualService  = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}
	DestinationRule = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"}
	HTTPRoute       = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}
	GRPCRoute       = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GRPCRoute"}
	TCPRoute        = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "TCPRoute"}
	Ingress         = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}
	TraefikService  = schema.GroupVersionKind{Group: "traefik.io", Version: "v1alpha1", Kind: "TraefikService"}
	HTTPProxy       = schema.GroupVersionKind{Group: "projectcontour.io", Version: "v1", Kind: "HTTPProxy"}
)

// All are the providers Siskin has, in the order messages name them.
var All = []Info{
	{
		Name: siskinv1.ProviderIstio, Weights: true, Matches: true, Baseline: true, Services: true,
		Queries: "istio", Compare: true, Default: true,
		Route: "VirtualService", Owns: []schema.GroupVersionKind{VirtualService, DestinationRule},
	},
	{
		Name: siskinv1.ProviderGatewayAPI, Aliases: []string{siskinv1.ProviderGatewayAPIV1, siskinv1.ProviderGatewayAPIV1beta},
		Implementations: GatewayAPIImplementations,
		Weights:         true, Matches: true, Baseline: true, Services: true, GatewayRefs: true,
		Queries: "gatewayapi", Compare: true, Default: true,
		// spec.service.routeKind may ask for GRPCRoutes or TCPRoutes instead.
		Route: "HTTPRoute", Owns: []schema.GroupVersionKind{HTTPRoute, GRPCRoute, TCPRoute},
	},
	{
		// Linkerd: the HTTPRoute's parent is the apex Service (GAMMA); meshed clients of the
		// apex Service's host are routed, with no Gateway.
		Name: siskinv1.ProviderLinkerd, Weights: true, Matches: true, Baseline: true, Services: true,
		Queries: "linkerd", Compare: true, Default: true,
		Route: "HTTPRoute", Owns: []schema.GroupVersionKind{HTTPRoute},
	},
	{
		// ingress-nginx: the -canary copy of spec.ingressRef with its canary annotations.
		Name: siskinv1.ProviderNginx, Weights: true, Matches: true, Services: true,
		Queries: "nginx", Default: true, CanaryIngress: true, IngressRef: true,
		Route: "Ingress", Owns: []schema.GroupVersionKind{Ingress},
	},
	{
		// Skipper: the -canary copy of spec.ingressRef whose paths go to the -primary and
		// -canary Services, weighed by zalando.org/backend-weights; no match, mirror or third
		// backend.
		Name: siskinv1.ProviderSkipper, Weights: true, Services: true,
		Queries: "skipper", Default: true, IngressRef: true,
		Route: "Ingress", Owns: []schema.GroupVersionKind{Ingress},
	},
	{
		// Contour: an HTTPProxy named after the apex Service, included by the user's root one.
		Name: siskinv1.ProviderContour, Weights: true, Matches: true, Baseline: true, Services: true,
		Queries: "contour", Default: true,
		Route: "HTTPProxy", Owns: []schema.GroupVersionKind{HTTPProxy},
	},
	{
		// Traefik: a TraefikService named after the apex Service, weighted or mirroring, which
		// the user's IngressRoute routes to; matching is the IngressRoute's, not Siskin's.
		Name: siskinv1.ProviderTraefik, Weights: true, Mirror: true, Services: true,
		Queries: "traefik", Default: true,
		Route: "TraefikService", Owns: []schema.GroupVersionKind{TraefikService},
	},
	{
		Name: siskinv1.ProviderKubernetes, Services: true,
		Queries: "kubernetes", Compare: true, Default: true,
		Route: "Service",
	},
	{
		// No router: the canary's share is its share of the pods (StatefulSets, workers).
		Name:    siskinv1.ProviderReplicas,
		Weights: true, Pods: true,
		Queries: "replicas",
		Route:   "Pods of",
	},
}

// GatewayAPIImplementations are the aliases of provider gatewayapi that name the Gateway API
// implementation serving the HTTPRoute. gatewayapi, gatewayapi:v1 and gatewayapi:v1beta1 read
// Istio's series. An implementation whose metrics cannot tell the canary's requests from the
// primary's has no built-in metrics: the Canary must name a MetricTemplate.
var GatewayAPIImplementations = []Implementation{
	{
		Name: siskinv1.ProviderGatewayAPIEnvoy, Title: "Envoy Gateway",
		Refusal: "Envoy Gateway puts every backendRef of an HTTPRoute rule in one Envoy cluster " +
			"(httproute/<namespace>/<route>/rule/<n>), so its envoy_cluster_* series count the primary's and the canary's " +
			"requests together; use a MetricTemplate that reads the canary's own metrics (a mesh's or the application's)",
	},
	{Name: siskinv1.ProviderGatewayAPILinkerd, Title: "Linkerd", Queries: "linkerd", Compare: true},
	{
		Name: siskinv1.ProviderGatewayAPICilium, Title: "Cilium",
		Refusal: "Cilium counts HTTP requests by destination only in Hubble's httpV2 metric, with L7 visibility and " +
			"labels that depend on its destinationContext and labelsContext options; use a MetricTemplate on " +
			"hubble_http_requests_total as your Hubble exports it",
	},
	{
		Name: siskinv1.ProviderGatewayAPIKong, Title: "Kong",
		Refusal: "Kong's ingress controller makes one Kong service of all the backendRefs of an HTTPRoute rule, so " +
			"kong_http_requests_total counts the primary's and the canary's requests together; use a MetricTemplate that " +
			"reads the canary's own metrics (a mesh's or the application's)",
	},
	{
		Name: siskinv1.ProviderGatewayAPINginx, Title: "NGINX Gateway Fabric",
		Refusal: "NGINX Gateway Fabric with NGINX OSS exports no request metric by upstream; with NGINX Plus, use a " +
			"MetricTemplate on nginxplus_upstream_server_responses{upstream=\"<namespace>_<service>-canary_<port>\"}",
	},
	{Name: siskinv1.ProviderGatewayAPIContour, Title: "Contour", Queries: "gatewayapi-contour"},
	{Name: siskinv1.ProviderGatewayAPITraefik, Title: "Traefik", Queries: "gatewayapi-traefik"},
}

// Lookup returns the provider of a name or alias.
func Lookup(name string) (Info, bool) {
	for _, p := range All {
		if p.Name == name || slices.Contains(p.Aliases, name) || slices.ContainsFunc(p.Implementations, named(name)) {
			return p, true
		}
	}
	return Info{}, false
}

func named(name string) func(Implementation) bool {
	return func(i Implementation) bool { return i.Name == name }
}

// Metrics says where the built-in queries of the exact provider name a Canary uses live: an
// implementation's alias has its own, any other name those of its provider.
type Metrics struct {
	// Queries is the directory under pkg/metrics/queries, "" without built-in queries.
	Queries string
	// Compare is true when the directory has the compared metrics' counts too.
	Compare bool
	// Refusal says why an implementation has no built-in queries and what to write instead.
	Refusal string
}

// MetricsOf returns where the built-in queries of a provider name or alias live; an unknown
// name has none.
func MetricsOf(name string) Metrics {
	p, ok := Lookup(name)
	if !ok {
		return Metrics{}
	}
	if i := slices.IndexFunc(p.Implementations, named(name)); i >= 0 {
		impl := p.Implementations[i]
		return Metrics{Queries: impl.Queries, Compare: impl.Compare, Refusal: impl.Refusal}
	}
	return Metrics{Queries: p.Queries, Compare: p.Compare}
}

// Canonical returns the canonical name of a provider's name or alias, or name itself when no
// provider has it.
func Canonical(name string) string {
	if p, ok := Lookup(name); ok {
		return p.Name
	}
	return name
}

// Names lists the providers for messages: "istio, gatewayapi (or gatewayapi:v1,
// gatewayapi:v1beta1), nginx, kubernetes or replicas". With defaults, only those that may be the
// controller's --provider.
func Names(defaults bool) string {
	var names []string
	for _, p := range All {
		if defaults && !p.Default {
			continue
		}
		n := p.Name
		aliases := slices.Clone(p.Aliases)
		for _, i := range p.Implementations {
			aliases = append(aliases, i.Name)
		}
		if len(aliases) > 0 {
			n += " (or " + strings.Join(aliases, ", ") + ")"
		}
		names = append(names, n)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Queried returns the providers, and the implementations' aliases, that have built-in
// queries.
func Queried() []string {
	var names []string
	for _, p := range All {
		if p.Queries != "" {
			names = append(names, p.Name)
		}
		for _, i := range p.Implementations {
			if i.Queries != "" {
				names = append(names, i.Name)
			}
		}
	}
	return names
}

// Baselines lists the providers that can route a baseline, for messages.
func Baselines() string {
	var names []string
	for _, p := range All {
		if p.Baseline {
			names = append(names, p.Name)
		}
	}
	return strings.Join(names, ", ")
}

// Weighs reports whether a provider splits traffic by weight; an unknown one is taken to (the
// controller refuses it before it matters).
func Weighs(name string) bool {
	p, ok := Lookup(name)
	return !ok || p.Weights
}

// Generates reports whether Siskin generates Services for a provider's Canaries.
func Generates(name string) bool {
	p, ok := Lookup(name)
	return !ok || p.Services
}

// HasObjects reports whether a provider's router has objects of its own to create and converge
// (a VirtualService, an HTTPRoute, a canary Ingress...) beside the generated Services; an
// unknown one is taken to have none.
func HasObjects(name string) bool {
	p, ok := Lookup(name)
	return ok && len(p.Owns) > 0
}
