package traefik

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

const ns = "test"

// writes counts the write calls a router makes.
type writes struct{ n int }

func (w *writes) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			w.n++
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			w.n++
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			w.n++
			return c.Patch(ctx, obj, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			w.n++
			return c.Delete(ctx, obj, opts...)
		},
	}
}

// newRouter is a router over a fake API server holding objs.
func newRouter(t *testing.T, objs ...client.Object) (*Router, client.Client, *writes) {
	t.Helper()
	s := runtime.NewScheme()
	if err := siskinv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	w := &writes{}
	cl := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithInterceptorFuncs(w.funcs()).Build()
	return New(cl, cl), cl, w
}

// newCanary is a weighted canary of podinfo on port 9898.
func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, UID: types.UID("canary-uid")},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderTraefik,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   siskinv1.CanaryService{Port: 9898},
			Analysis:  &siskinv1.CanaryAnalysis{Interval: "1m", StepWeight: 10, MaxWeight: ptr.To[int32](50)},
		},
	}
	for _, m := range mods {
		m(c)
	}
	return c
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
	u := newObject()
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatalf("get TraefikService %s: %v", name, err)
	}
	return u
}
