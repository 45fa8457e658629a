package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// Annotations on an adopted apex Service.
const (
	// AnnotationOriginalSelector holds the JSON of the selector the apex Service had before
	// Siskin switched it to the primary's pods.
	AnnotationOriginalSelector = "siskin.dev/original-selector"
	// AnnotationAddedPorts lists, comma-separated, the names of the ports Siskin added to an
	// adopted apex Service.
	AnnotationAddedPorts = "siskin.dev/added-ports"
)

// Router manages the apex, -primary and -canary Services of Canaries, and the -baseline Service
// of a comparison with a baseline.
type Router struct {
	reader         client.Reader
	client         client.Client
	selectorLabels []string
}

var _ router.Router = (*Router)(nil)

// New returns a Router that reads through reader (the informer cache) and writes through c.
// selectorLabels overrides target.DefaultSelectorLabels when not empty; it must be the list the
// target adapter uses.
func New(reader client.Reader, c client.Client, selectorLabels []string) *Router {
	if len(selectorLabels) == 0 {
		selectorLabels = target.DefaultSelectorLabels
	}
	return &Router{reader: reader, client: c, selectorLabels: selectorLabels}
}

// selectors returns the selectors of the primary's pods and of the target's pods.
func (r *Router) selectors(ctx context.Context, c *siskinv1.Canary) (dep *appsv1.Deployment, primary, canarySel map[string]string, err error) {
	dep, err = r.targetWorkload(ctx, c)
	if err != nil {
		return nil, nil, nil, err
	}
	k, v, err := target.SelectorLabel(dep, r.selectorLabels)
	if err != nil {
		return nil, nil, nil, err
	}
	return dep, map[string]string{k: v + target.PrimarySuffix}, map[string]string{k: v}, nil
}

// targetWorkload reads the Canary's target, of the kind spec.targetRef.kind names, as the
// Deployment-shaped view the Services need: its metadata, selector and pod template.
func (r *Router) targetWorkload(ctx context.Context, c *siskinv1.Canary) (*appsv1.Deployment, error) {
	key := client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.TargetRef.Name}
	if c.Spec.TargetRef.Kind == target.KindDaemonSet {
		ds := &appsv1.DaemonSet{}
		if err := r.reader.Get(ctx, key, ds); err != nil {
			return nil, fmt.Errorf("get target daemonset %s: %w", key, err)
		}
		return &appsv1.Deployment{ObjectMeta: ds.ObjectMeta,
			Spec: appsv1.DeploymentSpec{Selector: ds.Spec.Selector, Template: ds.Spec.Template}}, nil
	}
	dep := &appsv1.Deployment{}
	if err := r.reader.Get(ctx, key, dep); err != nil {
		return nil, fmt.Errorf("get target deployment %s: %w", key, err)
	}
	return dep, nil
}

// EnsureServices creates or updates the -primary and -canary Services and the apex Service.
// An apex Service that Siskin did not create is switched to the primary's pods only when
// primaryReady is true, so that traffic never moves to pods that cannot serve it; the caller
// orders this after the primary is ready.
func (r *Router) EnsureServices(ctx context.Context, c *siskinv1.Canary, primaryReady bool) error {
	dep, primarySel, canarySel, err := r.selectors(ctx, c)
	if err != nil {
		return err
	}
	ports := desiredPorts(c, dep)
	apex, primary, canaryName := router.ServiceNames(c)
	svc := c.Spec.Service
	if err := r.ensureOwned(ctx, c, primary, primarySel, ports, svc.Primary); err != nil {
		return err
	}
	if err := r.ensureOwned(ctx, c, canaryName, canarySel, ports, svc.Canary); err != nil {
		return err
	}
	return r.ensureApex(ctx, c, apex, primarySel, ports, primaryReady)
}

// Observe reports the Services as converged when all three exist with the right selectors.
// The weights are always 100 to the primary: plain Services cannot split traffic.
func (r *Router) Observe(ctx context.Context, c *siskinv1.Canary) (canary.Route, error) {
	route := canary.Route{PrimaryWeight: 100}
	_, primarySel, canarySel, err := r.selectors(ctx, c)
	if apierrors.IsNotFound(err) {
		route.Message = err.Error()
		return route, nil
	}
	if err != nil {
		return route, err
	}
	apex, primary, canaryName := router.ServiceNames(c)
	checks := []struct {
		name     string
		selector map[string]string
		owned    bool
	}{
		{primary, primarySel, true},
		{canaryName, canarySel, true},
		{apex, primarySel, false},
	}
	for _, ch := range checks {
		msg, err := r.checkService(ctx, c, ch.name, ch.selector, ch.owned)
		if err != nil {
			return route, err
		}
		if msg != "" {
			route.Message = msg
			return route, nil
		}
	}
	route.Converged = true
	return route, nil
}

