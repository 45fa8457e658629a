package nginx

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/ingresscopy"
)

// errSpec marks a spec this router cannot route.
var errSpec = errors.New("provider nginx cannot route this spec")

// ingress-nginx's canary annotations.
const (
	prefix             = "nginx.ingress.kubernetes.io/"
	annCanary          = prefix + "canary"
	annWeight          = prefix + "canary-weight"
	annByHeader        = prefix + "canary-by-header"
	annByHeaderValue   = prefix + "canary-by-header-value"
	annByHeaderPattern = prefix + "canary-by-header-pattern"
	annByCookie        = prefix + "canary-by-cookie"
)

// canaryIngress returns the canary Ingress of c for the route d, copied from the user's
// Ingress user.
func canaryIngress(c *siskinv1.Canary, user *networkingv1.Ingress, d canary.DesiredRoute) (ingresscopy.Desired, error) {
	var out ingresscopy.Desired
	switch {
	case d.BaselineWeight > 0:
		return out, fmt.Errorf("%w: ingress-nginx routes a single canary Ingress and cannot give <target>-baseline a weight", errSpec)
	case d.Mirror:
		return out, fmt.Errorf("%w: ingress-nginx canaries cannot mirror requests", errSpec)
	}
	spec, err := canarySpec(c, user)
	if err != nil {
		return out, err
	}
	out.Spec = *spec
	out.Annotations = ingresscopy.Annotations(user.Annotations, func(k string) bool { return strings.HasPrefix(k, annCanary) })
	out.Annotations[annCanary] = "true"
	if !router.IsABTest(c) {
		out.Annotations[annWeight] = strconv.Itoa(int(d.CanaryWeight))
		return out, nil
	}
	// A/B testing: matching requests take the weights, every other one the primary.
	out.Annotations[annWeight] = "0"
	match, err := matchAnnotations(c.Spec.Analysis.Match)
	if err != nil {
		return out, err
	}
	switch d.CanaryWeight {
	case 0:
	case 100:
		maps.Copy(out.Annotations, match)
	default:
		return out, fmt.Errorf("%w: ingress-nginx sends every request that matches analysis.match to the canary, so an A/B test routes them at weight 0 or 100, not %d", errSpec, d.CanaryWeight)
	}
	return out, nil
}

// canarySpec is the user's Ingress spec with only the paths (and default backend) that go to
// the apex Service, sent to the -canary Service instead.
func canarySpec(c *siskinv1.Canary, user *networkingv1.Ingress) (*networkingv1.IngressSpec, error) {
	apex, _, canaryName := router.ServiceNames(c)
	in := user.Spec.DeepCopy()
	out := &networkingv1.IngressSpec{IngressClassName: in.IngressClassName, TLS: in.TLS}
	if b := in.DefaultBackend; b != nil && b.Service != nil && b.Service.Name == apex {
		b.Service.Name = canaryName
		out.DefaultBackend = b
	}
	out.Rules = ingresscopy.Rules(in.Rules, apex, func(p networkingv1.HTTPIngressPath) []networkingv1.HTTPIngressPath {
		return []networkingv1.HTTPIngressPath{ingresscopy.To(p, canaryName)}
	})
	if out.DefaultBackend == nil && len(out.Rules) == 0 {
		return nil, fmt.Errorf("%w: Ingress %s/%s (spec.ingressRef) sends no request to Service %s: route a path of it to %s", errSpec, user.Namespace, user.Name, apex, apex)
	}
	return out, nil
}

// matchAnnotations converts analysis.match to ingress-nginx's canary-by annotations: each
// match is a single header condition, a cookie by its name (exact) or another header, and at
// most one of each.
func matchAnnotations(matches []siskinv1.HTTPMatchRequest) (map[string]string, error) {
	out := map[string]string{}
	for i, m := range matches {
		if err := matchFits(m); err != nil {
			return nil, fmt.Errorf("%w: analysis.match[%d]: %w", errSpec, i, err)
		}
		for name, v := range m.Headers {
			if strings.EqualFold(name, "cookie") {
				if _, twice := out[annByCookie]; twice {
					return nil, fmt.Errorf("%w: analysis.match[%d]: ingress-nginx routes one cookie, and an earlier match has one", errSpec, i)
				}
				out[annByCookie] = v.Exact
				continue
			}
			if _, twice := out[annByHeader]; twice {
				return nil, fmt.Errorf("%w: analysis.match[%d]: ingress-nginx routes one header, and an earlier match has one", errSpec, i)
			}
			out[annByHeader] = name
			switch {
			case v.Exact != "":
				out[annByHeaderValue] = v.Exact
			case v.Prefix != "":
				out[annByHeaderPattern] = "^" + regexp.QuoteMeta(v.Prefix) + ".*"
			case v.Suffix != "":
				out[annByHeaderPattern] = ".*" + regexp.QuoteMeta(v.Suffix) + "$"
			default:
				out[annByHeaderPattern] = v.Regex
			}
		}
	}
	return out, nil
}

// matchFits reports why ingress-nginx cannot route the A/B match m, nil when it can: m must be
// one header condition and nothing else, and a cookie is named by an exact match on the
// cookie header (ingress-nginx routes requests whose cookie of that name is "always").
func matchFits(m siskinv1.HTTPMatchRequest) error {
	if m.URI != nil || m.Scheme != nil || m.Method != nil || m.Authority != nil || m.Port != 0 ||
		len(m.SourceLabels) > 0 || m.SourceNamespace != "" || len(m.Gateways) > 0 ||
		len(m.QueryParams) > 0 || m.IgnoreURICase || len(m.WithoutHeaders) > 0 || len(m.Headers) != 1 {
		return errors.New("ingress-nginx matches one header or one cookie per match, and nothing else")
	}
	for name, v := range m.Headers {
		if strings.EqualFold(name, "cookie") && v.Exact == "" {
			return errors.New("a cookie is matched by its name, with exact: <cookie name>; ingress-nginx sends requests whose cookie of that name is \"always\" to the canary")
		}
	}
	return nil
}

// weights reads the weights of a canary Ingress: with A/B testing, 0/100 when it routes the
// match; otherwise 100 - canary-weight and canary-weight.
func weights(c *siskinv1.Canary, annotations map[string]string) (primary, canaryWeight int32) {
	if router.IsABTest(c) {
		if annotations[annByHeader] != "" || annotations[annByCookie] != "" {
			return 0, 100
		}
		return 100, 0
	}
	w, err := strconv.Atoi(annotations[annWeight])
	if err != nil || w < 0 || w > 100 {
		return 100, 0
	}
	return int32(100 - w), int32(w)
}

// Router manages the canary Ingresses of Canaries of provider nginx.
type Router = ingresscopy.Router

// New returns the Router of provider nginx (ingress-nginx's canary annotations on the copy), which reads
// through reader (the informer cache) and writes through c.
func New(reader client.Reader, c client.Client) *Router {
	return ingresscopy.New(reader, c, ingresscopy.Controller{Copy: canaryIngress, Weights: weights}, errSpec)
}
