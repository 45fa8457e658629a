package istio

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	istioapi "istio.io/api/networking/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
)

const (
	defaultGateway = "mesh"
	fullWeight     = 100
)

// hosts are the FQDNs of a Canary's apex, -primary, -canary and -baseline Services.
type hosts struct {
	apex, primary, canary, baseline string
}

func (r *Router) hostsOf(c *siskinv1.Canary) hosts {
	apex, primary, canaryName := router.ServiceNames(c)
	fqdn := func(name string) string {
		return name + "." + c.Namespace + ".svc." + r.ClusterDomain
	}
	return hosts{apex: fqdn(apex), primary: fqdn(primary), canary: fqdn(canaryName), baseline: fqdn(router.BaselineServiceName(c))}
}

// virtualService is the VirtualService spec that routes c as d asks: the TCP routes of the TCP
// ports, then the HTTP routes of every other port. With several ports, every route matches its
// port; with spec.service.port alone, routes match any port, as they always have.
func (r *Router) virtualService(c *siskinv1.Canary, d canary.DesiredRoute) (*istioapi.VirtualService, error) {
	h := r.hostsOf(c)
	vs := frame(c)
	ports := router.Ports(c)
	multi := len(ports) > 1
	var httpPorts []router.Port
	for _, p := range ports {
		if !p.TCP {
			httpPorts = append(httpPorts, p)
			continue
		}
		// A TCP route can neither match requests nor mirror them: A/B testing would send every
		// connection to the canary, so refuse rather than route what was not asked for.
		if router.IsABTest(c) {
			return nil, fmt.Errorf("analysis.match (A/B testing) needs HTTP routes, and %s", tcpField(p))
		}
		if d.Mirror {
			return nil, fmt.Errorf("analysis.mirror needs HTTP routes, and %s", tcpField(p))
		}
		route := []*istioapi.RouteDestination{
			{Destination: destination(h.primary, portNumber(p)), Weight: d.PrimaryWeight},
			{Destination: destination(h.canary, portNumber(p)), Weight: d.CanaryWeight},
		}
		if d.BaselineWeight > 0 {
			route = append(route, &istioapi.RouteDestination{Destination: destination(h.baseline, portNumber(p)), Weight: d.BaselineWeight})
		}
		vs.Tcp = append(vs.Tcp, &istioapi.TCPRoute{Match: l4Match(p, multi), Route: route})
	}
	if len(httpPorts) == 0 {
		return vs, nil
	}
	opts, err := routeOptions(c)
	if err != nil {
		return nil, err
	}
	rules := router.HTTPRules(c, d)
	for _, p := range httpPorts {
		for _, rule := range rules {
			rt := httpRoute(p.RouteName(rule.Name), portMatches(rule.Match, p, multi), h.destinations(rule.Backends, portNumber(p)))
			if rule.MirrorPercent > 0 {
				rt.Mirror = destination(h.canary, portNumber(p))
				rt.MirrorPercentage = &istioapi.Percent{Value: float64(rule.MirrorPercent)}
			}
			opts.applyTo(rt)
			vs.Http = append(vs.Http, rt)
		}
	}
	return vs, nil
}

// tcpField names the spec field that makes port p a TCP port, for errors.
func tcpField(p router.Port) string {
	if p.Main {
		return "spec.service.appProtocol is tcp"
	}
	return fmt.Sprintf("spec.service.additionalPorts %s (%d) has appProtocol tcp", p.Name, p.Number)
}

func portNumber(p router.Port) uint32 {
	return uint32(max(p.Number, 0))
}

// l4Match is the match of a TCP route on port p, or none when p is the only port.
func l4Match(p router.Port, multi bool) []*istioapi.L4MatchAttributes {
	if !multi {
		return nil
	}
	return []*istioapi.L4MatchAttributes{{Port: portNumber(p)}}
}

// portMatches is match restricted to port p when c has several ports: each condition gets the
// port, and no condition becomes one on the port alone.
func portMatches(match []siskinv1.HTTPMatchRequest, p router.Port, multi bool) []siskinv1.HTTPMatchRequest {
	if !multi {
		return match
	}
	if len(match) == 0 {
		return []siskinv1.HTTPMatchRequest{{Port: p.Number}}
	}
	out := slices.Clone(match)
	for i := range out {
		out[i].Port = p.Number
	}
	return out
}

// handBack is the VirtualService spec that sends all traffic to the apex Service, with the
// user's hosts, gateways, matches and route options but nothing of the rollout. Every port
// keeps its own route, so no port's traffic lands on another.
func (r *Router) handBack(c *siskinv1.Canary) (*istioapi.VirtualService, error) {
	h := r.hostsOf(c)
	vs := frame(c)
	ports := router.Ports(c)
	multi := len(ports) > 1
	var opts *options
	for _, p := range ports {
		apex := destination(h.apex, portNumber(p))
		if p.TCP {
			vs.Tcp = append(vs.Tcp, &istioapi.TCPRoute{Match: l4Match(p, multi), Route: []*istioapi.RouteDestination{{Destination: apex, Weight: fullWeight}}})
			continue
		}
		if opts == nil {
			var err error
			if opts, err = routeOptions(c); err != nil {
				return nil, err
			}
		}
		main := httpRoute(p.RouteName(router.RuleDefault), portMatches(c.Spec.Service.Match, p, multi),
			[]*istioapi.HTTPRouteDestination{{Destination: apex, Weight: fullWeight}})
		opts.applyTo(main)
		vs.Http = append(vs.Http, main)
	}
	return vs, nil
}

