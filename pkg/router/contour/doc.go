// Package contour is the router for provider contour: one HTTPProxy (projectcontour.io/v1) in
// front of the -primary and -canary Services.
//
// For a Canary whose apex Service is <svc> it keeps HTTPProxy <svc> in the Canary's namespace.
// It has no virtualhost: the user's root HTTPProxy (virtualhost.fqdn, TLS, CORS) includes it,
// and Contour serves the included routes under the root's host and include conditions. Its
// routes send requests to <svc>-primary and <svc>-canary on spec.service.port with the
// weights the planner decides; while an analysis compared with control baseline gives
// <target>-baseline a weight, the weighted services have a third entry, <svc>-baseline.
//
// Routes come from router.HTTPRules: with A/B testing, one route per analysis.match (merged
// with service.match) that carries the weights, before the default route, which sends every
// other request to the primary; without, the default route carries the weights. Contour orders
// the routes of a path by their header conditions, the more specific first, so the A/B route
// wins. Matches become HTTPProxy conditions: the URI as a prefix, exact or regex path
// condition (a suffix as a regex), a header exact or regex (a prefix or suffix as an anchored
// regex), a Cookie header given by exact as a contains condition (requests whose cookies
// include that text, as Flagger routes cookies with Contour), query parameters exact, prefix,
// suffix or regex, and withoutHeaders exact as notexact. Anything HTTPProxy conditions cannot
// express (method, scheme, authority, port, source, gateways, case-insensitive URIs) is
// refused.
//
// Blue/green with mirroring adds <svc>-canary with mirror: true to the default route, with
// the mirror weight as Contour's mirror percentage. spec.service.timeout becomes the route's
// timeoutPolicy.response, spec.service.retries its retryPolicy, and spec.service.headers set
// and remove the route's request and response headers. Session affinity is refused: Siskin
// pins a client with a Set-Cookie header added to the canary's responses, and an HTTPProxy
// headers policy can only set (replace) a response header, which would drop the
// application's own cookies. Additional ports, static mirrors, rewrites, CORS policies,
// backendTimeout and headers to add are refused as well (see pkg/canary's validation).
//
// Observe reads the weights from the live HTTPProxy and reports it converged when it equals
// what Apply generates for them and Contour has not reported it invalid or orphaned for its
// current generation (the Valid condition). The router owns what it creates (controller
// reference to the Canary plus the siskin.dev/canary annotation); an HTTPProxy of the same
// name that Siskin did not create is never overwritten: Observe and Apply fail with
// router.ErrNotOwned. Finalize hands the HTTPProxy back: one route to the apex Service and no
// controller reference, so the root HTTPProxy's include keeps working after the Canary is gone.
package contour

// The controller's permissions for this router (controller-gen reads them here):
// +kubebuilder:rbac:groups=projectcontour.io,resources=httpproxies,verbs=get;list;watch;create;patch
