package cli

import (
	"context"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/all"
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
	ref, r, err := all.Observe(ctx, c, cn, provider)
	v := RouteView{Provider: provider, Kind: ref.Kind, Name: ref.Name,
		PrimaryWeight: r.PrimaryWeight, CanaryWeight: r.CanaryWeight, BaselineWeight: r.BaselineWeight,
		Mirror: r.Mirror, Converged: r.Converged, Message: r.Message}
	if err != nil {
		v.Message = err.Error()
	}
	return v
}
