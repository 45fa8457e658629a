package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	knetworkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Skipper routes through the user's Ingress (of class skipper, named like the app, host Host)
// to the apex Service, and the copy <name>-canary Siskin keeps beside it, whose paths go to
// <name>-primary and <name>-canary weighed by Skipper's backend weights.
var Skipper = Router{Provider: siskinv1.ProviderSkipper}

// Skipper's Ingress annotations that a route reads.
const (
	skipperWeights   = "zalando.org/backend-weights"
	skipperPredicate = "zalando.org/skipper-predicate"
)

// skipperRoute reads the user's Ingress ns/name and its copy <name>-canary as one rule,
// "default": while the copy is missing or its routes are disabled (its predicate starts with
// False()), the user's Ingress's Service (the apex) at 100; otherwise the copy's backend
// weights of <name>-primary and <name>-canary, in percent of their sum.
func (e *Env) skipperRoute(ctx context.Context, ns, name string) (*Route, error) {
	var user, cp knetworkingv1.Ingress
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &user); err != nil {
		return nil, fmt.Errorf("get Ingress %s/%s: %w", ns, name, err)
	}
	def := RouteRule{Name: "default", Backends: []Backend{{Service: ingressService(&user), Weight: 100}}}
	err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name + "-canary"}, &cp)
	switch {
	case apierrors.IsNotFound(err):
		return &Route{Rules: []RouteRule{def}}, nil
	case err != nil:
		return nil, fmt.Errorf("get Ingress %s/%s-canary: %w", ns, name, err)
	case strings.HasPrefix(strings.TrimSpace(cp.Annotations[skipperPredicate]), "False()"):
		return &Route{Rules: []RouteRule{def}}, nil
	}
	var w map[string]float64
	if err := json.Unmarshal([]byte(cp.Annotations[skipperWeights]), &w); err != nil {
		return nil, fmt.Errorf("the copy %s/%s-canary: %s %q: %w", ns, name, skipperWeights, cp.Annotations[skipperWeights], err)
	}
	p, c := w[name+"-primary"], w[name+"-canary"]
	if p+c <= 0 {
		return nil, fmt.Errorf("the copy %s/%s-canary: %s %q gives %s-primary and %s-canary no weight", ns, name, skipperWeights, cp.Annotations[skipperWeights], name, name)
	}
	cw := int32(math.Round(100 * c / (p + c)))
	def.Backends = []Backend{{Service: name + "-primary", Weight: 100 - cw}, {Service: name + "-canary", Weight: cw}}
	return &Route{Rules: []RouteRule{def}}, nil
}
