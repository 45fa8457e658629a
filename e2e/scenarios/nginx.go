//go:build e2e

package scenarios

import (
	"strings"

	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// nginxKit is provider nginx: the user's Ingress (class nginx, host Router.Host, named like the
// app) routes to the apex Service, and Siskin keeps the canary Ingress <ingress>-canary beside
// it, which the data plane merges as ingress-nginx does. The Canary names the Ingress; the load
// test goes through the Ingress host, since ingress-nginx's metrics count only what an Ingress
// routed; at rest the canary Ingress has weight 0 and no match.
var nginxKit = routerKit{
	Router:     framework.Nginx,
	scenarios:  []string{"promotion", "rollback-errors", "ab-testing"},
	kind:       "canary Ingress",
	routedLoad: true,
	objects:    func(r *rig) []client.Object { return []client.Object{nginxIngress(r)} },
	canary: func(r *rig, c *siskinv1.Canary) {
		c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: r.in.Name}
	},
	atRest: func(rt *framework.Route, name string) (bool, string) {
		return len(rt.Rules) == 1 && rt.Weight("", name+"-canary") == 0 && rt.Weight("", name) == 100,
			name + " 100, no canary weight and no match"
	},
	metrics: `sum(nginx_ingress_controller_requests{namespace="{namespace}",ingress="{name}-canary"})`,
}

// nginxIngress is the user's Ingress of the app: its host to the apex Service.
func nginxIngress(r *rig) *knetworkingv1.Ingress {
	host, _, _ := strings.Cut(r.host(), ":")
	return &knetworkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.in.Namespace, Name: r.in.Name},
		Spec: knetworkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			Rules: []knetworkingv1.IngressRule{{Host: host, IngressRuleValue: knetworkingv1.IngressRuleValue{HTTP: &knetworkingv1.HTTPIngressRuleValue{
				Paths: []knetworkingv1.HTTPIngressPath{{
					Path: "/", PathType: ptr.To(knetworkingv1.PathTypePrefix),
					Backend: knetworkingv1.IngressBackend{Service: &knetworkingv1.IngressServiceBackend{
						Name: r.in.Name, Port: knetworkingv1.ServiceBackendPort{Number: r.in.Port},
					}},
				}},
			}}}},
		},
	}
}
