// Package skipper is the router for provider skipper: Skipper's Ingress backend weights.
//
// The user's Ingress, named by spec.ingressRef, routes to the apex Service <svc>, which Siskin
// points at the primary's pods; the router reads it and never changes it. It keeps a second
// Ingress, <ingress>-canary: a copy of the user's rules (host, paths, TLS, class and
// annotations) in which each path to <svc> is written twice, once to <svc>-primary and once to
// <svc>-canary, and the zalando.org/backend-weights annotation gives each of the two Services
// its share, as a JSON object of percentages. Skipper turns the copy into routes of the same
// hosts and paths as the user's; the copy's zalando.org/skipper-predicate starts with
// Weight(100), which makes its routes win over the user's while the canary takes traffic.
// When the canary's weight is 0 it starts with False() instead, which disables the copy's
// routes: every request then goes through the user's Ingress to the apex Service, as it does
// without Siskin. Paths of the user's Ingress that go to other Services, and its default
// backend (a single Service, which Skipper cannot weigh), are left out of the copy.
//
// Skipper's Ingress annotations weigh backends and nothing else that Siskin needs: the router
// does not route by header or cookie (A/B testing), mirror, pin sessions or route a third
// backend, and the provider's registry entry says so, so that validation refuses such a spec.
//
// The router owns the copy it creates (controller reference to the Canary plus the
// siskin.dev/canary annotation); an Ingress named <ingress>-canary that Siskin did not create is
// never overwritten. Finalize deletes the copy: the user's Ingress still carries the host and
// routes everything to the apex Service.
package skipper

// The controller's permissions for this router (controller-gen reads them here):
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;patch;delete
