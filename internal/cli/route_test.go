package cli

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
)

// The route of each provider is named after the object whose weights it reads.
func TestObserveRouteNamesTheObjectThatCarriesTheWeights(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(k8sClient.Scheme()).Build()
	for _, tc := range []struct {
		provider, kind, name string
		edit                 func(*siskinv1.Canary)
	}{
		{siskinv1.ProviderIstio, "VirtualService", "podinfo", nil},
		{siskinv1.ProviderNginx, "Ingress", "web-canary", func(cn *siskinv1.Canary) {
			cn.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "web"}
		}},
		{siskinv1.ProviderSkipper, "Ingress", "web-canary", func(cn *siskinv1.Canary) {
			cn.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "web"}
		}},
		{siskinv1.ProviderGatewayAPI, "HTTPRoute", "podinfo", nil},
		{siskinv1.ProviderGatewayAPI, "GRPCRoute", "podinfo", func(cn *siskinv1.Canary) { cn.Spec.Service.RouteKind = siskinv1.RouteKindGRPCRoute }},
		{siskinv1.ProviderGatewayAPI, "TCPRoute", "podinfo", func(cn *siskinv1.Canary) { cn.Spec.Service.RouteKind = siskinv1.RouteKindTCPRoute }},
		{siskinv1.ProviderReplicas, "Pods of", "podinfo", nil},
	} {
		cn := rollouttest.Canary("test", "podinfo", tc.provider)
		if tc.edit != nil {
			tc.edit(cn)
		}
		v := observeRoute(context.Background(), c, cn, tc.provider)
		if v.Kind != tc.kind || v.Name != tc.name {
			t.Errorf("%s route = %s %s, want %s %s", tc.provider, v.Kind, v.Name, tc.kind, tc.name)
		}
	}
}
