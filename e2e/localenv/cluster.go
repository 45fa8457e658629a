package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/siskin-dev/siskin/e2e/dataplane"
	"github.com/siskin-dev/siskin/internal/testenv"
)

const (
	kwokAnnotation  = "kwok.x-k8s.io/node"
	gatewayNS       = "gateway-system"
	gatewayName     = "gateway"
	gatewayClass    = "siskin-localenv"
	ingressClass    = "nginx"
	fieldOwner      = "siskin-localenv"
	crdApplyWorkers = 4
)

// nodeNames are the kwok nodes. Three, so that a DaemonSet runs three pods and pods of a
// Deployment spread; pod IPs come from kwok's one --cidr pool whatever the node (no node has a
// podCIDR: kube-controller-manager runs without nodeipam), so every pod is served alike.
var nodeNames = []string{"kwok-node-0", "kwok-node-1", "kwok-node-2"}

func clusterScheme() (*k8sruntime.Scheme, error) {
	s := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, gatewayv1.Install} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	return s, nil
}

// crdFiles lists Siskin's CRDs, the Istio and Gateway API (standard channel) CRDs from their
// Go modules, and KEDA's ScaledObject CRD extracted from KEDA's module as the envtests get it
// (testenv.KEDACRD). Only the CRD: no KEDA operator runs here, so a ScaledObject scales
// nothing; it is served so that Canaries with an autoscalerRef of kind ScaledObject work, and
// Siskin's handling of it (the primary's copy, the paused-replicas annotation) can be seen.
// Traefik's IngressRoute and TraefikService CRDs come from Traefik's module the same way
// (testenv.TraefikCRDs), for the data plane's Traefik routing.
// Contour's CRDs (HTTPProxy among them) come from the contour module's
// examples/contour/01-crds.yaml, for the data plane's HTTPProxy routing.
func crdFiles(ctx context.Context, repo string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(repo, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no CRDs in %s", filepath.Join(repo, "config", "crd", "bases"))
	}
	istio, err := testenv.ModuleDir(ctx, repo, "istio.io/api")
	if err != nil {
		return nil, err
	}
	files = append(files, filepath.Join(istio, "kubernetes", "customresourcedefinitions.gen.yaml"))
	gw, err := testenv.ModuleDir(ctx, repo, "sigs.k8s.io/gateway-api")
	if err != nil {
		return nil, err
	}
	std, err := filepath.Glob(filepath.Join(gw, "config", "crd", "standard", "*.yaml"))
	if err != nil || len(std) == 0 {
		return nil, fmt.Errorf("no Gateway API CRDs in %s", gw)
	}
	files = append(files, std...)
	keda, err := testenv.KEDACRD(ctx, repo)
	if err != nil {
		return nil, err
	}
	traefik, err := testenv.TraefikCRDs(ctx, repo)
	if err != nil {
		return nil, err
	}
	contour, err := testenv.ModuleDir(ctx, repo, "github.com/projectcontour/contour")
	if err != nil {
		return nil, err
	}
	files = append(files, filepath.Join(contour, "examples", "contour", "01-crds.yaml"))
	return append(append(files, keda), traefik...), nil
}

// readCRDs decodes the CustomResourceDefinitions in files; other kinds are skipped.
func readCRDs(files []string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, fmt.Errorf("read CRDs: %w", err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(fh), 4096)
		for {
			u := &unstructured.Unstructured{}
			err := dec.Decode(&u.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = fh.Close()
				return nil, fmt.Errorf("decode %s: %w", f, err)
			}
			if u.GetKind() == "CustomResourceDefinition" {
				out = append(out, u)
			}
		}
		_ = fh.Close()
	}
	return out, nil
}

// applyCRDs applies CRDs with server-side apply and waits until they are established; it
// returns how long the apply took.
func applyCRDs(ctx context.Context, c client.Client, crds []*unstructured.Unstructured) (time.Duration, error) {
	start := time.Now()
	work := make(chan *unstructured.Unstructured)
	errs := make(chan error, len(crds))
	var wg sync.WaitGroup
	for range crdApplyWorkers {
		wg.Go(func() {
			for u := range work {
				if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
					errs <- fmt.Errorf("apply CRD %s: %w", u.GetName(), err)
				}
			}
		})
	}
	for _, u := range crds {
		work <- u
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := errors.Join(collect(errs)...); err != nil {
		return 0, err
	}
	applied := time.Since(start)
	want := map[string]bool{}
	for _, u := range crds {
		want[u.GetName()] = true
	}
	return applied, poll(ctx, time.Minute, func() (bool, error) {
		var list apiextensionsv1.CustomResourceDefinitionList
		if err := c.List(ctx, &list); err != nil {
			return false, nil //nolint:nilerr // retried until the deadline
		}
		n := 0
		for _, crd := range list.Items {
			if !want[crd.Name] {
				continue
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					n++
				}
			}
		}
		return n == len(want), nil
	})
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// createNodes creates the kwok nodes.
func createNodes(ctx context.Context, c client.Client) error {
	for _, name := range nodeNames {
		if err := createNode(ctx, c, name); err != nil {
			return err
		}
	}
	return nil
}

