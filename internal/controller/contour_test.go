package controller

import (
	"context"
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The router scenarios through provider contour, against the API server with Contour's CRDs:
// the user's root HTTPProxy includes podinfo, and the weights are read from the route of the
// HTTPProxy podinfo as Contour would read them.
func TestContourRouter(t *testing.T) {
	t.Parallel()
	runRouterScenarios(t, routerCase{
		provider: siskinv1.ProviderContour,
		prepare: func(t *testing.T, ns string) {
			if err := k8sClient.Create(context.Background(), rootHTTPProxy(ns)); err != nil {
				t.Fatal(err)
			}
		},
		spec:        func(*siskinv1.Canary) {},
		route:       httpProxyRoute,
		handWritten: handWrittenHTTPProxy,
	})
}

// rootHTTPProxy is the user's root HTTPProxy of app.example.com, which includes podinfo.
func rootHTTPProxy(ns string) *contourv1.HTTPProxy {
	return &contourv1.HTTPProxy{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: contourv1.HTTPProxySpec{
			VirtualHost: &contourv1.VirtualHost{Fqdn: "app.example.com"},
			Includes:    []contourv1.Include{{Name: "podinfo", Conditions: []contourv1.MatchCondition{{Prefix: "/"}}}},
		},
	}
}

// handWrittenHTTPProxy is an HTTPProxy named like the apex Service that a user wrote.
func handWrittenHTTPProxy(ns string) client.Object {
	return &contourv1.HTTPProxy{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: contourv1.HTTPProxySpec{Routes: []contourv1.Route{{
			Services: []contourv1.Service{{Name: "podinfo", Port: 9898}},
		}}},
	}
}

// httpProxyRoute reads the weights of the first route of HTTPProxy podinfo, whose services are
// podinfo-primary and podinfo-canary.
func httpProxyRoute(ctx context.Context, ns string) (liveRoute, bool, error) {
	p := &contourv1.HTTPProxy{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, p); apierrors.IsNotFound(err) {
		return liveRoute{}, false, nil
	} else if err != nil {
		return liveRoute{}, false, err
	}
	if len(p.Spec.Routes) == 0 {
		return liveRoute{}, false, nil
	}
	var w routeWeights
	for _, s := range p.Spec.Routes[0].Services {
		switch {
		case s.Mirror:
		case s.Name == "podinfo-primary":
			w.primary = int32(s.Weight)
		case s.Name == "podinfo-canary":
			w.canary = int32(s.Weight)
		}
	}
	return liveRoute{weights: w, programmed: true}, true, nil
}
