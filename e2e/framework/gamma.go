package framework

import siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"

// Linkerd routes mesh traffic by the HTTPRoute Siskin attaches to the apex Service (GAMMA):
// users are mesh clients that call the apex Service's host, as with Istio, and the data plane
// counts Linkerd's response_total and response_latency_ms for every pod that answers.
var Linkerd = Router{Provider: siskinv1.ProviderLinkerd, Mesh: true}

// EnvoyGateway routes through the local environment's Gateway envoy-gateway, whose class names
// Envoy Gateway's controller: the data plane serves it as Envoy Gateway would and counts its
// routes' requests in Envoy Gateway's per-rule clusters. Provider gatewayapi:envoy has no
// built-in metrics, so its scenarios judge a MetricTemplate.
var EnvoyGateway = Router{Provider: siskinv1.ProviderGatewayAPIEnvoy, Gateway: true}

// envoyGatewayName is the Gateway of Envoy Gateway's class that localenv creates in the
// Gateway's namespace (e2e/localenv/envoygateway.go).
const envoyGatewayName = "envoy-gateway"

// gateway is the name of the Gateway a Gateway API router attaches its route to.
func (r Router) gateway(e *Env) string {
	if r.Provider == siskinv1.ProviderGatewayAPIEnvoy {
		return envoyGatewayName
	}
	return e.Info.Gateway.Name
}