// createNode creates one kwok node: annotated for kwok, without the not-ready taint, with room
// for many thousands of pods.
func createNode(ctx context.Context, c client.Client, name string) error {
	big := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("10k"),
		corev1.ResourceMemory: resource.MustParse("10Ti"),
		corev1.ResourcePods:   resource.MustParse("100k"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{kwokAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"type": "kwok",
			},
		},
		Status: corev1.NodeStatus{Allocatable: big, Capacity: big},
	}
	if err := c.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
		return fmt.Errorf("get node %s: %w", name, err)
	}
	if len(node.Spec.Taints) > 0 {
		node.Spec.Taints = nil
		if err := c.Update(ctx, node); err != nil {
			return fmt.Errorf("remove taints of node %s: %w", name, err)
		}
	}
	if node.Status.Allocatable.Pods().IsZero() {
		node.Status.Allocatable, node.Status.Capacity = big, big
		if err := c.Status().Update(ctx, node); err != nil {
			return fmt.Errorf("set capacity of node %s: %w", name, err)
		}
	}
	return nil
}

// waitNodesReady waits until kwok has marked every node Ready.
func waitNodesReady(ctx context.Context, c client.Client, timeout time.Duration) error {
	return poll(ctx, timeout, func() (bool, error) {
		for _, name := range nodeNames {
			var node corev1.Node
			if err := c.Get(ctx, client.ObjectKey{Name: name}, &node); err != nil {
				return false, nil //nolint:nilerr // retried until the deadline
			}
			if !nodeReady(&node) {
				return false, nil
			}
		}
		return true, nil
	})
}

// primePodIPs has kwok hand out its first pod IP before any workload exists. kwok (v0.8.0)
// creates its IP pool on first use without a lock around the creation: two pods set Running
// at the same moment on a fresh kwok can each create a pool of their own and both receive the
// pool's first address (the smoke test saw both replicas of a Deployment at 10.x.0.2, and the
// data plane then serves only one of them). One pod taken through to an IP, then deleted,
// leaves the one shared pool in place for every pod after it.
func primePodIPs(ctx context.Context, c client.Client, timeout time.Duration) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "localenv-prime-pod-ips", Namespace: metav1.NamespaceDefault},
		Spec: corev1.PodSpec{
			NodeName:   nodeNames[0],
			Containers: []corev1.Container{{Name: "prime", Image: "localenv/prime"}},
		},
	}
	if err := c.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create pod %s: %w", pod.Name, err)
	}
	err := poll(ctx, timeout, func() (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, nil //nolint:nilerr // retried until the deadline
		}
		return pod.Status.PodIP != "", nil
	})
	if err != nil {
		return fmt.Errorf("pod %s got no IP from kwok: %w", pod.Name, err)
	}
	if err := c.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s: %w", pod.Name, err)
	}
	return nil
}

func nodeReady(node *corev1.Node) bool {
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
			return len(node.Spec.Taints) == 0
		}
	}
	return false
}

// createGateway creates the default GatewayClass (served by the data plane) and a Gateway
// of it that accepts HTTPRoutes from every namespace, and the IngressClass nginx of
// ingress-nginx's controller, whose Ingresses the data plane serves too.
func createGateway(ctx context.Context, c client.Client) error {
	objs := []client.Object{
		&networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{Name: ingressClass},
			Spec:       networkingv1.IngressClassSpec{Controller: dataplane.IngressController},
		},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gatewayNS}},
		&gatewayv1.GatewayClass{
			ObjectMeta: metav1.ObjectMeta{Name: gatewayClass},
			Spec:       gatewayv1.GatewayClassSpec{ControllerName: dataplane.DefaultControllerName},
		},
		&gatewayv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: gatewayNS, Name: gatewayName},
			Spec: gatewayv1.GatewaySpec{
				GatewayClassName: gatewayClass,
				Listeners: []gatewayv1.Listener{{
					Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType,
					AllowedRoutes: &gatewayv1.AllowedRoutes{Namespaces: &gatewayv1.RouteNamespaces{From: ptr.To(gatewayv1.NamespacesFromAll)}},
				}},
			},
		},
	}
	objs = append(objs, envoyGatewayObjects()...)
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// poll calls cond every 100ms until it is true, fails, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s: %w", timeout, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
