package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/nginx"
)

// The Canary page shows the route of every router as the controller reads it: for provider
// nginx, the canary Ingress copy and the weights it carries.
func TestTheTreeShowsTheRouteOfAnyRouter(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	prefix := networkingv1.PathTypePrefix
	user := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("nginx"), Rules: []networkingv1.IngressRule{{
			Host: "app.example.com",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "podinfo", Port: networkingv1.ServiceBackendPort{Number: 9898}}},
			}}}},
		}}},
	}
	if err := k8sClient.Create(ctx, user); err != nil {
		t.Fatal(err)
	}
	c := rollouttest.Canary(ns, "podinfo", siskinv1.ProviderNginx)
	c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "web"}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := nginx.New(k8sClient, k8sClient).Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30}); err != nil {
		t.Fatal(err)
	}

	s, ts := serve(t, env.Config, Options{Namespace: ns})
	res := do(t, ts, http.MethodGet, "/api/canaries/"+ns+"/podinfo", nil, session(t, s, ts))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("the Canary page: %s %s", res.Status, res.Body)
	}
	d := &Detail{}
	if err := json.Unmarshal(res.Body, d); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, n := range d.Tree {
		kinds = append(kinds, n.Kind+" "+n.Name)
		if n.Kind == "Ingress" && n.Name == "web-canary" {
			if !strings.Contains(n.Detail, "weights primary/canary 70/30") || n.Problem {
				t.Errorf("the route node: %+v, want the copy's weights 70/30", n)
			}
			return
		}
	}
	t.Errorf("the tree has no node of the canary Ingress web-canary: %v", kinds)
}
