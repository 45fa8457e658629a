package contour

import (
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

const ns = routertest.Namespace

// newRouter is a router over a fake API server holding objs.
func newRouter(t *testing.T, objs ...client.Object) (*Router, client.Client, *routertest.Writes) {
	t.Helper()
	cl, w := routertest.Client(t, []func(*runtime.Scheme) error{contourv1.AddToScheme}, []client.Object{&contourv1.HTTPProxy{}}, objs...)
	return New(cl, cl), cl, w
}

// newCanary is a weighted canary of podinfo on port 9898.
func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	unnamedPort := func(c *siskinv1.Canary) { c.Spec.Service.PortName = "" }
	return routertest.Canary(siskinv1.ProviderContour, append([]func(*siskinv1.Canary){unnamedPort}, mods...)...)
}

func getProxy(t *testing.T, cl client.Client, name string) *contourv1.HTTPProxy {
	t.Helper()
	return routertest.Get(t, cl, name, &contourv1.HTTPProxy{})
}
