package all

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/providers"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/ingresscopy"
	"github.com/siskin-dev/siskin/pkg/router/kubernetes"
	"github.com/siskin-dev/siskin/pkg/target"
)

// RouteRef names the object that carries a Canary's weights, as operators look for it.
type RouteRef struct {
	// Kind is the routing object's kind ("VirtualService", "GRPCRoute", "Ingress", ...), or
	// "Pods of" for provider replicas, whose weights are shares of the target's pods.
	Kind string
	Name string
}

// Ref names the object that carries the weights of Canary cn through provider (cn's own, or
// the one its controller defaults to), and the kind of that object among those the provider's
// router owns (zero for provider replicas and kubernetes, whose weights are on no object of
// their own). A provider Siskin does not know is an error.
func Ref(cn *siskinv1.Canary, provider string) (RouteRef, schema.GroupVersionKind, error) {
	apex, _, _ := router.ServiceNames(cn)
	ref := RouteRef{Name: apex}
	info, ok := providers.Lookup(provider)
	if !ok {
		return ref, schema.GroupVersionKind{}, fmt.Errorf("provider %s is not supported by Siskin", provider)
	}
	ref.Kind = info.Route
	if k := cn.Spec.Service.RouteKind; k != "" && info.Route == siskinv1.RouteKindHTTPRoute {
		ref.Kind = k // a Gateway API route of another kind (spec.service.routeKind)
	}
	switch {
	case info.Pods:
		ref.Name = cn.Spec.TargetRef.Name // no route: the canary's share of the target's pods
	case info.IngressRef && cn.Spec.IngressRef != nil:
		ref.Name = cn.Spec.IngressRef.Name + ingresscopy.CanarySuffix // the weights are on the copy
	}
	for _, gvk := range info.Owns {
		if gvk.Kind == ref.Kind {
			return ref, gvk, nil
		}
	}
	return ref, schema.GroupVersionKind{}, nil
}

// Observe reads the live route of Canary cn through the router of provider (cn's own, or the
// one its controller defaults to), with c for every read, and names the object that carries
// its weights. A route that Siskin does not own is reported with the weights it carries and
// an error wrapping router.ErrNotOwned; a provider Siskin does not know is an error.
func Observe(ctx context.Context, c client.Client, cn *siskinv1.Canary, provider string) (RouteRef, canary.Route, error) {
	ref, _, err := Ref(cn, provider)
	if err != nil {
		return ref, canary.Route{}, err
	}
	rt := New(c, c, kubernetes.New(c, c, nil), target.NewKinds(c, c, nil, nil))[canonical(provider)]
	route, err := rt.Observe(ctx, cn)
	if err != nil && !errors.Is(err, router.ErrNotOwned) {
		return ref, canary.Route{}, err
	}
	return ref, route, err
}

// canonical is the registry's name of a provider or one of its aliases.
func canonical(provider string) string {
	info, _ := providers.Lookup(provider)
	return info.Name
}
