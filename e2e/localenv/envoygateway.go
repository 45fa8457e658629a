package main

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/siskin-dev/siskin/e2e/dataplane"
)

// envoyGatewayName names the GatewayClass of Envoy Gateway's controller and its Gateway in
// gateway-system, which the data plane serves as Envoy Gateway would (provider gatewayapi:envoy).
const envoyGatewayName = "envoy-gateway"

// envoyGatewayObjects are that GatewayClass and Gateway, whose listener accepts HTTPRoutes from
// every namespace.
func envoyGatewayObjects() []client.Object {
	return []client.Object{
		&gatewayv1.GatewayClass{
			ObjectMeta: metav1.ObjectMeta{Name: envoyGatewayName},
			Spec:       gatewayv1.GatewayClassSpec{ControllerName: dataplane.EnvoyGatewayControllerName},
		},
		&gatewayv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: gatewayNS, Name: envoyGatewayName},
			Spec: gatewayv1.GatewaySpec{
				GatewayClassName: envoyGatewayName,
				Listeners: []gatewayv1.Listener{{
					Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType,
					AllowedRoutes: &gatewayv1.AllowedRoutes{Namespaces: &gatewayv1.RouteNamespaces{From: ptr.To(gatewayv1.NamespacesFromAll)}},
				}},
			},
		},
	}
}
