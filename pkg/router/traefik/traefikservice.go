package traefik

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/providers"
	"github.com/siskin-dev/siskin/pkg/router"
)

// GVK is the group, version and kind of a TraefikService (providers.TraefikService).
var GVK = providers.TraefikService

// kindTraefikService is the kind of the routing object, as it appears in messages and errors.
const kindTraefikService = "TraefikService"

// fullWeight is the weight of a backend that takes all the traffic.
const fullWeight = 100

// errRoute marks a route that a TraefikService cannot carry.
var errRoute = errors.New("provider traefik cannot route this")

// newObject is an empty TraefikService.
func newObject() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(GVK)
	return u
}

// serviceRef is one service of a TraefikService: a Kubernetes Service of the TraefikService's
// namespace on a port, with a weight in a weighted TraefikService or a percent as a mirror.
func serviceRef(name string, port int32) map[string]any {
	return map[string]any{"name": name, "port": int64(port)}
}

// desiredSpec is the spec of the TraefikService of c for the route d: weighted between the
// primary and the canary, or, while d mirrors, mirroring the primary's requests to the canary.
func desiredSpec(c *siskinv1.Canary, d canary.DesiredRoute) (map[string]any, error) {
	_, primary, canaryName := router.ServiceNames(c)
	port := c.Spec.Service.Port
	switch {
	case d.BaselineWeight > 0:
		return nil, fmt.Errorf("%w: a TraefikService of provider traefik routes the primary and the canary and cannot give <target>-baseline a weight (%d)", errRoute, d.BaselineWeight)
	case d.Mirror && (d.CanaryWeight != 0 || d.PrimaryWeight != fullWeight):
		return nil, fmt.Errorf("%w: a mirroring TraefikService sends every request to the primary, not %s", errRoute,
			router.FormatWeights(d.PrimaryWeight, d.CanaryWeight, 0))
	case d.Mirror:
		mirror := serviceRef(canaryName, port)
		mirror["percent"] = int64(router.MirrorWeight(c, d))
		main := serviceRef(primary, port)
		main["mirrors"] = []any{mirror}
		return map[string]any{"mirroring": main}, nil
	}
	p, cn := serviceRef(primary, port), serviceRef(canaryName, port)
	p["weight"], cn["weight"] = int64(d.PrimaryWeight), int64(d.CanaryWeight)
	return map[string]any{"weighted": map[string]any{"services": []any{p, cn}}}, nil
}

// handBackSpec is the spec that sends every request to the apex Service, which selects the
// target's pods once the Canary is gone.
func handBackSpec(c *siskinv1.Canary) map[string]any {
	apex, _, _ := router.ServiceNames(c)
	return map[string]any{"weighted": map[string]any{"services": []any{serviceRef(apex, c.Spec.Service.Port)}}}
}

// readRoute reads the weights and the mirror of a live TraefikService: the weights of the
// primary and canary services of a weighted one (Traefik's default weight 1 where none is
// written), or all traffic on the main service of a mirroring one and a mirror when the canary
// is among its mirrors. Services of other names, namespaces or kinds carry nothing of the route.
func readRoute(c *siskinv1.Canary, u *unstructured.Unstructured) canary.Route {
	var route canary.Route
	_, primary, canaryName := router.ServiceNames(c)
	weightOf := func(name string, ref map[string]any) {
		if !ours(c, ref) {
			return
		}
		w := int64(1)
		if v, found, err := unstructured.NestedFieldNoCopy(ref, "weight"); found && err == nil {
			w = toInt(v)
		}
		switch name {
		case primary:
			route.PrimaryWeight += int32(w)
		case canaryName:
			route.CanaryWeight += int32(w)
		}
	}
	if services, found, _ := unstructured.NestedSlice(u.Object, "spec", "weighted", "services"); found {
		for _, s := range services {
			if ref, ok := s.(map[string]any); ok {
				name, _ := ref["name"].(string)
				weightOf(name, ref)
			}
		}
		return route
	}
	m, found, _ := unstructured.NestedMap(u.Object, "spec", "mirroring")
	if !found || !ours(c, m) {
		return route
	}
	switch name, _ := m["name"].(string); name {
	case primary:
		route.PrimaryWeight = fullWeight
	case canaryName:
		route.CanaryWeight = fullWeight
	}
	mirrors, _, _ := unstructured.NestedSlice(m, "mirrors")
	for _, s := range mirrors {
		if ref, ok := s.(map[string]any); ok && ours(c, ref) && ref["name"] == canaryName {
			route.Mirror = true
		}
	}
	return route
}

// ours reports whether a service reference of a TraefikService names a Kubernetes Service of
// the Canary's namespace.
func ours(c *siskinv1.Canary, ref map[string]any) bool {
	kind, _ := ref["kind"].(string)
	ns, _ := ref["namespace"].(string)
	return (kind == "" || kind == "Service") && (ns == "" || ns == c.Namespace)
}

// toInt reads a JSON number as an int64 (the API server's int64, or a float64 from a client
// that decoded JSON itself).
func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}
