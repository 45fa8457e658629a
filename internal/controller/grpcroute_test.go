package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The router scenarios through provider gatewayapi with spec.service.routeKind GRPCRoute,
// against the API server with Gateway API's CRDs: the weights are read from the GRPCRoute
// podinfo as the Gateway (played by runRouteGateway) would read them.
func TestGRPCRouteRouter(t *testing.T) {
	t.Parallel()
	runRouterScenarios(t, routerCase{
		provider: siskinv1.ProviderGatewayAPI,
		prepare: func(t *testing.T, ns string) {
			createGateway(t, ns)
			runRouteGateway(t, ns, gatewayDelay)
		},
		spec: func(c *siskinv1.Canary) {
			c.Spec.Service.RouteKind = siskinv1.RouteKindGRPCRoute
			c.Spec.Service.GatewayRefs = []siskinv1.ParentReference{{Name: testGatewayName}}
			c.Spec.Service.Hosts = []string{"grpc.example.com"}
			c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/podinfo.Greeter/"}}}
		},
		route:       liveRouteOf(&gatewayv1.GRPCRoute{}, siskinv1.RouteKindGRPCRoute),
		handWritten: handWrittenRouteOf(&gatewayv1.GRPCRoute{}),
	})
}

// The router scenarios through provider gatewayapi with spec.service.routeKind TCPRoute: no
// hostnames and no matches, the weights of the TCPRoute podinfo's one rule.
func TestTCPRouteRouter(t *testing.T) {
	t.Parallel()
	runRouterScenarios(t, routerCase{
		provider: siskinv1.ProviderGatewayAPI,
		prepare: func(t *testing.T, ns string) {
			createGateway(t, ns)
			runRouteGateway(t, ns, gatewayDelay)
		},
		spec: func(c *siskinv1.Canary) {
			c.Spec.Service.RouteKind = siskinv1.RouteKindTCPRoute
			c.Spec.Service.AppProtocol = "tcp"
			c.Spec.Service.GatewayRefs = []siskinv1.ParentReference{{Name: testGatewayName}}
		},
		route:       liveRouteOf(&gatewayv1.TCPRoute{}, siskinv1.RouteKindTCPRoute),
		handWritten: handWrittenRouteOf(&gatewayv1.TCPRoute{}),
	})
}

// liveRouteOf reads the weights of the last rule of the route podinfo of the type of proto
// (a GRPCRoute or a TCPRoute), and whether the Gateway accepted its current generation; a
// route of another kind than kind is also looked for, and is an error: the Canary asked for
// kind.
func liveRouteOf(proto client.Object, kind string) func(ctx context.Context, ns string) (liveRoute, bool, error) {
	return func(ctx context.Context, ns string) (liveRoute, bool, error) {
		key := client.ObjectKey{Namespace: ns, Name: "podinfo"}
		if err := k8sClient.Get(ctx, key, &gatewayv1.HTTPRoute{}); err == nil {
			return liveRoute{}, false, fmt.Errorf("an HTTPRoute podinfo exists beside the %s", kind)
		}
		rt := proto.DeepCopyObject().(client.Object)
		if err := k8sClient.Get(ctx, key, rt); apierrors.IsNotFound(err) {
			return liveRoute{}, false, nil
		} else if err != nil {
			return liveRoute{}, false, err
		}
		backends, refs, statuses := routeParts(rt)
		var w routeWeights
		found := false
		for _, b := range backends {
			switch b.Name {
			case "podinfo-primary":
				w.primary, found = ptr.Deref(b.Weight, 1), true
			case "podinfo-canary":
				w.canary, found = ptr.Deref(b.Weight, 1), true
			}
		}
		return liveRoute{weights: w, programmed: accepted(rt.GetGeneration(), refs, statuses)}, found, nil
	}
}

// routeParts are the backends of the last rule of a GRPCRoute or TCPRoute, its parents and
// their statuses.
func routeParts(obj client.Object) ([]gatewayv1.BackendRef, []gatewayv1.ParentReference, []gatewayv1.RouteParentStatus) {
	var backends []gatewayv1.BackendRef
	switch rt := obj.(type) {
	case *gatewayv1.GRPCRoute:
		if n := len(rt.Spec.Rules); n > 0 {
			for _, b := range rt.Spec.Rules[n-1].BackendRefs {
				backends = append(backends, b.BackendRef)
			}
		}
		return backends, rt.Spec.ParentRefs, rt.Status.Parents
	case *gatewayv1.TCPRoute:
		if n := len(rt.Spec.Rules); n > 0 {
			backends = rt.Spec.Rules[n-1].BackendRefs
		}
		return backends, rt.Spec.ParentRefs, rt.Status.Parents
	}
	panic(fmt.Sprintf("no route: %T", obj))
}

