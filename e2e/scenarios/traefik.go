//go:build e2e

package scenarios

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/siskin-dev/siskin/e2e/framework"
)

// traefikKit is provider traefik: the user's IngressRoute (host Router.Host, named like the app)
// routes to the TraefikService named like the apex Service, which Siskin keeps weighing
// <app>-primary and <app>-canary. The load test goes through the IngressRoute's host, since
// Traefik's service metrics count only what it routed.
var traefikKit = routerKit{
	Router:     framework.Traefik,
	scenarios:  []string{"promotion", "rollback-errors"},
	kind:       "TraefikService",
	routedLoad: true,
	objects: func(r *rig) []client.Object {
		return []client.Object{r.in.Router.IngressRoute(r.in.Namespace, r.in.Name)}
	},
	metrics: `sum(traefik_service_requests_total{service="{namespace}-{name}-canary-{port}@kubernetescrd"})`,
}
