package controller

import (
	"context"
	"strconv"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The router scenarios through provider nginx: the user's Ingress podinfo routes to the apex
// Service, and the weights are read from the canary Ingress podinfo-canary as ingress-nginx
// would read them.
func TestNginxRouter(t *testing.T) {
	t.Parallel()
	runRouterScenarios(t, routerCase{
		provider: siskinv1.ProviderNginx,
		prepare: func(t *testing.T, ns string) {
			if err := k8sClient.Create(context.Background(), nginxIngress(ns, "podinfo")); err != nil {
				t.Fatal(err)
			}
		},
		spec: func(c *siskinv1.Canary) {
			c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
		},
		route:       canaryIngressRoute,
		handWritten: func(ns string) client.Object { return nginxIngress(ns, "podinfo-canary") },
	})
}

// nginxIngress is an Ingress of app.example.com to the apex Service podinfo.
func nginxIngress(ns, name string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			Rules: []networkingv1.IngressRule{{
				Host: "app.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: "podinfo", Port: networkingv1.ServiceBackendPort{Number: 9898},
					}},
				}}}},
			}},
		},
	}
}

// canaryIngressRoute reads the weights of the canary Ingress: ingress-nginx sends it
// canary-weight percent of the requests, and the rest to the user's Ingress.
func canaryIngressRoute(ctx context.Context, ns string) (liveRoute, bool, error) {
	ing := &networkingv1.Ingress{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-canary"}, ing); apierrors.IsNotFound(err) {
		return liveRoute{}, false, nil
	} else if err != nil {
		return liveRoute{}, false, err
	}
	a := ing.Annotations
	w, err := strconv.Atoi(a["nginx.ingress.kubernetes.io/canary-weight"])
	if a["nginx.ingress.kubernetes.io/canary"] != "true" || err != nil {
		return liveRoute{}, false, nil
	}
	return liveRoute{weights: routeWeights{primary: int32(100 - w), canary: int32(w)}, programmed: true}, true, nil
}
