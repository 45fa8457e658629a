package framework

import siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"

// Linkerd routes mesh traffic by the HTTPRoute Siskin attaches to the apex Service (GAMMA):
// users are mesh clients that call the apex Service's host, as with Istio, and the data plane
// counts Linkerd's response_total and response_latency_ms for every pod that answers.
var Linkerd = Router{Provider: siskinv1.ProviderLinkerd}