// accepted reports whether every parent has accepted generation gen.
func accepted(gen int64, refs []gatewayv1.ParentReference, statuses []gatewayv1.RouteParentStatus) bool {
	if len(statuses) != len(refs) {
		return false
	}
	for _, s := range statuses {
		c := meta.FindStatusCondition(s.Conditions, string(gatewayv1.RouteConditionAccepted))
		if c == nil || c.ObservedGeneration != gen {
			return false
		}
	}
	return true
}

// handWrittenRouteOf is a route of the type of proto named like the apex Service that a user
// wrote, sending everything to the apex Service.
func handWrittenRouteOf(proto client.Object) func(ns string) client.Object {
	return func(ns string) client.Object {
		backend := gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "podinfo", Port: ptr.To[gatewayv1.PortNumber](9898)}}
		parents := gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: testGatewayName}}}
		meta := metav1.ObjectMeta{Name: "podinfo", Namespace: ns}
		switch proto.(type) {
		case *gatewayv1.GRPCRoute:
			return &gatewayv1.GRPCRoute{ObjectMeta: meta, Spec: gatewayv1.GRPCRouteSpec{CommonRouteSpec: parents,
				Rules: []gatewayv1.GRPCRouteRule{{BackendRefs: []gatewayv1.GRPCBackendRef{{BackendRef: backend}}}}}}
		default:
			return &gatewayv1.TCPRoute{ObjectMeta: meta, Spec: gatewayv1.TCPRouteSpec{CommonRouteSpec: parents,
				Rules: []gatewayv1.TCPRouteRule{{BackendRefs: []gatewayv1.BackendRef{backend}}}}}
		}
	}
}

// runRouteGateway plays the implementation of the Gateways of namespace ns for GRPCRoutes and
// TCPRoutes, as runGateway does for HTTPRoutes: it accepts each at its current generation once
// that generation is delay old.
func runRouteGateway(t *testing.T, ns string, delay time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		seen := map[string]time.Time{} // first sight of each route generation
		for {
			var routes []client.Object
			grpc, tcp := &gatewayv1.GRPCRouteList{}, &gatewayv1.TCPRouteList{}
			if k8sClient.List(ctx, grpc, client.InNamespace(ns)) == nil && k8sClient.List(ctx, tcp, client.InNamespace(ns)) == nil {
				for i := range grpc.Items {
					routes = append(routes, &grpc.Items[i])
				}
				for i := range tcp.Items {
					routes = append(routes, &tcp.Items[i])
				}
			}
			for _, rt := range routes {
				gen := fmt.Sprintf("%T/%s/%d", rt, rt.GetName(), rt.GetGeneration())
				if _, ok := seen[gen]; !ok {
					seen[gen] = time.Now()
				}
				if time.Since(seen[gen]) >= delay {
					// A conflict is retried at the next poll, as a controller would.
					_ = acceptAnyRoute(ctx, rt)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
}

// acceptAnyRoute records that every parent of a GRPCRoute or TCPRoute accepted its current
// generation and resolved its backends.
func acceptAnyRoute(ctx context.Context, rt client.Object) error {
	_, refs, statuses := routeParts(rt)
	if accepted(rt.GetGeneration(), refs, statuses) {
		return nil
	}
	now := metav1.Now()
	var parents []gatewayv1.RouteParentStatus
	for _, p := range refs {
		parents = append(parents, gatewayv1.RouteParentStatus{
			ParentRef: p, ControllerName: testGatewayController,
			Conditions: []metav1.Condition{
				{Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionTrue, ObservedGeneration: rt.GetGeneration(),
					Reason: string(gatewayv1.RouteReasonAccepted), Message: "programmed by the test gateway", LastTransitionTime: now},
				{Type: string(gatewayv1.RouteConditionResolvedRefs), Status: metav1.ConditionTrue, ObservedGeneration: rt.GetGeneration(),
					Reason: string(gatewayv1.RouteReasonResolvedRefs), Message: "programmed by the test gateway", LastTransitionTime: now},
			},
		})
	}
	switch r := rt.(type) {
	case *gatewayv1.GRPCRoute:
		r.Status.Parents = parents
	case *gatewayv1.TCPRoute:
		r.Status.Parents = parents
	}
	return k8sClient.Status().Update(ctx, rt)
}
