// Package gatewayapi is the router for providers gatewayapi, gatewayapi:v1 and
// gatewayapi:v1beta1, and for the aliases that name an implementation (gatewayapi:envoy,
// gatewayapi:contour, ...), which route alike and differ only in their built-in metrics: one
// HTTPRoute (gateway.networking.k8s.io/v1, which API servers serve for both versions) in front
// of the -primary and -canary Services.
//
// Provider linkerd has a Router of its own, NewMesh's, registered under its name: the same
// HTTPRoutes, whose parent is the apex Service on the route's port (Gateway API's GAMMA) instead
// of spec.service.gatewayRefs, and with no hostnames. Linkerd's proxies apply them to meshed
// requests addressed to the apex Service, and its policy controller reports the route's
// Accepted condition for that parent as a Gateway would.
//
// For a Canary whose apex Service is <svc> it keeps HTTPRoute <svc>, attached to
// spec.service.gatewayRefs with spec.service.hosts as hostnames. Its rules are: the
// session-affinity rules (requests carrying this rollout's canary or primary cookie, and the
// previous rollout's cookie, which is expired), the A/B rule (analysis.match merged with
// service.match) and the default rule, which carries the weights, the request mirror and the
// Set-Cookie headers. Every rule gets service.match, the header modifiers, the URL rewrite, the
// static service.mirror filters and the timeouts. Gateway API ranks rules by how specific their
// matches are, and a cookie or A/B rule always has one more header or query match than the
// default rule, so it wins.
//
// While an analysis compared with control baseline gives <target>-baseline a weight, the rule
// that carries the weights has a third backendRef, <svc>-baseline; a route without a baseline
// weight names no baseline at all.
//
// Each of spec.service.additionalPorts gets an HTTPRoute <svc>-<port name> of its own, with the
// same rules on that port, attached to the same parents with port set to it: an HTTPRoute cannot
// match on the port. A TCP additional port is refused unless the routes are TCPRoutes.
//
// spec.service.routeKind GRPCRoute or TCPRoute makes every route of the Canary of that kind
// (gateway.networking.k8s.io/v1) instead, with the same names, parents and weights. Each kind's
// spec is made from the HTTPRoute spec the Canary would have (kind.go): a GRPCRoute keeps the
// hostnames, header matches, header modifiers and request mirrors, and matches the path
// /<service>/<method> as a gRPC method; a TCPRoute keeps only the parents and the weighted
// backends of one rule. What the kind cannot express is an error (and is refused by the Canary's
// validation first). Reading, ownership, writes, status and the hand-back are the same for every
// kind; routes of the Canary of another kind than its routeKind are deleted when it changes.
//
// The route is written with the defaults the Gateway API CRDs would apply (group, kind, weight,
// path match), so the stored object equals the generated one and Observe can compare them. It
// counts as converged only when every parent Gateway has accepted its current generation.
//
// The router owns what it creates (controller reference to the Canary plus the
// siskin.dev/canary annotation). A route of the same name and kind that Siskin did not create is
// never overwritten: Observe and Apply fail with router.ErrNotOwned until it is deleted, or
// annotated siskin.dev/canary=<canary name> to hand it over.
package gatewayapi

// The controller's permissions for this router (controller-gen reads them here):
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes;grpcroutes;tcproutes,verbs=get;list;watch;create;patch;delete
