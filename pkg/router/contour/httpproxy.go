package contour

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
)

// fullWeight is all the traffic, in percent.
const fullWeight = 100

// errSpec marks a spec this router cannot route.
var errSpec = errors.New("provider contour cannot route this spec")

// retryOn are the retry conditions an HTTPProxy retryPolicy accepts.
var retryOn = []string{
	"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited",
	"retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers",
	"http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
}

// services are a Canary's Service names and port.
type services struct {
	apex, primary, canary, baseline string
	port                            int
}

func servicesOf(c *siskinv1.Canary) services {
	apex, primary, canaryName := router.ServiceNames(c)
	return services{apex: apex, primary: primary, canary: canaryName, baseline: router.BaselineServiceName(c), port: int(c.Spec.Service.Port)}
}

// proxySpec is the HTTPProxy spec that routes c as d asks.
func proxySpec(c *siskinv1.Canary, d canary.DesiredRoute) (*contourv1.HTTPProxySpec, error) {
	opts, err := routeOptions(c)
	if err != nil {
		return nil, err
	}
	if router.SessionAffinity(c) != nil {
		return nil, fmt.Errorf("%w: analysis.sessionAffinity: an HTTPProxy can only set a response header, not add one, so a session cookie would replace the application's own Set-Cookie headers", errSpec)
	}
	svc := servicesOf(c)
	spec := &contourv1.HTTPProxySpec{}
	for _, rule := range router.HTTPRules(c, d) {
		ss := backends(svc, rule.Backends)
		if rule.MirrorPercent > 0 {
			m := contourv1.Service{Name: svc.canary, Port: svc.port, Mirror: true}
			if rule.MirrorPercent < fullWeight {
				m.Weight = int64(rule.MirrorPercent)
			}
			ss = append(ss, m)
		}
		field := "spec.service.match"
		if rule.Name == router.RuleABTest {
			field = "analysis.match"
		}
		routes, err := opts.routes(field, rule.Match, ss)
		if err != nil {
			return nil, err
		}
		spec.Routes = append(spec.Routes, routes...)
	}
	return spec, nil
}

// handBack is the HTTPProxy spec that sends every request to the apex Service, with the
// options and service.match of spec.service but nothing of the rollout.
func handBack(c *siskinv1.Canary) (*contourv1.HTTPProxySpec, error) {
	opts, err := routeOptions(c)
	if err != nil {
		return nil, err
	}
	svc := servicesOf(c)
	routes, err := opts.routes("spec.service.match", c.Spec.Service.Match, []contourv1.Service{{Name: svc.apex, Port: svc.port, Weight: fullWeight}})
	if err != nil {
		return nil, err
	}
	return &contourv1.HTTPProxySpec{Routes: routes}, nil
}

// backends are the weighted services of bs. A weight of 0 is left out, as the API server
// stores it; Contour then sends that service nothing while another has a weight.
func backends(svc services, bs []router.Backend) []contourv1.Service {
	out := make([]contourv1.Service, len(bs))
	for i, b := range bs {
		name := svc.primary
		switch {
		case b.Canary:
			name = svc.canary
		case b.Baseline:
			name = svc.baseline
		}
		out[i] = contourv1.Service{Name: name, Port: svc.port, Weight: int64(b.Weight)}
	}
	return out
}

// options are the parts of every route that come from spec.service.
type options struct {
	timeout  *contourv1.TimeoutPolicy
	retry    *contourv1.RetryPolicy
	request  *contourv1.HeadersPolicy
	response *contourv1.HeadersPolicy
}

// routes are the routes that send the requests of matches (every request when there is
// none) to ss: one route per match, since an HTTPProxy route's conditions must all hold.
func (o *options) routes(field string, matches []siskinv1.HTTPMatchRequest, ss []contourv1.Service) ([]contourv1.Route, error) {
	if len(matches) == 0 {
		matches = []siskinv1.HTTPMatchRequest{{}}
	}
	out := make([]contourv1.Route, 0, len(matches))
	for i, m := range matches {
		conds, err := conditions(m)
		if err != nil {
			if len(matches) > 1 || field == "analysis.match" {
				return nil, fmt.Errorf("%w: %s[%d]: %w", errSpec, field, i, err)
			}
			return nil, fmt.Errorf("%w: %s: %w", errSpec, field, err)
		}
		r := contourv1.Route{Conditions: conds, Services: slices.Clone(ss)}
		if o.timeout != nil {
			r.TimeoutPolicy = o.timeout.DeepCopy()
		}
		if o.retry != nil {
			r.RetryPolicy = o.retry.DeepCopy()
		}
		if o.request != nil {
			r.RequestHeadersPolicy = o.request.DeepCopy()
		}
		if o.response != nil {
			r.ResponseHeadersPolicy = o.response.DeepCopy()
		}
		out = append(out, r)
	}
	return out, nil
}

