package skipper

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/ingresscopy"
)

// errSpec marks a spec this router cannot route.
var errSpec = errors.New("provider skipper cannot route this spec")

// Skipper's Ingress annotations.
const (
	// annWeights weighs the backends of the Ingress's paths: {"<service>": <weight>, ...}.
	annWeights = "zalando.org/backend-weights"
	// annPredicate adds predicates to every route of the Ingress, joined by &&.
	annPredicate = "zalando.org/skipper-predicate"
)

// Skipper's predicates that the copy's routes start with: Weight(100) ranks them above the
// user's routes of the same host and path; False() matches no request.
const (
	predicateRouted   = "Weight(100)"
	predicateDisabled = "False()"
)

// canaryIngress returns the canary Ingress of c for the route d, copied from the user's
// Ingress user.
func canaryIngress(c *siskinv1.Canary, user *networkingv1.Ingress, d canary.DesiredRoute) (ingresscopy.Desired, error) {
	var out ingresscopy.Desired
	switch {
	case d.BaselineWeight > 0:
		return out, fmt.Errorf("%w: Skipper's backend weights split the primary and the canary and cannot give <target>-baseline a weight", errSpec)
	case d.Mirror:
		return out, fmt.Errorf("%w: Skipper's backend weights cannot mirror requests", errSpec)
	case router.IsABTest(c):
		return out, fmt.Errorf("%w: Skipper's backend weights cannot route by header or cookie (analysis.match)", errSpec)
	case d.CanaryWeight < 0 || d.CanaryWeight > 100 || d.PrimaryWeight+d.CanaryWeight != 100:
		return out, fmt.Errorf("%w: weights %s do not add up to 100", errSpec, router.FormatWeights(d.PrimaryWeight, d.CanaryWeight, 0))
	}
	_, primary, canaryName := router.ServiceNames(c)
	spec, err := canarySpec(c, user)
	if err != nil {
		return out, err
	}
	out.Spec = *spec
	out.Annotations = ingresscopy.Annotations(user.Annotations, func(k string) bool { return k == annWeights || k == annPredicate })
	// encoding/json writes a map's keys sorted: the annotation is the same for the same weights.
	w, err := json.Marshal(map[string]int32{primary: d.PrimaryWeight, canaryName: d.CanaryWeight})
	if err != nil {
		return out, fmt.Errorf("encode %s: %w", annWeights, err)
	}
	out.Annotations[annWeights] = string(w)
	first := predicateRouted
	if d.CanaryWeight == 0 {
		first = predicateDisabled
	}
	out.Annotations[annPredicate] = strings.Join(append([]string{first}, userPredicates(user.Annotations[annPredicate])...), " && ")
	return out, nil
}

// canarySpec is the user's Ingress spec with only the paths that go to the apex Service, each
// written twice: to the -primary and to the -canary Service.
func canarySpec(c *siskinv1.Canary, user *networkingv1.Ingress) (*networkingv1.IngressSpec, error) {
	apex, primary, canaryName := router.ServiceNames(c)
	in := user.Spec.DeepCopy()
	out := &networkingv1.IngressSpec{IngressClassName: in.IngressClassName, TLS: in.TLS}
	out.Rules = ingresscopy.Rules(in.Rules, apex, func(p networkingv1.HTTPIngressPath) []networkingv1.HTTPIngressPath {
		return []networkingv1.HTTPIngressPath{ingresscopy.To(p, primary), ingresscopy.To(p, canaryName)}
	})
	if len(out.Rules) == 0 {
		return nil, fmt.Errorf("%w: Ingress %s/%s (spec.ingressRef) has no rule whose path goes to Service %s (a default backend cannot be weighed): route a path of it to %s",
			errSpec, user.Namespace, user.Name, apex, apex)
	}
	return out, nil
}

// userPredicates are the predicates of the user's zalando.org/skipper-predicate, split at the
// && outside quoted strings, without the Weight and False predicates that the copy sets itself.
func userPredicates(s string) []string {
	var out []string
	for _, p := range splitAnd(s) {
		p = strings.TrimSpace(p)
		name, _, _ := strings.Cut(p, "(")
		switch strings.TrimSpace(name) {
		case "", "Weight", "False":
			continue
		}
		out = append(out, p)
	}
	return out
}

// splitAnd splits an eskip predicate list at each && that is not inside a string or a regular
// expression literal ("..." or /.../, with backslash escapes).
func splitAnd(s string) []string {
	var (
		out   []string
		quote rune
		start int
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0 && r == '\\':
			i++ // the escaped rune
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
		case r == '"' || r == '/':
			quote = r
		case r == '&' && i+1 < len(rs) && rs[i+1] == '&':
			out = append(out, string(rs[start:i]))
			start = i + 2
			i++
		}
	}
	return append(out, string(rs[start:]))
}

// weights reads the weights of a canary Ingress: 100/0 while its routes are disabled (False()),
// otherwise the -primary and -canary Services' shares of zalando.org/backend-weights, in
// percent. Weights that cannot be read are 100/0: Observe then finds the copy differing from
// what Siskin applies.
func weights(c *siskinv1.Canary, annotations map[string]string) (primary, canaryWeight int32) {
	if preds := splitAnd(annotations[annPredicate]); strings.TrimSpace(preds[0]) == predicateDisabled {
		return 100, 0
	}
	var w map[string]float64
	if err := json.Unmarshal([]byte(annotations[annWeights]), &w); err != nil {
		return 100, 0
	}
	_, primaryName, canaryName := router.ServiceNames(c)
	p, cw := w[primaryName], w[canaryName]
	if p < 0 || cw < 0 || p+cw <= 0 || math.IsInf(p+cw, 0) {
		return 100, 0
	}
	canaryWeight = int32(math.Round(100 * cw / (p + cw)))
	return 100 - canaryWeight, canaryWeight
}

// Router manages the canary Ingresses of Canaries of provider skipper.
type Router = ingresscopy.Router

// New returns the Router of provider skipper (Skipper's backend weights and predicate on the copy), which reads
// through reader (the informer cache) and writes through c.
func New(reader client.Reader, c client.Client) *Router {
	return ingresscopy.New(reader, c, ingresscopy.Controller{Copy: canaryIngress, Weights: weights}, errSpec)
}