// frame is a VirtualService with hosts and gateways and no routes. A delegate has neither.
func frame(c *siskinv1.Canary) *istioapi.VirtualService {
	vs := &istioapi.VirtualService{}
	s := c.Spec.Service
	if s.Delegation {
		return vs
	}
	apex, _, _ := router.ServiceNames(c)
	vs.Hosts = slices.Clone(s.Hosts)
	if !slices.Contains(vs.Hosts, apex) {
		vs.Hosts = append(vs.Hosts, apex)
	}
	vs.Gateways = slices.Clone(s.Gateways)
	if len(vs.Gateways) == 0 {
		vs.Gateways = []string{defaultGateway}
	}
	return vs
}

func destination(host string, port uint32) *istioapi.Destination {
	d := &istioapi.Destination{Host: host}
	if port > 0 {
		d.Port = &istioapi.PortSelector{Number: port}
	}
	return d
}

// destinations are the Services of bs on port with their weights and Set-Cookie headers.
func (h hosts) destinations(bs []router.Backend, port uint32) []*istioapi.HTTPRouteDestination {
	out := make([]*istioapi.HTTPRouteDestination, len(bs))
	for i, b := range bs {
		host := h.primary
		switch {
		case b.Canary:
			host = h.canary
		case b.Baseline:
			host = h.baseline
		}
		out[i] = &istioapi.HTTPRouteDestination{Destination: destination(host, port), Weight: b.Weight}
		if b.SetCookie != "" {
			out[i].Headers = addResponseHeader(router.SetCookieHeader, b.SetCookie)
		}
	}
	return out
}

func httpRoute(name string, match []siskinv1.HTTPMatchRequest, dst []*istioapi.HTTPRouteDestination) *istioapi.HTTPRoute {
	return &istioapi.HTTPRoute{Name: name, Match: httpMatches(match), Route: dst}
}

func addResponseHeader(name, value string) *istioapi.Headers {
	return &istioapi.Headers{Response: &istioapi.Headers_HeaderOperations{Add: map[string]string{name: value}}}
}

// options are the parts of every HTTP route that come from spec.service.
type options struct {
	rewrite *istioapi.HTTPRewrite
	retries *istioapi.HTTPRetry
	headers *istioapi.Headers
	cors    *istioapi.CorsPolicy
	timeout *durationpb.Duration
}

func (o *options) applyTo(rt *istioapi.HTTPRoute) {
	rt.Rewrite = clone(o.rewrite)
	rt.Retries = clone(o.retries)
	rt.Headers = clone(o.headers)
	rt.CorsPolicy = clone(o.cors)
	rt.Timeout = clone(o.timeout)
}

func clone[M proto.Message](m M) M {
	return proto.Clone(m).(M)
}

func routeOptions(c *siskinv1.Canary) (*options, error) {
	s := c.Spec.Service
	o := &options{}
	var err error
	if o.timeout, err = duration("spec.service.timeout", s.Timeout); err != nil {
		return nil, err
	}
	if rw := s.Rewrite; rw != nil && (rw.URI != "" || rw.Authority != "") {
		o.rewrite = &istioapi.HTTPRewrite{Uri: rw.URI, Authority: rw.Authority}
	}
	if rt := s.Retries; rt != nil {
		o.retries = &istioapi.HTTPRetry{Attempts: rt.Attempts, RetryOn: rt.RetryOn}
		if o.retries.PerTryTimeout, err = duration("spec.service.retries.perTryTimeout", rt.PerTryTimeout); err != nil {
			return nil, err
		}
	}
	if hd := s.Headers; hd != nil && (hd.Request != nil || hd.Response != nil) {
		o.headers = &istioapi.Headers{Request: headerOps(hd.Request), Response: headerOps(hd.Response)}
	}
	if cp := s.CorsPolicy; cp != nil {
		o.cors = &istioapi.CorsPolicy{
			AllowMethods:  cp.AllowMethods,
			AllowHeaders:  cp.AllowHeaders,
			ExposeHeaders: cp.ExposeHeaders,
		}
		for i := range cp.AllowOrigins {
			o.cors.AllowOrigins = append(o.cors.AllowOrigins, stringMatch(&cp.AllowOrigins[i]))
		}
		if cp.AllowCredentials != nil {
			o.cors.AllowCredentials = wrapperspb.Bool(*cp.AllowCredentials)
		}
		if o.cors.MaxAge, err = duration("spec.service.corsPolicy.maxAge", cp.MaxAge); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func headerOps(h *siskinv1.HeaderOperations) *istioapi.Headers_HeaderOperations {
	if h == nil {
		return nil
	}
	return &istioapi.Headers_HeaderOperations{Set: h.Set, Add: h.Add, Remove: h.Remove}
}

// duration parses the duration at field, or returns nil when it is empty.
func duration(field, s string) (*durationpb.Duration, error) {
	if s == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", field, err)
	}
	return durationpb.New(d), nil
}

// destinationRule is the DestinationRule spec for the Service at host.
func destinationRule(c *siskinv1.Canary, host string) (*istioapi.DestinationRule, error) {
	dr := &istioapi.DestinationRule{Host: host}
	tp := c.Spec.Service.TrafficPolicy
	if tp == nil {
		return dr, nil
	}
	raw := tp.Raw
	if len(raw) == 0 && tp.Object != nil {
		var err error
		if raw, err = json.Marshal(tp.Object); err != nil {
			return nil, fmt.Errorf("encode spec.service.trafficPolicy: %w", err)
		}
	}
	if len(raw) == 0 || string(raw) == "null" {
		return dr, nil
	}
	dr.TrafficPolicy = &istioapi.TrafficPolicy{}
	if err := protojson.Unmarshal(raw, dr.TrafficPolicy); err != nil {
		return nil, fmt.Errorf("decode spec.service.trafficPolicy as an Istio TrafficPolicy: %w", err)
	}
	return dr, nil
}
