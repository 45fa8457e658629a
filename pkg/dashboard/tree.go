package dashboard

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/providers"
	"github.com/siskin-dev/siskin/pkg/router"
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
	p := canary.Provider(&c.Spec, "")
	if !providers.Generates(p) {
		return nodes, hidden // no Services, no route: the canary's share is its share of the pods
	}
	apex, primary, canaryName := router.ServiceNames(c)
	if may("", "services") {
		svc := s.serviceNode(ctx, ns, apex, "apex")
		svc.Children = []Node{s.serviceNode(ctx, ns, primary, "primary"), s.serviceNode(ctx, ns, canaryName, "canary")}
		nodes = append(nodes, svc)
	}
	if (p == "" || p == siskinv1.ProviderIstio) && may("networking.istio.io", "virtualservices") {
		if n, ok := s.routeNode(ctx, virtualServiceGVK, ns, apex, p != ""); ok {
			nodes = append(nodes, n)
		}
	}
	if (p == "" || strings.HasPrefix(p, siskinv1.ProviderGatewayAPI)) && may("gateway.networking.k8s.io", "httproutes") {
		if n, ok := s.routeNode(ctx, httpRouteGVK, ns, apex, p != ""); ok {
			nodes = append(nodes, n)
		}
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

// routeNode reads a VirtualService or HTTPRoute and shows the weights it carries. When
// expected is false (no provider in the spec) an absent route is left out.
func (s *Server) routeNode(ctx context.Context, gvk schema.GroupVersionKind, ns, name string, expected bool) (Node, bool) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		if !expected {
			return Node{}, false
		}
		return missing(gvk.Kind, name, err), true
	}
	var weights []string
	switch gvk.Kind {
	case "VirtualService":
		routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
		if len(routes) > 0 {
			dests, _, _ := unstructured.NestedSlice(routes[len(routes)-1].(map[string]any), "route")
			for _, d := range dests {
				m, _ := d.(map[string]any)
				host, _, _ := unstructured.NestedString(m, "destination", "host")
				w, _, _ := unstructured.NestedInt64(m, "weight")
				weights = append(weights, fmt.Sprintf("%s=%d", host, w))
			}
		}
	case "HTTPRoute":
		rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
		if len(rules) > 0 {
			refs, _, _ := unstructured.NestedSlice(rules[len(rules)-1].(map[string]any), "backendRefs")
			for _, r := range refs {
				m, _ := r.(map[string]any)
				n, _, _ := unstructured.NestedString(m, "name")
				w, found, _ := unstructured.NestedInt64(m, "weight")
				if !found {
					w = 1
				}
				weights = append(weights, fmt.Sprintf("%s=%d", n, w))
			}
		}
	}
	return Node{Kind: gvk.Kind, Name: name, Status: "route", Detail: "weights " + strings.Join(weights, ", ")}, true
}
