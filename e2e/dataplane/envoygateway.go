package dataplane

import (
	"fmt"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// EnvoyGatewayControllerName is Envoy Gateway's GatewayClass controllerName. The data plane
// serves the Gateways of such a class too, and counts the requests their HTTPRoutes route in
// Envoy's cluster statistics (envoy.go) under the clusters Envoy Gateway makes: one per route
// rule, httproute/<namespace>/<route>/rule/<index>, holding every backendRef of the rule (each a
// locality of the cluster), so that the primary's and the canary's requests count together, as
// with Envoy Gateway.
const EnvoyGatewayControllerName = "gateway.envoyproxy.io/gatewayclass-controller"

// servesClass reports whether the data plane serves a GatewayClass of controller: its own, or
// Envoy Gateway's.
func servesClass(controller gatewayv1.GatewayController, ours string) bool {
	return string(controller) == ours || controller == EnvoyGatewayControllerName
}

// envoyGateways returns the Gateways of an Envoy Gateway class.
func envoyGateways(s Snapshot) map[svcKey]bool {
	classes := map[string]bool{}
	for _, gc := range s.GatewayClasses {
		if gc.Spec.ControllerName == EnvoyGatewayControllerName {
			classes[gc.Name] = true
		}
	}
	out := map[svcKey]bool{}
	for _, gw := range s.Gateways {
		if classes[string(gw.Spec.GatewayClassName)] {
			out[svcKey{Namespace: gw.Namespace, Name: gw.Name}] = true
		}
	}
	return out
}

// markEnvoyGatewayClusters names, on every backend of the compiled rules of hr, the cluster of
// its rule, when hr is attached to a Gateway of Envoy Gateway's. Mirrors are left out: Envoy
// Gateway sends them to clusters of their own.
func markEnvoyGatewayClusters(hr *gatewayv1.HTTPRoute, ranks []ranked, gateways map[svcKey]bool) {
	attached := false
	for _, ref := range hr.Spec.ParentRefs {
		k := svcKey{Namespace: string(ptrOr(ref.Namespace, gatewayv1.Namespace(hr.Namespace))), Name: string(ref.Name)}
		if string(ptrOr(ref.Group, gatewayv1.GroupName)) == gatewayv1.GroupName && string(ptrOr(ref.Kind, "Gateway")) == "Gateway" && gateways[k] {
			attached = true
		}
	}
	if !attached {
		return
	}
	for _, rk := range ranks {
		r := rk.rule
		var ns string
		var index int
		// The rule's source names its index: "HTTPRoute <ns>/<name> rules[<index>]".
		if _, err := fmt.Sscanf(r.source, "HTTPRoute %s rules[%d]", &ns, &index); err != nil {
			continue
		}
		cluster := fmt.Sprintf("httproute/%s/%s/rule/%d", hr.Namespace, hr.Name, index)
		for i := range r.backends {
			r.backends[i].envoy = cluster
		}
	}
}
