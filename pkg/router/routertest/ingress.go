package routertest

import (
	"maps"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// UserIngress is the user's Ingress podinfo of the class: app.example.com/ to the apex Service
// podinfo and /static to another Service, with TLS, kubectl's last-applied configuration (which
// a copy must not carry), an annotation of Siskin's group and the annotations.
func UserIngress(class string, annotations map[string]string) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	backend := func(name string) networkingv1.IngressBackend {
		return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: name, Port: networkingv1.ServiceBackendPort{Number: 9898},
		}}
	}
	ann := map[string]string{
		"kubectl.kubernetes.io/last-applied-configuration": `{"kind":"Ingress"}`,
		"siskin.dev/something-of-its":                      "own",
	}
	maps.Copy(ann, annotations)
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: Namespace, Labels: map[string]string{"app": "podinfo"}, Annotations: ann},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To(class),
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

// IngressCanary is Canary of provider behind the user's Ingress podinfo (spec.ingressRef), on
// the port 9898 without a name.
func IngressCanary(provider string, mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	behindIngress := func(c *siskinv1.Canary) {
		c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
		c.Spec.Service.PortName = ""
	}
	return Canary(provider, append([]func(*siskinv1.Canary){behindIngress}, mods...)...)
}
