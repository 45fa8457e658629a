package skipper

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
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

// userIngress is the user's Ingress podinfo of class skipper, with a predicate and a filter of
// its own.
func userIngress() *networkingv1.Ingress {
	return routertest.UserIngress("skipper", map[string]string{
		annPredicate:                 `Method("GET") && Header("X-Team", "a&&b")`,
		"zalando.org/skipper-filter": `setRequestHeader("X-Via", "skipper")`,
	})
}

// newCanary is a weighted canary of podinfo on port 9898 behind the Ingress podinfo.
func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	return routertest.IngressCanary(siskinv1.ProviderSkipper, mods...)
}

func getIngress(t *testing.T, cl client.Client, name string) *networkingv1.Ingress {
	t.Helper()
	return routertest.Get(t, cl, name, &networkingv1.Ingress{})
}
