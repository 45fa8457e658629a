package controller

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The router scenarios through provider skipper: the user's Ingress podinfo (class skipper)
// routes to the apex Service, and the weights are read from the canary Ingress podinfo-canary
// as Skipper would read them: the backend-weights of its paths to podinfo-primary and
// podinfo-canary, none of it while its predicate disables its routes.
func TestSkipperRouter(t *testing.T) {
	t.Parallel()
	runRouterScenarios(t, routerCase{
		provider: siskinv1.ProviderSkipper,
		prepare: func(t *testing.T, ns string) {
			ing := nginxIngress(ns, "podinfo")
			ing.Spec.IngressClassName = ptr.To("skipper")
			if err := k8sClient.Create(context.Background(), ing); err != nil {
				t.Fatal(err)
			}
		},
		spec: func(c *siskinv1.Canary) {
			c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
		},
		route:       skipperIngressRoute,
		handWritten: func(ns string) client.Object { return nginxIngress(ns, "podinfo-canary") },
	})
}

// skipperIngressRoute reads the weights of the canary Ingress as Skipper routes it: its routes
// win over the user's unless its predicate starts with False(), and then split the requests of
// each path between its backends by zalando.org/backend-weights.
func skipperIngressRoute(ctx context.Context, ns string) (liveRoute, bool, error) {
	ing := &networkingv1.Ingress{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-canary"}, ing); apierrors.IsNotFound(err) {
		return liveRoute{}, false, nil
	} else if err != nil {
		return liveRoute{}, false, err
	}
	backends := map[string]bool{}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Backend.Service != nil {
				backends[p.Backend.Service.Name] = true
			}
		}
	}
	if len(backends) != 2 || !backends["podinfo-primary"] || !backends["podinfo-canary"] {
		return liveRoute{}, false, nil
	}
	predicate := strings.TrimSpace(ing.Annotations["zalando.org/skipper-predicate"])
	if strings.HasPrefix(predicate, "False()") {
		return liveRoute{weights: routeWeights{primary: 100}, programmed: true}, true, nil
	}
	var w map[string]float64
	if err := json.Unmarshal([]byte(ing.Annotations["zalando.org/backend-weights"]), &w); err != nil || !strings.HasPrefix(predicate, "Weight(") {
		return liveRoute{}, false, nil
	}
	total := w["podinfo-primary"] + w["podinfo-canary"]
	if total <= 0 {
		return liveRoute{}, false, nil
	}
	c := int32(math.Round(100 * w["podinfo-canary"] / total))
	return liveRoute{weights: routeWeights{primary: 100 - c, canary: c}, programmed: true}, true, nil
}
