package framework

import (
	"context"
	"fmt"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Router is how a scenario wires a Canary to one router provider and how clients reach the
// app through the data plane.
type Router struct {
	// Provider is the Canary's spec.provider.
	Provider string
	// Mesh says that clients are mesh clients calling the apex Service's host
	// (<name>.<namespace>:<port>); the other routers serve <name>.<namespace>.example.com.
	Mesh bool
	// Gateway says that the Canary's HTTPRoute attaches to a Gateway of the local environment
	// (spec.service.gatewayRefs), serving the router's host (spec.service.hosts).
	Gateway bool
}

// The routers the scenarios run on.
var (
	Istio      = Router{Provider: siskinv1.ProviderIstio, Mesh: true}
	GatewayAPI = Router{Provider: siskinv1.ProviderGatewayAPI, Gateway: true}
	// Nginx routes through the user's Ingress (of class nginx, named like the app, host Host)
	// and the canary Ingress <name>-canary Siskin keeps beside it.
	Nginx = Router{Provider: providerNginx}
	// Traefik routes through the user's IngressRoute (named like the app, host Host) to the
	// TraefikService Siskin keeps (traefik.go).
	Traefik = Router{Provider: providerTraefik}
)

// providerNginx is spec.provider nginx.
const providerNginx = "nginx"

// Ingress annotations of ingress-nginx's canaries that a route reads.
const (
	nginxCanary       = "nginx.ingress.kubernetes.io/canary"
	nginxCanaryWeight = "nginx.ingress.kubernetes.io/canary-weight"
	nginxCanaryHeader = "nginx.ingress.kubernetes.io/canary-by-header"
	nginxCanaryCookie = "nginx.ingress.kubernetes.io/canary-by-cookie"
)

// Service returns the Canary's spec.service for an app named name in ns: a Gateway's router
// attaches an HTTPRoute to the local environment's Gateway with the hostname Host returns; the
// others route for the apex Service (a mesh) or by what the user writes beside the Canary (an
// Ingress, a root HTTPProxy, an IngressRoute).
func (r Router) Service(e *Env, ns, name string, port int32) siskinv1.CanaryService {
	s := siskinv1.CanaryService{Port: port}
	if !r.Gateway {
		return s
	}
	gwNS := e.Info.Gateway.Namespace
	s.Hosts = []string{r.hostname(ns, name)}
	s.GatewayRefs = []siskinv1.ParentReference{{Name: r.gateway(e), Namespace: &gwNS}}
	return s
}

// Host is the Host header (or proxied URL host) a client sends to reach the app through its
// route.
func (r Router) Host(ns, name string, port int32) string {
	if r.Mesh {
		return fmt.Sprintf("%s.%s:%d", name, ns, port)
	}
	return r.hostname(ns, name)
}

func (r Router) hostname(ns, name string) string { return name + "." + ns + ".example.com" }

// Route is what the live VirtualService or HTTPRoute of a Canary says, rule by rule.
type Route struct {
	Rules []RouteRule
}

// RouteRule is one HTTP rule of a route.
type RouteRule struct {
	Name     string
	Backends []Backend
	// Mirror is the Service requests are mirrored to, with MirrorPercent of them.
	Mirror        string
	MirrorPercent float64
}

// Backend is a weighted destination Service (short name).
type Backend struct {
	Service string
	Weight  int32
}

// routeReaders read the live route of the providers whose route is neither a VirtualService
// nor an HTTPRoute, each in its router's file.
var routeReaders = map[string]func(e *Env, ctx context.Context, ns, name string) (*Route, error){
	providerNginx:            (*Env).nginxRoute,
	providerTraefik:          (*Env).traefikRoute,
	siskinv1.ProviderContour: (*Env).contourRoute,
	siskinv1.ProviderSkipper: (*Env).skipperRoute,
}

// Route reads the VirtualService or HTTPRoute named like the Canary's apex Service, or what
// the provider's reader in routeReaders reads (for nginx the Ingress named so and its canary
// Ingress, for traefik the TraefikService named so, for contour the HTTPProxy named so, for
// skipper the Ingress named so and its copy).
func (e *Env) Route(ctx context.Context, provider, ns, name string) (*Route, error) {
	if read, ok := routeReaders[provider]; ok {
		return read(e, ctx, ns, name)
	}
	key := types.NamespacedName{Namespace: ns, Name: name}
	short := func(host string) string {
		return strings.TrimSuffix(strings.TrimSuffix(host, ".svc.cluster.local"), "."+ns)
	}
	out := &Route{}
	if provider == siskinv1.ProviderIstio {
		var vs networkingv1.VirtualService
		if err := e.Client.Get(ctx, key, &vs); err != nil {
			return nil, fmt.Errorf("get VirtualService %s: %w", key, err)
		}
		for _, h := range vs.Spec.GetHttp() {
			rule := RouteRule{Name: h.GetName()}
			for _, d := range h.GetRoute() {
				rule.Backends = append(rule.Backends, Backend{Service: short(d.GetDestination().GetHost()), Weight: d.GetWeight()})
			}
			if m := h.GetMirror(); m != nil {
				rule.Mirror = short(m.GetHost())
				rule.MirrorPercent = 100
				if p := h.GetMirrorPercentage(); p != nil {
					rule.MirrorPercent = p.GetValue()
				}
			}
			out.Rules = append(out.Rules, rule)
		}
		return out, nil
	}
	var hr gatewayv1.HTTPRoute
	if err := e.Client.Get(ctx, key, &hr); err != nil {
		return nil, fmt.Errorf("get HTTPRoute %s: %w", key, err)
	}
	for i, r := range hr.Spec.Rules {
		rule := RouteRule{Name: fmt.Sprintf("rule%d", i)}
		if r.Name != nil {
			rule.Name = string(*r.Name)
		}
		for _, b := range r.BackendRefs {
			w := int32(1)
			if b.Weight != nil {
				w = *b.Weight
			}
			rule.Backends = append(rule.Backends, Backend{Service: string(b.Name), Weight: w})
		}
		for _, f := range r.Filters {
			if f.RequestMirror != nil {
				rule.Mirror = string(f.RequestMirror.BackendRef.Name)
				rule.MirrorPercent = 100
				if f.RequestMirror.Percent != nil {
					rule.MirrorPercent = float64(*f.RequestMirror.Percent)
				}
			}
		}
		out.Rules = append(out.Rules, rule)
	}
	return out, nil
}

// Weight returns the weight of a Service in the last rule (the default route), or in the rule
// named rule when rule is not empty.
func (r *Route) Weight(rule, service string) int32 {
	if len(r.Rules) == 0 {
		return 0
	}
	rr := r.Rules[len(r.Rules)-1]
	if rule != "" {
		rr = RouteRule{}
		for _, x := range r.Rules {
			if x.Name == rule {
				rr = x
			}
		}
	}
	for _, b := range rr.Backends {
		if b.Service == service {
			return b.Weight
		}
	}
	return 0
}

// HasMirror reports whether any rule mirrors requests.
func (r *Route) HasMirror() bool {
	for _, x := range r.Rules {
		if x.Mirror != "" {
			return true
		}
	}
	return false
}

// String is a one-line summary: "default: podinfo-primary=80 podinfo-canary=20".
func (r *Route) String() string {
	var parts []string
	for _, x := range r.Rules {
		var b strings.Builder
		b.WriteString(x.Name + ":")
		for _, be := range x.Backends {
			fmt.Fprintf(&b, " %s=%d", be.Service, be.Weight)
		}
		if x.Mirror != "" {
			fmt.Fprintf(&b, " mirror→%s %.0f%%", x.Mirror, x.MirrorPercent)
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, " | ")
}

// nginxRoute reads the user's Ingress ns/name and the canary Ingress <name>-canary as rules:
// "match" (the canary's header or cookie, when it has one) to the canary's Service, and the
// default rule splitting by canary-weight between the user's Ingress's Service (the apex) and
// the canary's. Without a canary Ingress, the default rule sends everything to the apex.
func (e *Env) nginxRoute(ctx context.Context, ns, name string) (*Route, error) {
	var main, canary knetworkingv1.Ingress
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &main); err != nil {
		return nil, fmt.Errorf("get Ingress %s/%s: %w", ns, name, err)
	}
	mainSvc := ingressService(&main)
	def := RouteRule{Name: "default", Backends: []Backend{{Service: mainSvc, Weight: 100}}}
	err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name + "-canary"}, &canary)
	switch {
	case apierrors.IsNotFound(err):
		return &Route{Rules: []RouteRule{def}}, nil
	case err != nil:
		return nil, fmt.Errorf("get Ingress %s/%s-canary: %w", ns, name, err)
	case canary.Annotations[nginxCanary] != "true":
		return &Route{Rules: []RouteRule{def}}, nil
	}
	out := &Route{}
	canarySvc := ingressService(&canary)
	a := canary.Annotations
	if a[nginxCanaryHeader] != "" || a[nginxCanaryCookie] != "" {
		out.Rules = append(out.Rules, RouteRule{Name: "match", Backends: []Backend{{Service: canarySvc, Weight: 100}}})
	}
	var w int32
	if _, err := fmt.Sscan(a[nginxCanaryWeight], &w); err != nil {
		w = 0
	}
	def.Backends = []Backend{{Service: mainSvc, Weight: 100 - w}, {Service: canarySvc, Weight: w}}
	out.Rules = append(out.Rules, def)
	return out, nil
}

// ingressService is the Service of an Ingress's first path.
func ingressService(ing *knetworkingv1.Ingress) string {
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil {
				return p.Backend.Service.Name
			}
		}
	}
	return ""
}
