package all

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router/kubernetes"
	"github.com/siskin-dev/siskin/pkg/router/traefik"
	"github.com/siskin-dev/siskin/pkg/target"
)

// Provider traefik is routed by the TraefikService router.
func TestTraefikHasTheTraefikServiceRouter(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	routers := New(c, c, kubernetes.New(c, c, nil), target.NewKinds(c, c, nil, nil))
	if _, ok := routers[siskinv1.ProviderTraefik].(*traefik.Router); !ok {
		t.Errorf("provider traefik has router %T", routers[siskinv1.ProviderTraefik])
	}
}
