package all

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router/kubernetes"
	"github.com/siskin-dev/siskin/pkg/router/skipper"
	"github.com/siskin-dev/siskin/pkg/target"
)

// Provider skipper is routed by the backend-weights Ingress router.
func TestSkipperHasTheBackendWeightsRouter(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	routers := New(c, c, kubernetes.New(c, c, nil), target.NewKinds(c, c, nil, nil))
	if _, ok := routers[siskinv1.ProviderSkipper].(*skipper.Router); !ok {
		t.Errorf("provider skipper has router %T", routers[siskinv1.ProviderSkipper])
	}
}