// conditions are the HTTPProxy conditions of one match: a path condition (prefix / when the
// match has no URI), then headers and query parameters in name order.
func conditions(m siskinv1.HTTPMatchRequest) ([]contourv1.MatchCondition, error) {
	switch {
	case m.Scheme != nil, m.Method != nil, m.Authority != nil, m.Port != 0:
		return nil, errors.New("HTTPProxy conditions match the path, headers and query parameters only, not the scheme, method, authority or port")
	case len(m.SourceLabels) > 0, m.SourceNamespace != "", len(m.Gateways) > 0:
		return nil, errors.New("HTTPProxy conditions cannot match the source workload, namespace or gateway of a request")
	case m.IgnoreURICase:
		return nil, errors.New("HTTPProxy path conditions are case-sensitive: delete ignoreUriCase")
	}
	path := contourv1.MatchCondition{Prefix: "/"}
	if u := m.URI; u != nil {
		switch {
		case u.Exact != "":
			path = contourv1.MatchCondition{Exact: u.Exact}
		case u.Prefix != "":
			path = contourv1.MatchCondition{Prefix: u.Prefix}
		case u.Suffix != "":
			path = contourv1.MatchCondition{Regex: ".*" + regexp.QuoteMeta(u.Suffix)}
		case u.Regex != "":
			path = contourv1.MatchCondition{Regex: u.Regex}
		}
	}
	out := []contourv1.MatchCondition{path}
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		out = append(out, contourv1.MatchCondition{Header: headerCondition(name, m.Headers[name])})
	}
	for _, name := range slices.Sorted(maps.Keys(m.WithoutHeaders)) {
		v := m.WithoutHeaders[name]
		if v.Exact == "" {
			return nil, fmt.Errorf("withoutHeaders %s: HTTPProxy conditions exclude a header by its exact value only (notexact)", name)
		}
		out = append(out, contourv1.MatchCondition{Header: &contourv1.HeaderMatchCondition{Name: name, NotExact: v.Exact}})
	}
	for _, name := range slices.Sorted(maps.Keys(m.QueryParams)) {
		v := m.QueryParams[name]
		out = append(out, contourv1.MatchCondition{QueryParameter: &contourv1.QueryParameterMatchCondition{
			Name: name, Exact: v.Exact, Prefix: v.Prefix, Suffix: v.Suffix, Regex: v.Regex,
		}})
	}
	return out, nil
}

// headerCondition is the HTTPProxy condition of a header match. Envoy matches a regex against
// the whole value, so a prefix or suffix is an anchored regex; a Cookie header given by exact
// is a contains condition, since a request carries all its cookies in one header.
func headerCondition(name string, v siskinv1.StringMatch) *contourv1.HeaderMatchCondition {
	h := &contourv1.HeaderMatchCondition{Name: name}
	switch {
	case v.Exact != "" && strings.EqualFold(name, "cookie"):
		h.Contains = v.Exact
	case v.Exact != "":
		h.Exact = v.Exact
	case v.Prefix != "":
		h.Regex = regexp.QuoteMeta(v.Prefix) + ".*"
	case v.Suffix != "":
		h.Regex = ".*" + regexp.QuoteMeta(v.Suffix)
	case v.Regex != "":
		h.Regex = v.Regex
	default:
		h.Present = true
	}
	return h
}

