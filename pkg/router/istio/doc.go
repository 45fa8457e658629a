// Package istio is the router for provider istio: a VirtualService in front of the -primary and
// -canary Services, and a DestinationRule for each of them.
//
// For a Canary whose apex Service is <svc> it keeps:
//
//   - DestinationRules <svc>-primary and <svc>-canary, whose hosts are the FQDNs of those
//     Services and whose trafficPolicy is spec.service.trafficPolicy;
//   - VirtualService <svc> for spec.service.hosts plus <svc> on spec.service.gateways (default
//     mesh), or a delegate without hosts and gateways. Its routes are HTTP routes, or one TCP
//     route when spec.service.appProtocol is tcp.
//
// The HTTP routes are, in order: the session-affinity routes (requests carrying this rollout's
// canary or primary cookie, and the previous rollout's cookie, which is expired), the A/B route
// (analysis.match merged with service.match) and the default route, which carries the weights,
// the mirror and the Set-Cookie headers. Every route gets service.match, rewrite, retries,
// headers, corsPolicy and timeout. With spec.service.additionalPorts, the routes are repeated
// for every HTTP port with the port in every match (named <route>-<port name> beyond the main
// port), and every TCP port gets a TCP route matching it; with the main port alone, routes
// match no port.
//
// While an analysis compared with control baseline gives <target>-baseline a weight, the
// weighted routes (default or A/B, and TCP) have a third destination, <svc>-baseline, and a
// DestinationRule <svc>-baseline carries the same trafficPolicy, so the baseline is reached as
// the canary it is compared with is. A route without a baseline weight names no baseline at all,
// and Apply deletes the baseline's DestinationRule once the VirtualService no longer names it.
//
// The router owns what it creates (controller reference to the Canary plus the
// siskin.dev/canary annotation). An object of the same name that Siskin did not create is never
// overwritten: Observe and Apply fail with router.ErrNotOwned until it is deleted, or annotated
// siskin.dev/canary=<canary name> to hand it over.
package istio

// The controller's permissions for this router (controller-gen reads them here):
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=networking.istio.io,resources=destinationrules,verbs=delete
