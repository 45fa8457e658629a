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
	// Weights is true when the router splits traffic by weight; without it every analysis
	// is blue/green (Flagger's kubernetes provider).
	Weights bool
	// Matches is true when it can route by header or cookie (A/B testing) and, unless
	// CanaryIngress, mirror.
	Matches bool
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
	// Route is the kind of the object that carries its route, for people ("" without one);
	// Owns are the kinds of the routing objects the controller makes and watches, when their
	// API is served.
	Route string
	Owns  []schema.GroupVersionKind
}

// Gateway API, Istio and Ingress kinds the routers own.
var (
	VirtualService  = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}
	DestinationRule = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"}
	HTTPRoute       = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}
	Ingress         = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}
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
		Weights: true, Matches: true, Baseline: true, Services: true, GatewayRefs: true,
		Queries: "gatewayapi", Compare: true, Default: true,
		Route: "HTTPRoute", Owns: []schema.GroupVersionKind{HTTPRoute},
	},
	{
		// ingress-nginx: the -canary copy of spec.ingressRef with its canary annotations.
		Name: siskinv1.ProviderNginx, Weights: true, Matches: true, Services: true,
		Queries: "nginx", Default: true, CanaryIngress: true,
		Route: "Ingress", Owns: []schema.GroupVersionKind{Ingress},
	},
	{
		// Contour: an HTTPProxy named after the apex Service, included by the user's root one.
		Name: siskinv1.ProviderContour, Weights: true, Matches: true, Baseline: true, Services: true,
		Queries: "contour", Default: true,
		Route: "HTTPProxy", Owns: []schema.GroupVersionKind{HTTPProxy},
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

// Lookup returns the provider of a name or alias.
func Lookup(name string) (Info, bool) {
	for _, p := range All {
		if p.Name == name || slices.Contains(p.Aliases, name) {
			return p, true
		}
	}
	return Info{}, false
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
		if len(p.Aliases) > 0 {
			n += " (or " + strings.Join(p.Aliases, ", ") + ")"
		}
		names = append(names, n)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Queried returns the providers that have built-in queries.
func Queried() []string {
	var names []string
	for _, p := range All {
		if p.Queries != "" {
			names = append(names, p.Name)
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
