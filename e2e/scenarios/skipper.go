//go:build e2e

package scenarios

import (
	"regexp"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// skipperKit is provider skipper: the user's Ingress (class skipper, host Router.Host, named
// like the app) routes to the apex Service, and Siskin keeps its copy <ingress>-canary, whose
// path goes to the -primary and -canary Services by Skipper's backend weights and whose
// Weight(100) predicate ranks it above the user's route (False() at rest, which disables it).
// The Canary names the Ingress; the load test goes through the Ingress host, since Skipper's
// route metrics count only what its routes served; at rest every request goes through the
// user's Ingress to the apex Service.
var skipperKit = routerKit{
	Router:     framework.Skipper,
	scenarios:  []string{"promotion", "rollback-errors"},
	kind:       "Ingress copy",
	routedLoad: true,
	objects: func(r *rig) []client.Object {
		ing := nginxIngress(r)
		ing.Spec.IngressClassName = ptr.To("skipper")
		return []client.Object{ing}
	},
	canary: func(r *rig, c *siskinv1.Canary) {
		c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: r.in.Name}
	},
	atRest: func(rt *framework.Route, name string) (bool, string) {
		return len(rt.Rules) == 1 && rt.Weight("", name) == 100 && rt.Weight("", name+"-canary") == 0,
			name + " 100 through the user's Ingress (the copy disabled or gone)"
	},
	// Skipper's route ID of the copy's path to the canary Service, as the built-in queries
	// select it.
	metrics: `sum(skipper_serve_route_duration_seconds_count{route=~"kube_{underscored namespace}__{underscored name}_canary__.*__{underscored name}_canary"})`,
}

// underscored writes every character of s other than a letter, digit or underscore as an
// underscore, as Skipper does in the parts of a route ID.
func underscored(s string) string { return nonWord.ReplaceAllString(s, "_") }

var nonWord = regexp.MustCompile(`\W`)
