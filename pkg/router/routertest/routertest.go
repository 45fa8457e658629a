// Package routertest is what the tests of every router share: a fake API server that counts
// the writes a router makes, the Canary they route, the objects as stored rendered to YAML, and
// the golden files those are compared with. A router's tests keep only what is its own: its
// objects and the cases its data plane supports.
package routertest

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Namespace is where the tests' objects live.
const Namespace = "test"

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Writes counts the write calls made through a Client.
type Writes struct{ N int }

// Funcs are interceptors that count every create, update, patch and delete.
func (w *Writes) Funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			w.N++
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			w.N++
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			w.N++
			return c.Patch(ctx, obj, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			w.N++
			return c.Delete(ctx, obj, opts...)
		},
	}
}

// Client is a fake API server with Kubernetes' built-in kinds, Siskin's and those adds add,
// holding objs, whose status subresource is served for statuses (the kinds whose status a
// data plane writes, such as HTTPRoutes), counting the writes made through it.
func Client(t testing.TB, adds []func(*runtime.Scheme) error, statuses []client.Object, objs ...client.Object) (client.WithWatch, *Writes) {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range append([]func(*runtime.Scheme) error{clientgoscheme.AddToScheme, siskinv1.AddToScheme}, adds...) {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	w := &Writes{}
	b := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithInterceptorFuncs(w.Funcs())
	if len(statuses) > 0 {
		b = b.WithStatusSubresource(statuses...)
	}
	return b.Build(), w
}

// Canary is a weighted Canary of the Deployment podinfo through provider, on port 9898 (named
// http), rolling out revision 5d8f7c9b: steps of 10 up to 50 every minute.
func Canary(provider string, mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: Namespace, UID: types.UID("canary-uid")},
		Spec: siskinv1.CanarySpec{
			Provider:  provider,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   siskinv1.CanaryService{Port: 9898, PortName: "http"},
			Analysis:  &siskinv1.CanaryAnalysis{Interval: "1m", StepWeight: 10, MaxWeight: ptr.To[int32](50)},
		},
		Status: siskinv1.CanaryStatus{LastAppliedSpec: "5d8f7c9b"},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

// ABTest makes a Canary an A/B test of matches, ten iterations of a minute.
func ABTest(matches ...siskinv1.HTTPMatchRequest) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 10, Match: matches}
	}
}

// Header is a match of one header.
func Header(name string, m siskinv1.StringMatch) siskinv1.HTTPMatchRequest {
	return siskinv1.HTTPMatchRequest{Headers: map[string]siskinv1.StringMatch{name: m}}
}

// Get reads the object named name in Namespace into obj, failing the test when it cannot.
func Get[T client.Object](t testing.TB, cl client.Client, name string, obj T) T {
	t.Helper()
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: Namespace, Name: name}, obj); err != nil {
		t.Fatalf("get %T %s: %v", obj, name, err)
	}
	return obj
}

// Edit reads the object named name in Namespace into obj, changes it with edit and writes it
// back, as a person editing it by hand does, failing the test when it cannot.
func Edit[T client.Object](t testing.TB, cl client.Client, name string, obj T, edit func(T)) {
	t.Helper()
	edit(Get(t, cl, name, obj))
	if err := cl.Update(context.Background(), obj); err != nil {
		t.Fatalf("update %T %s: %v", obj, name, err)
	}
}

// List returns the objects of list's kind in Namespace, in name order.
func List(t testing.TB, cl client.Client, list client.ObjectList) []client.Object {
	t.Helper()
	if err := cl.List(context.Background(), list, client.InNamespace(Namespace)); err != nil {
		t.Fatal(err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatal(err)
	}
	objs := make([]client.Object, 0, len(items))
	for _, it := range items {
		objs = append(objs, it.(client.Object))
	}
	slices.SortFunc(objs, func(a, b client.Object) int { return strings.Compare(a.GetName(), b.GetName()) })
	return objs
}

// YAML is the YAML of objs as stored, with their apiVersion and kind and without a
// resourceVersion, separated by "---".
func YAML(t testing.TB, cl client.Client, objs ...client.Object) []byte {
	t.Helper()
	var out bytes.Buffer
	for i, o := range objs {
		gvk, err := apiutil.GVKForObject(o, cl.Scheme())
		if err != nil {
			t.Fatal(err)
		}
		o = o.DeepCopyObject().(client.Object)
		o.SetResourceVersion("")
		o.GetObjectKind().SetGroupVersionKind(gvk)
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	return out.Bytes()
}

// Golden compares got with testdata/<name>.golden.yaml; go test -update rewrites the file.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the generated objects (run go test -update to accept):\n%s", path, got)
	}
}