// routeOptions converts what spec.service says of every route, and refuses what an
// HTTPProxy route cannot do.
func routeOptions(c *siskinv1.Canary) (*options, error) {
	s := c.Spec.Service
	switch {
	case len(s.AdditionalPorts) > 0:
		return nil, fmt.Errorf("%w: spec.service.additionalPorts: the HTTPProxy routes spec.service.port only", errSpec)
	case len(s.Mirror) > 0:
		return nil, fmt.Errorf("%w: spec.service.mirror: an HTTPProxy route has a single mirror, which analysis.mirror uses", errSpec)
	case s.Rewrite != nil && (s.Rewrite.URI != "" || s.Rewrite.Authority != ""):
		return nil, fmt.Errorf("%w: spec.service.rewrite: write the path rewrite in the root HTTPProxy's include or route", errSpec)
	case s.CorsPolicy != nil:
		return nil, fmt.Errorf("%w: spec.service.corsPolicy: Contour's CORS policy belongs to the root HTTPProxy's virtualhost", errSpec)
	case s.BackendTimeout != "":
		return nil, fmt.Errorf("%w: spec.service.backendTimeout: an HTTPProxy has a per-try timeout only with retries: use spec.service.retries.perTryTimeout", errSpec)
	}
	o := &options{}
	if s.Timeout != "" {
		if _, err := time.ParseDuration(s.Timeout); err != nil {
			return nil, fmt.Errorf("parse spec.service.timeout: %w", err)
		}
		o.timeout = &contourv1.TimeoutPolicy{Response: s.Timeout}
	}
	if rt := s.Retries; rt != nil {
		o.retry = &contourv1.RetryPolicy{NumRetries: int64(rt.Attempts), PerTryTimeout: rt.PerTryTimeout}
		for on := range strings.SplitSeq(rt.RetryOn, ",") {
			on = strings.TrimSpace(on)
			if on == "" {
				continue
			}
			if !slices.Contains(retryOn, on) {
				return nil, fmt.Errorf("%w: spec.service.retries.retryOn %q: an HTTPProxy retries on %s", errSpec, on, strings.Join(retryOn, ", "))
			}
			o.retry.RetryOn = append(o.retry.RetryOn, contourv1.RetryOn(on))
		}
	}
	if h := s.Headers; h != nil {
		var err error
		if o.request, err = headersPolicy("request", h.Request); err != nil {
			return nil, err
		}
		if o.response, err = headersPolicy("response", h.Response); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// headersPolicy converts header operations: an HTTPProxy sets and removes headers but cannot
// add a value beside an existing one.
func headersPolicy(which string, ops *siskinv1.HeaderOperations) (*contourv1.HeadersPolicy, error) {
	if ops == nil || len(ops.Set)+len(ops.Add)+len(ops.Remove) == 0 {
		return nil, nil
	}
	if len(ops.Add) > 0 {
		return nil, fmt.Errorf("%w: spec.service.headers.%s.add: an HTTPProxy headers policy sets or removes headers but cannot add one: use set", errSpec, which)
	}
	p := &contourv1.HeadersPolicy{Remove: slices.Clone(ops.Remove)}
	for _, k := range slices.Sorted(maps.Keys(ops.Set)) {
		p.Set = append(p.Set, contourv1.HeaderValue{Name: k, Value: ops.Set[k]})
	}
	return p, nil
}

// readWeights reads the weights of the route that carries them (the first route, an A/B
// route with analysis.match, else the default route) and whether the last route mirrors to the
// canary. A route whose services all have weight 0 splits evenly, as Contour does.
func readWeights(c *siskinv1.Canary, spec *contourv1.HTTPProxySpec, route *canary.Route) {
	if len(spec.Routes) == 0 {
		return
	}
	svc := servicesOf(c)
	var total int64
	weights := map[string]int64{}
	count := 0
	for _, s := range spec.Routes[0].Services {
		if s.Mirror {
			continue
		}
		count++
		total += s.Weight
		weights[s.Name] += s.Weight
	}
	if total == 0 && count > 0 {
		for k := range weights {
			weights[k] = int64(fullWeight / count)
		}
	}
	route.PrimaryWeight = int32(weights[svc.primary])
	route.CanaryWeight = int32(weights[svc.canary])
	route.BaselineWeight = int32(weights[svc.baseline])
	for _, s := range spec.Routes[len(spec.Routes)-1].Services {
		if s.Mirror && s.Name == svc.canary {
			route.Mirror = true
		}
	}
}
