package nginx

import (
	"context"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// newRouter is a router over a fake API server holding the user's Ingress podinfo and objs.
func newRouter(t *testing.T, objs ...client.Object) (*Router, client.Client, *writes) {
	t.Helper()
	s := runtime.NewScheme()
	if err := networkingv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := siskinv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	w := &writes{}
	objs = append([]client.Object{userIngress()}, objs...)
	cl := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithInterceptorFuncs(w.funcs()).Build()
	return New(cl, cl), cl, w
}

// userIngress is the user's Ingress podinfo: app.example.com/ to the apex Service podinfo,
// /static to another Service, with TLS, a class and an annotation of its own.
func userIngress() *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	backend := func(name string) networkingv1.IngressBackend {
		return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: name, Port: networkingv1.ServiceBackendPort{Number: 9898},
		}}
	}
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, Labels: map[string]string{"app": "podinfo"},
			Annotations: map[string]string{
				"nginx.ingress.kubernetes.io/proxy-body-size": "8m",
				lastApplied: `{"kind":"Ingress"}`,
			}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"app.example.com"}, SecretName: "app-tls"}},
			Rules: []networkingv1.IngressRule{{
				Host: "app.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					{Path: "/", PathType: &prefix, Backend: backend("podinfo")},
					{Path: "/static", PathType: &prefix, Backend: backend("assets")},
				}}},
			}},
		},
	}
}

// newCanary is a weighted canary of podinfo on port 9898 behind the Ingress podinfo.
func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, UID: types.UID("canary-uid")},
		Spec: siskinv1.CanarySpec{
			Provider:   siskinv1.ProviderNginx,
			TargetRef:  siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			IngressRef: &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"},
			Service:    siskinv1.CanaryService{Port: 9898},
			Analysis:   &siskinv1.CanaryAnalysis{Interval: "1m", StepWeight: 10, MaxWeight: ptr.To[int32](50)},
		},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

// abTest makes c an A/B test of matches.
func abTest(matches ...siskinv1.HTTPMatchRequest) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 10, Match: matches}
	}
}

// header is a match of one header.
func header(name string, m siskinv1.StringMatch) siskinv1.HTTPMatchRequest {
	return siskinv1.HTTPMatchRequest{Headers: map[string]siskinv1.StringMatch{name: m}}
}

func getIngress(t *testing.T, cl client.Client, name string) *networkingv1.Ingress {
	t.Helper()
	ing := &networkingv1.Ingress{}
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ing); err != nil {
		t.Fatalf("get Ingress %s: %v", name, err)
	}
	return ing
}
