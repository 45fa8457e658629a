package controller

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router/traefik"
)

// The router scenarios through provider traefik, against Traefik's CRDs: the user's
// IngressRoute podinfo routes to the TraefikService podinfo, whose weights are read as Traefik
// would read them.
func TestTraefikRouter(t *testing.T) {
	t.Parallel()
	runRouterScenarios(t, routerCase{
		provider: siskinv1.ProviderTraefik,
		prepare: func(t *testing.T, ns string) {
			if err := k8sClient.Create(context.Background(), ingressRoute(ns)); err != nil {
				t.Fatal(err)
			}
		},
		spec:        func(*siskinv1.Canary) {},
		route:       traefikServiceRoute,
		handWritten: handWrittenTraefikService,
	})
}

// ingressRoute is the user's IngressRoute podinfo: app.example.com to the TraefikService podinfo.
func ingressRoute(ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(traefik.GVK.GroupVersion().WithKind("IngressRoute"))
	u.SetNamespace(ns)
	u.SetName("podinfo")
	u.Object["spec"] = map[string]any{"entryPoints": []any{"web"}, "routes": []any{map[string]any{
		"kind": "Rule", "match": "Host(`app.example.com`)",
		"services": []any{map[string]any{"name": "podinfo", "kind": "TraefikService"}},
	}}}
	return u
}

// handWrittenTraefikService is a TraefikService podinfo that a user wrote.
func handWrittenTraefikService(ns string) client.Object {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(traefik.GVK)
	u.SetNamespace(ns)
	u.SetName("podinfo")
	u.Object["spec"] = map[string]any{"weighted": map[string]any{"services": []any{
		map[string]any{"name": "podinfo", "port": int64(9898)},
	}}}
	return u
}

// traefikServiceRoute reads the weights of the TraefikService podinfo as Traefik weighs its
// services: podinfo-primary and podinfo-canary on port 9898, a missing weight being 1.
func traefikServiceRoute(ctx context.Context, ns string) (liveRoute, bool, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(traefik.GVK)
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, u); apierrors.IsNotFound(err) {
		return liveRoute{}, false, nil
	} else if err != nil {
		return liveRoute{}, false, err
	}
	services, found, _ := unstructured.NestedSlice(u.Object, "spec", "weighted", "services")
	if !found {
		return liveRoute{}, false, nil
	}
	var w routeWeights
	for _, s := range services {
		ref, _ := s.(map[string]any)
		weight, found, _ := unstructured.NestedInt64(ref, "weight")
		if !found {
			weight = 1
		}
		if port, _, _ := unstructured.NestedInt64(ref, "port"); port != 9898 {
			continue
		}
		switch ref["name"] {
		case "podinfo-primary":
			w.primary += int32(weight)
		case "podinfo-canary":
			w.canary += int32(weight)
		}
	}
	return liveRoute{weights: w, programmed: true}, true, nil
}
