package skipper

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

const ns = routertest.Namespace

// newRouter is a router over a fake API server holding the user's Ingress podinfo and objs.
func newRouter(t *testing.T, objs ...client.Object) (*Router, client.Client, *routertest.Writes) {
	t.Helper()
	cl, w := routertest.Client(t, nil, nil, append([]client.Object{userIngress()}, objs...)...)
	return New(cl, cl), cl, w
}

// userIngress is the user's Ingress podinfo of class skipper: app.example.com/ to the apex
// Service podinfo, /static to another Service, with TLS, a predicate and a filter of its own.
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
				annPredicate:                  `Method("GET") && Header("X-Team", "a&&b")`,
				"zalando.org/skipper-filter":  `setRequestHeader("X-Via", "skipper")`,
				lastApplied:                   `{"kind":"Ingress"}`,
				"siskin.dev/something-of-its": "own",
			}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("skipper"),
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
	behindIngress := func(c *siskinv1.Canary) {
		c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
		c.Spec.Service.PortName = ""
	}
	return routertest.Canary(siskinv1.ProviderSkipper, append([]func(*siskinv1.Canary){behindIngress}, mods...)...)
}

func getIngress(t *testing.T, cl client.Client, name string) *networkingv1.Ingress {
	t.Helper()
	return routertest.Get(t, cl, name, &networkingv1.Ingress{})
}
