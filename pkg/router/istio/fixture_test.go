package istio

import (
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router/routertest"
)

const ns = routertest.Namespace

func newRouter(t *testing.T, objs ...client.Object) (*Router, client.Client, *routertest.Writes) {
	t.Helper()
	cl, w := routertest.Client(t, []func(*runtime.Scheme) error{networkingv1.AddToScheme}, nil, objs...)
	return New(cl, cl), cl, w
}

// newCanary is a weighted canary of podinfo on port 9898, rolling out revision 5d8f7c9b.
func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	return routertest.Canary(siskinv1.ProviderIstio, mods...)
}

func getVirtualService(t *testing.T, cl client.Client, name string) *networkingv1.VirtualService {
	t.Helper()
	return routertest.Get(t, cl, name, &networkingv1.VirtualService{})
}

func getDestinationRule(t *testing.T, cl client.Client, name string) *networkingv1.DestinationRule {
	t.Helper()
	return routertest.Get(t, cl, name, &networkingv1.DestinationRule{})
}