// checkService returns why a Service is not as wanted, or "" when it is.
func (r *Router) checkService(ctx context.Context, c *siskinv1.Canary, name string, selector map[string]string, owned bool) (string, error) {
	key := client.ObjectKey{Namespace: c.Namespace, Name: name}
	svc := &corev1.Service{}
	err := r.reader.Get(ctx, key, svc)
	if apierrors.IsNotFound(err) {
		return fmt.Sprintf("service %s not found", key), nil
	}
	if err != nil {
		return "", fmt.Errorf("get service %s: %w", key, err)
	}
	if ref := metav1.GetControllerOf(svc); owned && (ref == nil || ref.UID != c.UID) {
		return fmt.Sprintf("service %s is not controlled by canary %s", key, c.Name), nil
	}
	if !maps.Equal(svc.Spec.Selector, selector) {
		return fmt.Sprintf("service %s selects %s, want %s", key, formatSelector(svc.Spec.Selector), formatSelector(selector)), nil
	}
	return "", nil
}

// Apply does nothing: plain Services carry no weights. Observe keeps reporting 100/0, so a
// planner that asked for another split sees that it did not take effect.
func (r *Router) Apply(context.Context, *siskinv1.Canary, canary.DesiredRoute) error {
	return nil
}

// Finalize hands the apex Service back before the Canary goes away. An adopted Service gets
// its original selector back and loses the ports Siskin added; a Service Siskin created is
// pointed at the target's pods and released (owner reference and AnnotationCanary removed), so the
// garbage collector does not delete it with the Canary. Scale the target up and wait for it
// to be ready before calling Finalize.
func (r *Router) Finalize(ctx context.Context, c *siskinv1.Canary) error {
	apex, _, _ := router.ServiceNames(c)
	key := client.ObjectKey{Namespace: c.Namespace, Name: apex}
	cur := &corev1.Service{}
	err := r.reader.Get(ctx, key, cur)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get service %s: %w", key, err)
	}
	want := cur.DeepCopy()
	ref := metav1.GetControllerOf(cur)
	switch {
	case ref != nil && ref.UID == c.UID:
		release(want, c)
	case ref != nil:
		return nil
	case cur.Annotations[AnnotationOriginalSelector] != "":
		if err := restore(want); err != nil {
			return fmt.Errorf("restore service %s: %w", key, err)
		}
	default:
		return nil
	}
	return r.patch(ctx, cur, want)
}

// release points a Service Siskin created at the target's pods and drops Siskin's ownership
// and its GitOps opt-out annotations.
func release(svc *corev1.Service, c *siskinv1.Canary) {
	sel := make(map[string]string, len(svc.Spec.Selector))
	for k, v := range svc.Spec.Selector {
		sel[k] = strings.TrimSuffix(v, target.PrimarySuffix)
	}
	svc.Spec.Selector = sel
	var refs []metav1.OwnerReference
	for _, o := range svc.OwnerReferences {
		if o.UID != c.UID {
			refs = append(refs, o)
		}
	}
	svc.OwnerReferences = refs
	delete(svc.Annotations, target.AnnotationCanary)
	releaseGitOps(svc, c)
}

// restore gives an adopted Service its original selector and ports back, and removes the
// GitOps opt-out annotations Siskin added.
func restore(svc *corev1.Service) error {
	var sel map[string]string
	if err := json.Unmarshal([]byte(svc.Annotations[AnnotationOriginalSelector]), &sel); err != nil {
		return fmt.Errorf("decode annotation %s: %w", AnnotationOriginalSelector, err)
	}
	svc.Spec.Selector = sel
	added := addedPorts(svc)
	var ports []corev1.ServicePort
	for _, p := range svc.Spec.Ports {
		if !added[p.Name] {
			ports = append(ports, p)
		}
	}
	if len(ports) > 0 {
		svc.Spec.Ports = ports
	}
	delete(svc.Annotations, AnnotationOriginalSelector)
	delete(svc.Annotations, AnnotationAddedPorts)
	restoreGitOps(svc)
	return nil
}

func addedPorts(svc *corev1.Service) map[string]bool {
	out := map[string]bool{}
	for _, n := range strings.Split(svc.Annotations[AnnotationAddedPorts], ",") {
		if n != "" {
			out[n] = true
		}
	}
	return out
}

func formatSelector(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + sel[k]
	}
	return "{" + strings.Join(parts, ",") + "}"
}
