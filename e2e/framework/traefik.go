package framework

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// providerTraefik is spec.provider traefik.
const providerTraefik = "traefik"

// Traefik's kinds: the TraefikService Siskin keeps and the IngressRoute a user writes.
var (
	TraefikServiceGVK = schema.GroupVersionKind{Group: "traefik.io", Version: "v1alpha1", Kind: "TraefikService"}
	IngressRouteGVK   = schema.GroupVersionKind{Group: "traefik.io", Version: "v1alpha1", Kind: "IngressRoute"}
)

// IngressRoute is the user's IngressRoute ns/name of provider traefik: the host Router.Host to
// the TraefikService named like the app.
func (r Router) IngressRoute(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(IngressRouteGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	u.Object["spec"] = map[string]any{"entryPoints": []any{"web"}, "routes": []any{map[string]any{
		"kind": "Rule", "match": fmt.Sprintf("Host(`%s`)", r.hostname(ns, name)),
		"services": []any{map[string]any{"name": name, "kind": "TraefikService"}},
	}}}
	return u
}

// traefikRoute reads the TraefikService ns/name as one rule: the weighted services with their
// weights (Traefik's default 1 where none is written), or the main service of a mirroring one
// at 100 with its first mirror.
func (e *Env) traefikRoute(ctx context.Context, ns, name string) (*Route, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(TraefikServiceGVK)
	key := types.NamespacedName{Namespace: ns, Name: name}
	if err := e.Client.Get(ctx, key, u); err != nil {
		return nil, fmt.Errorf("get TraefikService %s: %w", key, err)
	}
	rule := RouteRule{Name: "weighted"}
	if services, found, _ := unstructured.NestedSlice(u.Object, "spec", "weighted", "services"); found {
		for _, s := range services {
			ref, _ := s.(map[string]any)
			w, found, _ := unstructured.NestedInt64(ref, "weight")
			if !found {
				w = 1
			}
			svc, _ := ref["name"].(string)
			rule.Backends = append(rule.Backends, Backend{Service: svc, Weight: int32(w)})
		}
		return &Route{Rules: []RouteRule{rule}}, nil
	}
	m, found, _ := unstructured.NestedMap(u.Object, "spec", "mirroring")
	if !found {
		return nil, fmt.Errorf("TraefikService %s is neither weighted nor mirroring", key)
	}
	rule.Name = "mirroring"
	main, _ := m["name"].(string)
	rule.Backends = []Backend{{Service: main, Weight: 100}}
	mirrors, _, _ := unstructured.NestedSlice(m, "mirrors")
	if len(mirrors) > 0 {
		ref, _ := mirrors[0].(map[string]any)
		rule.Mirror, _ = ref["name"].(string)
		p, _, _ := unstructured.NestedInt64(ref, "percent")
		rule.MirrorPercent = float64(p)
	}
	return &Route{Rules: []RouteRule{rule}}, nil
}
