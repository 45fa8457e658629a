package framework

import (
	"context"
	"fmt"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Contour routes through the user's root HTTPProxy (named <app>-root, virtualhost.fqdn Host),
// which includes the HTTPProxy Siskin keeps, named like the apex Service.
var Contour = Router{Provider: siskinv1.ProviderContour}

// RootHTTPProxy is the user's root HTTPProxy of provider contour for the app ns/name: the host
// Router.Host, including the HTTPProxy named like the app.
func (r Router) RootHTTPProxy(ns, name string) *contourv1.HTTPProxy {
	return &contourv1.HTTPProxy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-root"},
		Spec: contourv1.HTTPProxySpec{
			VirtualHost: &contourv1.VirtualHost{Fqdn: r.hostname(ns, name)},
			Includes:    []contourv1.Include{{Name: name, Conditions: []contourv1.MatchCondition{{Prefix: "/"}}}},
		},
	}
}

// contourRoute reads the HTTPProxy ns/name rule by rule: a route with header or query
// conditions is a "match" rule, one with the path alone the "default" rule; the weighted
// services are its backends and a mirror service its mirror.
func (e *Env) contourRoute(ctx context.Context, ns, name string) (*Route, error) {
	var p contourv1.HTTPProxy
	key := types.NamespacedName{Namespace: ns, Name: name}
	if err := e.Client.Get(ctx, key, &p); err != nil {
		return nil, fmt.Errorf("get HTTPProxy %s: %w", key, err)
	}
	out := &Route{}
	for _, r := range p.Spec.Routes {
		rule := RouteRule{Name: "default"}
		for _, c := range r.Conditions {
			if c.Header != nil || c.QueryParameter != nil {
				rule.Name = "match"
			}
		}
		for _, s := range r.Services {
			if s.Mirror {
				rule.Mirror, rule.MirrorPercent = s.Name, 100
				if s.Weight > 0 {
					rule.MirrorPercent = float64(s.Weight)
				}
				continue
			}
			rule.Backends = append(rule.Backends, Backend{Service: s.Name, Weight: int32(s.Weight)})
		}
		out.Rules = append(out.Rules, rule)
	}
	return out, nil
}
