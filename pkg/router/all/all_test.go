package all

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
	"github.com/siskin-dev/siskin/pkg/router/kubernetes"
	"github.com/siskin-dev/siskin/pkg/router/nginx"
	"github.com/siskin-dev/siskin/pkg/target"
)

// Every registered provider has a router, and every router a registered provider.
func TestEveryProviderHasARouter(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	routers := New(c, c, kubernetes.New(c, c, nil), target.NewKinds(c, c, nil, nil))
	for _, p := range providers.All {
		if routers[p.Name] == nil {
			t.Errorf("provider %s has no router", p.Name)
		}
	}
	if len(routers) != len(providers.All) {
		t.Errorf("%d routers for %d providers", len(routers), len(providers.All))
	}
}

// Provider nginx is routed by the canary Ingress router.
func TestNginxHasTheIngressRouter(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	routers := New(c, c, kubernetes.New(c, c, nil), target.NewKinds(c, c, nil, nil))
	if _, ok := routers[siskinv1.ProviderNginx].(*nginx.Router); !ok {
		t.Errorf("provider nginx has router %T", routers[siskinv1.ProviderNginx])
	}
}
