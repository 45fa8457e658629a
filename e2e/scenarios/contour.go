//go:build e2e

package scenarios

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/siskin-dev/siskin/e2e/framework"
)

// contourKit is provider contour: the user's root HTTPProxy (virtualhost.fqdn Router.Host)
// includes the HTTPProxy named like the apex Service, which Siskin keeps weighing <app>-primary
// and <app>-canary. The load test goes through the root's host, since Envoy's cluster
// statistics count only what an HTTPProxy routed.
var contourKit = routerKit{
	Router:     framework.Contour,
	scenarios:  []string{"promotion", "rollback-errors", "ab-testing"},
	kind:       "HTTPProxy",
	routedLoad: true,
	objects: func(r *rig) []client.Object {
		return []client.Object{r.in.Router.RootHTTPProxy(r.in.Namespace, r.in.Name)}
	},
	metrics: `sum(envoy_cluster_upstream_rq{envoy_cluster_name="{namespace}_{name}-canary_{port}"})`,
}
