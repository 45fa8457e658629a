// Package nginx is the router for provider nginx: ingress-nginx's canary Ingresses.
//
// The user's Ingress, named by spec.ingressRef, routes to the apex Service <svc>, which Siskin
// points at the primary's pods; the router reads it and never changes it. It keeps a second
// Ingress, <ingress>-canary: a copy of the user's rules (host, paths, TLS, class and
// annotations) whose paths to <svc> go to <svc>-canary instead, marked
// nginx.ingress.kubernetes.io/canary: "true". ingress-nginx merges it into the user's Ingress
// and sends it the share of requests in canary-weight; the rest reach the primary through the
// user's Ingress. Paths of the user's Ingress that go to other Services are left out of the copy.
//
// A/B testing (analysis.match) uses ingress-nginx's canary-by-header annotations (the header,
// with canary-by-header-value for an exact value or canary-by-header-pattern for a regular
// expression) and canary-by-cookie (a cookie name, whose value "always" picks the canary): a
// match is one header condition, and at most one header and one cookie can be routed. While
// the A/B test sends matching requests to the canary, those annotations are set and
// canary-weight is 0; before and after, the copy carries no match at all. ingress-nginx
// canaries cannot mirror, pin sessions or route a third backend.
//
// The router owns the copy it creates (controller reference to the Canary plus the
// siskin.dev/canary annotation); an Ingress named <ingress>-canary that Siskin did not create is
// never overwritten. Finalize deletes the copy: the user's Ingress still carries the host and
// routes everything to the apex Service.
package nginx

// The controller's permissions for this router (controller-gen reads them here):
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;patch;delete
