package controller

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The router scenarios through provider linkerd: no Gateway and no gatewayRefs; the HTTPRoute
// podinfo's parent is the apex Service podinfo (GAMMA), which Linkerd's policy controller (played
// by runGateway) accepts, and the weights are read from it as Linkerd's proxies would.
func TestLinkerdRouter(t *testing.T) {
	t.Parallel()
	runRouterScenarios(t, routerCase{
		provider: siskinv1.ProviderLinkerd,
		prepare: func(t *testing.T, ns string) {
			runGateway(t, ns, gatewayDelay)
		},
		spec: func(*siskinv1.Canary) {},
		route: func(ctx context.Context, ns string) (liveRoute, bool, error) {
			r, ok, err := httpRouteRoute(ctx, ns)
			if err != nil || !ok {
				return r, ok, err
			}
			// A route attached elsewhere than the apex Service would not split mesh traffic.
			return r, ok, meshParent(ctx, ns)
		},
		handWritten: handWrittenHTTPRoute,
	})
}

// meshParent fails unless the HTTPRoute podinfo's only parent is Service podinfo on port 9898.
func meshParent(ctx context.Context, ns string) error {
	rt, err := getRoute(ctx, ns)
	if err != nil {
		return err
	}
	if p := rt.Spec.ParentRefs; len(p) != 1 || ptr.Deref(p[0].Group, "x") != "" || ptr.Deref(p[0].Kind, "") != "Service" ||
		p[0].Name != "podinfo" || ptr.Deref(p[0].Port, 0) != 9898 || len(rt.Spec.Hostnames) != 0 {
		return errNotMesh{parents: p}
	}
	return nil
}

type errNotMesh struct{ parents []gatewayv1.ParentReference }

func (e errNotMesh) Error() string {
	return fmt.Sprintf("HTTPRoute podinfo has parents %+v and hostnames, want Service podinfo:9898 alone", e.parents)
}

func getRoute(ctx context.Context, ns string) (*gatewayv1.HTTPRoute, error) {
	rt := &gatewayv1.HTTPRoute{}
	return rt, k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, rt)
}
