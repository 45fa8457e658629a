package dashboard

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/providers"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/all"
	"github.com/siskin-dev/siskin/pkg/target"
)

// Routing kinds the tree shows, read as unstructured so that a cluster without Istio or the
// Gateway API only lacks that node.
var (
	virtualServiceGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}
	httpRouteGVK      = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}
)

// tree reads the objects of Canary c that the caller may read; what it may not read is named
// in hidden.
func (s *Server) tree(ctx context.Context, who *caller, c *siskinv1.Canary, hidden []string) ([]Node, []string) {
	ns := c.Namespace
	may := func(group, resource string) bool {
		acc := access{Verb: "get", Group: group, Resource: resource, Namespace: ns}
		ok, err := s.authz.allowed(ctx, who, acc)
		if err != nil || !ok {
			hidden = append(hidden, errForbidden{acc}.Error())
			return false
		}
		return true
	}
	var nodes []Node
	kind := c.Spec.TargetRef.Kind
	switch kind {
	case target.KindStatefulSet:
		if may("apps", "statefulsets") {
			nodes = append(nodes, s.workloadNode(ctx, kind, ns, c.Spec.TargetRef.Name, "rolled out in place"))
		}
	case target.KindDaemonSet:
		if may("apps", "daemonsets") {
			nodes = append(nodes,
				s.workloadNode(ctx, kind, ns, c.Spec.TargetRef.Name, "canary (target)"),
				s.workloadNode(ctx, kind, ns, target.PrimaryName(c.Spec.TargetRef.Name), "primary"))
		}
	default:
		if may("apps", "deployments") {
			nodes = append(nodes,
				s.workloadNode(ctx, target.KindDeployment, ns, c.Spec.TargetRef.Name, "canary (target)"),
				s.workloadNode(ctx, target.KindDeployment, ns, target.PrimaryName(c.Spec.TargetRef.Name), "primary"))
		}
	}
	p := canary.Provider(&c.Spec, s.opts.DefaultProvider)
	if !providers.Generates(p) {
		return nodes, hidden // no Services, no route: the canary's share is its share of the pods
	}
	apex, primary, canaryName := router.ServiceNames(c)
	if may("", "services") {
		svc := s.serviceNode(ctx, ns, apex, "apex")
		svc.Children = []Node{s.serviceNode(ctx, ns, primary, "primary"), s.serviceNode(ctx, ns, canaryName, "canary")}
		nodes = append(nodes, svc)
	}
	if n, ok := s.routeNode(ctx, c, p, may); ok {
		nodes = append(nodes, n)
	}
	return nodes, hidden
}

func missing(kind, name string, err error) Node {
	n := Node{Kind: kind, Name: name, Status: "missing", Problem: true}
	if !apierrors.IsNotFound(err) {
		n.Status, n.Detail = "unreadable", err.Error()
	}
	return n
}

// workloadNode reads a Deployment, DaemonSet or StatefulSet and shows its pods' readiness and
// images (and a StatefulSet's partition).
func (s *Server) workloadNode(ctx context.Context, kind, ns, name, role string) Node {
	pc, err := target.ReadPodCounts(ctx, s.client, kind, client.ObjectKey{Namespace: ns, Name: name})
	if err != nil {
		return missing(kind, name, err)
	}
	if pc.Partition != nil {
		role += fmt.Sprintf(" · %d of %d pods updated, partition %d", pc.Updated, pc.Wanted, *pc.Partition)
	}
	var images []string
	for _, c := range pc.Template.Spec.Containers {
		images = append(images, c.Image)
	}
	return Node{
		Kind: kind, Name: name,
		Status:  fmt.Sprintf("%d/%d ready", pc.Ready, pc.Wanted),
		Detail:  role + " · " + strings.Join(images, ", "),
		Problem: pc.Ready < pc.Wanted,
	}
}

func (s *Server) serviceNode(ctx context.Context, ns, name, role string) Node {
	svc := &corev1.Service{}
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
		return missing("Service", name, err)
	}
	var sel []string
	for k, v := range svc.Spec.Selector {
		sel = append(sel, k+"="+v)
	}
	sort.Strings(sel)
	return Node{Kind: "Service", Name: name, Status: role, Detail: "selects " + strings.Join(sel, ",")}
}

// routeNode reads the route of Canary c through its provider's router, as the controller
// does, and shows the weights it carries; false when the provider has no routing object of
// its own or the caller may not read the one that carries the weights (may names it in
// hidden).
func (s *Server) routeNode(ctx context.Context, c *siskinv1.Canary, provider string, may func(group, resource string) bool) (Node, bool) {
	_, gvk, err := all.Ref(c, provider)
	if err != nil || gvk.Empty() {
		return Node{}, false
	}
	if m, err := s.client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err == nil && !may(gvk.Group, m.Resource.Resource) {
		return Node{}, false
	} // a kind the cluster does not serve: the router says what is missing
	ref, route, err := all.Observe(ctx, s.client, c, provider)
	n := Node{Kind: ref.Kind, Name: ref.Name, Status: "route"}
	switch {
	case err != nil && !errors.Is(err, router.ErrNotOwned):
		n.Status, n.Detail, n.Problem = "unreadable", err.Error(), true
		return n, true
	case err != nil:
		n.Status, n.Problem = "not Siskin's", true
	}
	n.Detail = "weights primary/canary " + router.FormatWeights(route.PrimaryWeight, route.CanaryWeight, route.BaselineWeight)
	if route.BaselineWeight > 0 {
		n.Detail = "weights primary/canary/baseline " + router.FormatWeights(route.PrimaryWeight, route.CanaryWeight, route.BaselineWeight)
	}
	if route.Mirror {
		n.Detail += " · mirroring to the canary"
	}
	if err != nil {
		n.Detail += " · " + err.Error()
	} else if !route.Converged && route.Message != "" {
		n.Detail += " · " + route.Message
	}
	return n, true
}
