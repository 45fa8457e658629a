package gatewayapi

import (
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router"
)

// NewMesh returns the Router of provider linkerd: the same HTTPRoutes as New's, each attached
// to the apex Service on its port (Gateway API's GAMMA: parentRef group "", kind Service) rather
// than to spec.service.gatewayRefs, and without hostnames. Linkerd's proxies apply such a route
// to every meshed request addressed to the apex Service, so no Gateway is involved.
func NewMesh(reader client.Reader, c client.Client) *Router {
	return &Router{reader: reader, client: c, mesh: true}
}

// serviceParent is the apex Service of c on port p, as an HTTPRoute's parent.
func serviceParent(c *siskinv1.Canary, p router.Port) gatewayv1.ParentReference {
	apex, _, _ := router.ServiceNames(c)
	return gatewayv1.ParentReference{
		Group: ptr.To(gatewayv1.Group("")),
		Kind:  ptr.To(gatewayv1.Kind(kindService)),
		Name:  gatewayv1.ObjectName(apex),
		Port:  ptr.To(p.Number),
	}
}
