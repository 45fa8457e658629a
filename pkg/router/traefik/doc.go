// Package traefik is the router for provider traefik: a TraefikService (traefik.io/v1alpha1)
// in front of the -primary and -canary Services, with the semantics of Flagger's traefik
// provider, so that a Flagger Canary of that provider carries over.
//
// For a Canary whose apex Service is <svc> (spec.service.name, else the target's name) it keeps
// the TraefikService <svc> in the Canary's namespace. While no mirror runs it is of kind
// weighted, with the services <svc>-primary and <svc>-canary on spec.service.port carrying the
// weights of the route; both are always listed, the one without traffic at weight 0. While an
// analysis mirrors (analysis.mirror, which runs only while the primary has all the traffic) it
// is of kind mirroring: its main service is <svc>-primary and its one mirror <svc>-canary, with
// percent analysis.mirrorWeight (100 by default). The user's IngressRoute routes to the
// TraefikService <svc> (services: [{name: <svc>, kind: TraefikService}]); Siskin never reads or
// changes the IngressRoute, and routes only the main port (spec.service.additionalPorts are not
// routed through the TraefikService).
//
// A TraefikService cannot match requests (matching lives in the user's IngressRoute), so A/B
// testing (analysis.match) and session affinity are refused by the provider registry's
// capabilities, and it routes no third backend (no analysis.comparison control baseline).
//
// Observe reads the weights (and the mirror) from the live TraefikService and reports it
// converged when it equals what Apply generates for them; Apply writes it once. The router owns
// the object it creates (controller reference to the Canary plus the siskin.dev/canary
// annotation, through target.Ownership and target.Claim); a TraefikService of that name that
// Siskin did not create is never overwritten. Finalize hands it back: weighted with the apex
// Service alone and no owner reference, so that the user's IngressRoute keeps routing to the
// target once the Canary is gone.
//
// The objects are read and written as unstructured.Unstructured with the CRD's documented
// fields (spec.weighted.services, spec.mirroring): the Go types in the module
// github.com/traefik/traefik/v3 (package pkg/provider/kubernetes/crd/traefikio/v1alpha1) cannot
// be imported by another module, because that package depends on the module
// github.com/traefik/traefik/dynamic/ext, which Traefik's go.mod replaces with a directory of its
// own repository and which the module proxy does not serve; the same package would also bring
// Traefik's whole dynamic configuration and its dependencies into the controller.
package traefik

// The controller's permissions for this router (controller-gen reads them here):
// +kubebuilder:rbac:groups=traefik.io,resources=traefikservices,verbs=get;list;watch;create;patch
