package dashboard

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
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
	if may("apps", "deployments") {
		nodes = append(nodes,
			s.deploymentNode(ctx, ns, c.Spec.TargetRef.Name, "canary (target)"),
			s.deploymentNode(ctx, ns, target.PrimaryName(c.Spec.TargetRef.Name), "primary"))
	}
	apex, primary, canaryName := router.ServiceNames(c)
	if may("", "services") {
		svc := s.serviceNode(ctx, ns, apex, "apex")
		svc.Children = []Node{s.serviceNode(ctx, ns, primary, "primary"), s.serviceNode(ctx, ns, canaryName, "canary")}
		nodes = append(nodes, svc)
	}
	p := c.Spec.Provider
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

func (s *Server) deploymentNode(ctx context.Context, ns, name, role string) Node {
	d := &appsv1.Deployment{}
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		return missing("Deployment", name, err)
	}
	want := ptr.Deref(d.Spec.Replicas, 1)
	var images []string
	for _, c := range d.Spec.Template.Spec.Containers {
		images = append(images, c.Image)
	}
	return Node{
		Kind: "Deployment", Name: name,
		Status:  fmt.Sprintf("%d/%d ready", d.Status.ReadyReplicas, want),
		Detail:  role + " · " + strings.Join(images, ", "),
		Problem: d.Status.ReadyReplicas < want,
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
