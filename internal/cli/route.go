package cli

import (
	"context"
	"errors"
	"fmt"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/providers"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/all"
	"github.com/siskin-dev/siskin/pkg/router/ingresscopy"
	"github.com/siskin-dev/siskin/pkg/router/kubernetes"
	"github.com/siskin-dev/siskin/pkg/target"
)

// resolveProvider is spec.provider or, when the Canary names none (the controller's default
// applies, which the plugin cannot read), the router whose objects exist: a VirtualService,
// else an HTTPRoute, else plain Services.
func resolveProvider(ctx context.Context, c client.Reader, cn *siskinv1.Canary) string {
	if p := canary.Provider(&cn.Spec, ""); p != "" {
		return p // its own, or replicas for a StatefulSet
	}
	apex, _, _ := router.ServiceNames(cn)
	key := client.ObjectKey{Namespace: cn.Namespace, Name: apex}
	if err := c.Get(ctx, key, &networkingv1.VirtualService{}); err == nil {
		return siskinv1.ProviderIstio
	}
	if err := c.Get(ctx, key, &gatewayv1.HTTPRoute{}); err == nil {
		return siskinv1.ProviderGatewayAPI
	}
	return siskinv1.ProviderKubernetes
}

// RouteView is the live route of a Canary, as its router reads it.
type RouteView struct {
	Provider      string `json:"provider"`
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	PrimaryWeight int32  `json:"primaryWeight"`
	CanaryWeight  int32  `json:"canaryWeight"`
	// BaselineWeight is the weight of <target>-baseline (analysis.comparison control baseline).
	BaselineWeight int32  `json:"baselineWeight,omitempty"`
	Mirror         bool   `json:"mirror,omitempty"`
	Converged      bool   `json:"converged"`
	Message        string `json:"message,omitempty"`
}

// observeRoute reads the weights actually in the live route through the controller's own
// router code.
func observeRoute(ctx context.Context, c client.Client, cn *siskinv1.Canary, provider string) RouteView {
	apex, _, _ := router.ServiceNames(cn)
	v := RouteView{Provider: provider, Name: apex}
	info, ok := providers.Lookup(provider)
	if !ok {
		v.Message = fmt.Sprintf("provider %s is not supported by Siskin", provider)
		return v
	}
	v.Kind = info.Route
	if k := cn.Spec.Service.RouteKind; k != "" && info.Route == siskinv1.RouteKindHTTPRoute {
		v.Kind = k // a Gateway API route of another kind (spec.service.routeKind)
	}
	switch {
	case info.Pods:
		v.Name = cn.Spec.TargetRef.Name // no route: the canary's share of the target's pods
	case info.IngressRef && cn.Spec.IngressRef != nil:
		v.Name = cn.Spec.IngressRef.Name + ingresscopy.CanarySuffix // the weights are on the copy
	}
	kinds := target.NewKinds(c, c, nil, nil)
	rt := all.New(c, c, kubernetes.New(c, c, nil), kinds)[info.Name]
	r, err := rt.Observe(ctx, cn)
	if err != nil && !errors.Is(err, router.ErrNotOwned) {
		v.Message = err.Error()
		return v
	}
	v.PrimaryWeight, v.CanaryWeight, v.Mirror, v.Converged, v.Message = r.PrimaryWeight, r.CanaryWeight, r.Mirror, r.Converged, r.Message
	v.BaselineWeight = r.BaselineWeight
	if err != nil {
		v.Message = err.Error()
	}
	return v
}
