package traefik

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

const ns = routertest.Namespace

// newRouter is a router over a fake API server holding objs (the TraefikService kind is
// served as unstructured, as the controller reads it).
func newRouter(t *testing.T, objs ...client.Object) (*Router, client.Client, *routertest.Writes) {
	t.Helper()
	cl, w := routertest.Client(t, nil, nil, objs...)
	return New(cl, cl), cl, w
}

// newCanary is a weighted canary of podinfo on port 9898.
func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	plain := func(c *siskinv1.Canary) { c.Spec.Service.PortName, c.Status.LastAppliedSpec = "", "" }
	return routertest.Canary(siskinv1.ProviderTraefik, append([]func(*siskinv1.Canary){plain}, mods...)...)
}

// mirrored makes c mirror mirrorWeight percent of the requests (0: the default).
func mirrored(mirrorWeight int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		c.Spec.Analysis.Mirror = true
		if mirrorWeight > 0 {
			c.Spec.Analysis.MirrorWeight = ptr.To(mirrorWeight)
		}
	}
}

// traefikService is a TraefikService of the test namespace with a spec.
func traefikService(name string, annotations map[string]string, spec map[string]any) *unstructured.Unstructured {
	u := newObject()
	u.SetName(name)
	u.SetNamespace(ns)
	if annotations != nil {
		u.SetAnnotations(annotations)
	}
	u.Object["spec"] = spec
	return u
}

func getTraefikService(t *testing.T, cl client.Client, name string) *unstructured.Unstructured {
	t.Helper()
	return routertest.Get(t, cl, name, newObject())
}
