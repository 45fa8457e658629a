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
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// sidecars are containers whose ports port discovery leaves out: they belong to the mesh.
var sidecars = map[string]bool{"istio-proxy": true, "envoy": true}

// desiredPorts is the service port of the spec and its additional ports, then, with
// portDiscovery, every other container port of the target sorted by number and protocol.
func desiredPorts(c *siskinv1.Canary, dep *appsv1.Deployment) []corev1.ServicePort {
	s := c.Spec.Service
	ports := []corev1.ServicePort{servicePort(s.PortName, s.Port, s.TargetPort, s.AppProtocol)}
	for _, p := range s.AdditionalPorts {
		// The API refuses clashes; skip one that slipped through rather than write an
		// invalid Service.
		if portNamed(ports, p.Name) || portNumbered(ports, p.Port, corev1.ProtocolTCP) {
			continue
		}
		ports = append(ports, servicePort(p.Name, p.Port, p.TargetPort, p.AppProtocol))
	}
	if !s.PortDiscovery {
		return ports
	}

	var found []corev1.ContainerPort
	for _, ctr := range dep.Spec.Template.Spec.Containers {
		if !sidecars[ctr.Name] {
			found = append(found, ctr.Ports...)
		}
	}
	sort.SliceStable(found, func(i, j int) bool {
		if found[i].ContainerPort != found[j].ContainerPort {
			return found[i].ContainerPort < found[j].ContainerPort
		}
		return protocol(found[i].Protocol) < protocol(found[j].Protocol)
	})
	for _, cp := range found {
		p := corev1.ServicePort{
			Name:       cp.Name,
			Protocol:   protocol(cp.Protocol),
			Port:       cp.ContainerPort,
			TargetPort: intstr.FromInt32(cp.ContainerPort),
		}
		if p.Name == "" || portNamed(ports, p.Name) {
			p.Name = fmt.Sprintf("%s-%d", strings.ToLower(string(p.Protocol)), p.Port)
		}
		if portNamed(ports, p.Name) || portNumbered(ports, p.Port, p.Protocol) || targetsAny(ports, cp) {
			continue
		}
		ports = append(ports, p)
	}
	return ports
}

// servicePort is a TCP service port; the target port defaults to port and the name to
// router.DefaultPortName.
func servicePort(name string, port int32, targetPort intstr.IntOrString, appProtocol string) corev1.ServicePort {
	p := corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: targetPort}
	if p.Name == "" {
		p.Name = router.DefaultPortName
	}
	if p.TargetPort == (intstr.IntOrString{}) {
		p.TargetPort = intstr.FromInt32(port)
	}
	if appProtocol != "" {
		p.AppProtocol = ptr.To(appProtocol)
	}
	return p
}

// targetsAny tells whether one of the ports given in the spec already forwards to the
// container port.
func targetsAny(ports []corev1.ServicePort, cp corev1.ContainerPort) bool {
	for _, p := range ports {
		if targetsPort(p, cp) {
			return true
		}
	}
	return false
}

func protocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func portNamed(ports []corev1.ServicePort, name string) bool {
	for _, p := range ports {
		if p.Name == name {
			return true
		}
	}
	return false
}

func portNumbered(ports []corev1.ServicePort, port int32, proto corev1.Protocol) bool {
	for _, p := range ports {
		if p.Port == port && protocol(p.Protocol) == proto {
			return true
		}
	}
	return false
}

// targetsPort tells whether the service port main already forwards to the container port.
func targetsPort(main corev1.ServicePort, cp corev1.ContainerPort) bool {
	if protocol(cp.Protocol) != main.Protocol {
		return false
	}
	if main.TargetPort.Type == intstr.String {
		return cp.Name != "" && main.TargetPort.StrVal == cp.Name
	}
	return main.TargetPort.IntVal == cp.ContainerPort
}

// ensureOwned creates or updates a Service that Siskin owns outright.
func (r *Router) ensureOwned(ctx context.Context, c *siskinv1.Canary, name string, selector map[string]string,
	ports []corev1.ServicePort, meta *siskinv1.CustomMetadata) error {
	key := client.ObjectKey{Namespace: c.Namespace, Name: name}
	cur := &corev1.Service{}
	err := r.reader.Get(ctx, key, cur)
	if apierrors.IsNotFound(err) {
		return r.create(ctx, c, key, selector, ports, meta)
	}
	if err != nil {
		return fmt.Errorf("get service %s: %w", key, err)
	}
	return r.manage(ctx, c, cur, selector, ports, meta)
}

// manage converges a live Service that Siskin owns, or may adopt as its own.
func (r *Router) manage(ctx context.Context, c *siskinv1.Canary, cur *corev1.Service, selector map[string]string,
	ports []corev1.ServicePort, meta *siskinv1.CustomMetadata) error {
	want := cur.DeepCopy()
	if err := claim(want, c); err != nil {
		return err
	}
	if err := converge(c, want, selector, ports, meta); err != nil {
		return err
	}
	return r.patch(ctx, cur, want)
}

// ensureApex creates the apex Service if it is missing, manages it if it is the Canary's (or one
// the Canary may claim), and otherwise adopts it once the primary is ready. A Service that
// selects other pods than the primary's is switched to them only once the primary is ready,
// whoever it belongs to: EnsureServices runs while the primary starts, and an apex annotated
// for the Canary, or left by an earlier one, may be serving the target's pods.
func (r *Router) ensureApex(ctx context.Context, c *siskinv1.Canary, name string, selector map[string]string,
	ports []corev1.ServicePort, primaryReady bool) error {
	key := client.ObjectKey{Namespace: c.Namespace, Name: name}
	cur := &corev1.Service{}
	err := r.reader.Get(ctx, key, cur)
	if apierrors.IsNotFound(err) {
		return r.create(ctx, c, key, selector, ports, c.Spec.Service.Apex)
	}
	if err != nil {
		return fmt.Errorf("get service %s: %w", key, err)
	}
	ref := metav1.GetControllerOf(cur)
	switch {
	case ref != nil || cur.Annotations[target.AnnotationCanary] == c.Name:
		if !primaryReady && !maps.Equal(cur.Spec.Selector, selector) {
			return nil
		}
		return r.manage(ctx, c, cur, selector, ports, c.Spec.Service.Apex)
	case cur.Spec.Type == corev1.ServiceTypeExternalName:
		return fmt.Errorf("service %s is of type ExternalName and cannot select the primary's pods: %w", key, router.ErrNotOwned)
	case !primaryReady:
		return nil
	}
	want := cur.DeepCopy()
	adopt(want, c, selector, ports)
	return r.patch(ctx, cur, want)
}

// adopt switches a user's Service to the primary's pods. Its existing ports, type, clusterIP
// and metadata stay; missing service ports are added only when they clash with none of the
// existing ports by number or name, and only if every existing port is named (a multi-port
// Service needs names). The original selector is recorded once. The GitOps opt-out
// annotations are set, so that the tool that applied the Service does not switch it back.
func adopt(svc *corev1.Service, c *siskinv1.Canary, selector map[string]string, ports []corev1.ServicePort) {
	if svc.Annotations == nil {
		svc.Annotations = map[string]string{}
	}
	if _, ok := svc.Annotations[AnnotationOriginalSelector]; !ok {
		raw, _ := json.Marshal(svc.Spec.Selector)
		svc.Annotations[AnnotationOriginalSelector] = string(raw)
	}
	svc.Spec.Selector = selector

	added := addedPorts(svc)
	named := true
	for _, p := range svc.Spec.Ports {
		named = named && p.Name != ""
	}
	for _, p := range ports {
		if !named || portNamed(svc.Spec.Ports, p.Name) || portNumbered(svc.Spec.Ports, p.Port, p.Protocol) {
			continue
		}
		svc.Spec.Ports = append(svc.Spec.Ports, p)
		added[p.Name] = true
	}
	if len(added) > 0 {
		names := make([]string, 0, len(added))
		for n := range added {
			names = append(names, n)
		}
		sort.Strings(names)
		svc.Annotations[AnnotationAddedPorts] = strings.Join(names, ",")
	}

	if m := c.Spec.Service.Apex; m != nil {
		var unmanagedLabels, unmanagedAnnotations []string
		if u := c.Spec.Service.UnmanagedMetadata; u != nil {
			unmanagedLabels, unmanagedAnnotations = u.Labels, u.Annotations
		}
		svc.Labels = setKeys(svc.Labels, m.Labels, unmanagedLabels)
		svc.Annotations = setKeys(svc.Annotations, m.Annotations, unmanagedAnnotations)
	}
	optOutAdopted(svc, c)
}

// setKeys sets every key of over on m, except the unmanaged ones.
func setKeys(m, over map[string]string, unmanaged []string) map[string]string {
	if len(over) == 0 {
		return m
	}
	if m == nil {
		m = map[string]string{}
	}
	for k, v := range over {
		if !contains(unmanaged, k) {
			m[k] = v
		}
	}
	return m
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func (r *Router) create(ctx context.Context, c *siskinv1.Canary, key client.ObjectKey, selector map[string]string,
	ports []corev1.ServicePort, meta *siskinv1.CustomMetadata) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, OwnerReferences: target.NewMeta(c, key).OwnerReferences},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
	}
	if c.Spec.Service.Headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	svc.Labels, svc.Annotations = desiredMetadata(c, meta)
	svc.Spec.Selector = selector
	svc.Spec.Ports = ports
	if td := c.Spec.Service.TrafficDistribution; td != "" {
		svc.Spec.TrafficDistribution = ptr.To(td)
	}
	if err := r.client.Create(ctx, svc); err != nil {
		return fmt.Errorf("create service %s: %w", key, err)
	}
	return nil
}

// converge sets the fields Siskin manages on a Service it owns. Labels and annotations are
// replaced by the desired ones, except the keys listed in unmanagedMetadata, which keep their
// live value. Node ports already allocated are kept.
func converge(c *siskinv1.Canary, svc *corev1.Service, selector map[string]string,
	ports []corev1.ServicePort, meta *siskinv1.CustomMetadata) error {
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	if headless != c.Spec.Service.Headless {
		return fmt.Errorf("service %s/%s: spec.service.headless is %t but clusterIP is immutable; delete the service to recreate it",
			svc.Namespace, svc.Name, c.Spec.Service.Headless)
	}
	labels, annotations := desiredMetadata(c, meta)
	var unmanagedLabels, unmanagedAnnotations []string
	if u := c.Spec.Service.UnmanagedMetadata; u != nil {
		unmanagedLabels, unmanagedAnnotations = u.Labels, u.Annotations
	}
	svc.Labels = keepUnmanaged(labels, svc.Labels, unmanagedLabels)
	svc.Annotations = keepUnmanaged(annotations, svc.Annotations, unmanagedAnnotations)
	svc.Spec.Selector = selector

	want := make([]corev1.ServicePort, len(ports))
	copy(want, ports)
	for i := range want {
		for _, p := range svc.Spec.Ports {
			if p.Name == want[i].Name && p.NodePort != 0 {
				want[i].NodePort = p.NodePort
			}
		}
	}
	svc.Spec.Ports = want
	if td := c.Spec.Service.TrafficDistribution; td != "" {
		svc.Spec.TrafficDistribution = ptr.To(td)
	} else {
		svc.Spec.TrafficDistribution = nil
	}
	return nil
}

// desiredMetadata is the custom metadata of a generated Service plus AnnotationCanary and,
// as in the Flagger model, the GitOps opt-out annotations that are not unmanaged.
func desiredMetadata(c *siskinv1.Canary, meta *siskinv1.CustomMetadata) (labels, annotations map[string]string) {
	labels = map[string]string{}
	annotations = map[string]string{}
	if meta != nil {
		for k, v := range meta.Labels {
			labels[k] = v
		}
		for k, v := range meta.Annotations {
			annotations[k] = v
		}
	}
	annotations[target.AnnotationCanary] = c.Name
	setGitOpsOptOut(annotations, unmanagedAnnotations(c))
	return labels, annotations
}

// keepUnmanaged returns desired with each unmanaged key set as it is live (or absent).
func keepUnmanaged(desired, live map[string]string, unmanaged []string) map[string]string {
	for _, k := range unmanaged {
		if v, ok := live[k]; ok {
			desired[k] = v
		} else {
			delete(desired, k)
		}
	}
	return desired
}

func (r *Router) patch(ctx context.Context, cur, want *corev1.Service) error {
	if equality.Semantic.DeepEqual(cur, want) {
		return nil
	}
	if err := r.client.Patch(ctx, want, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch service %s/%s: %w", cur.Namespace, cur.Name, err)
	}
	return nil
}

// claim checks that a generated Service may be managed for c, and adopts it when it may
// (target.Claim: the rules every object Siskin manages follows).
func claim(svc *corev1.Service, c *siskinv1.Canary) error { return target.Claim("Service", svc, c) }

// baselineSelector is the selector of the baseline's pods, given the target's: the selector
// label's value suffixed as target.EnsureBaseline labels them.
func baselineSelector(canarySel map[string]string) map[string]string {
	sel := make(map[string]string, len(canarySel))
	for k, v := range canarySel {
		sel[k] = v + target.BaselineSuffix
	}
	return sel
}

// EnsureBaselineService creates or updates the -baseline Service (router.BaselineServiceName),
// which selects the pods of <target>-baseline on the ports of the -primary Service. It carries
// none of the custom metadata of spec.service.primary or canary: a tool that selects Services by
// those labels must not take the baseline for either.
func (r *Router) EnsureBaselineService(ctx context.Context, c *siskinv1.Canary) error {
	dep, _, canarySel, err := r.selectors(ctx, c)
	if err != nil {
		return err
	}
	return r.ensureOwned(ctx, c, router.BaselineServiceName(c), baselineSelector(canarySel), desiredPorts(c, dep), nil)
}

// baselineService returns the -baseline Service when it exists and is c's (or c may adopt
// it), else nil and why.
func (r *Router) baselineService(ctx context.Context, c *siskinv1.Canary) (*corev1.Service, string, error) {
	key := client.ObjectKey{Namespace: c.Namespace, Name: router.BaselineServiceName(c)}
	svc := &corev1.Service{}
	if err := r.reader.Get(ctx, key, svc); apierrors.IsNotFound(err) {
		return nil, fmt.Sprintf("service %s not found", key), nil
	} else if err != nil {
		return nil, "", fmt.Errorf("get service %s: %w", key, err)
	}
	if err := claim(svc.DeepCopy(), c); err != nil {
		return nil, err.Error(), nil
	}
	return svc, "", nil
}

// ObserveBaselineService reports whether the -baseline Service exists and is c's, and, when
// it is not as EnsureBaselineService leaves it, why ("" when it is). A Service of that name
// that is not c's is reported as missing: it is neither the baseline's nor one to remove.
func (r *Router) ObserveBaselineService(ctx context.Context, c *siskinv1.Canary) (exists bool, msg string, err error) {
	svc, why, err := r.baselineService(ctx, c)
	if err != nil || svc == nil {
		return false, why, err
	}
	_, _, canarySel, err := r.selectors(ctx, c)
	if apierrors.IsNotFound(err) {
		return true, err.Error(), nil
	}
	if err != nil {
		return true, "", err
	}
	msg, err = r.checkService(ctx, c, svc.Name, baselineSelector(canarySel), true)
	return true, msg, err
}

// RemoveBaselineService deletes the -baseline Service when it is c's; a missing one, or one that
// is not c's, is left as it is.
func (r *Router) RemoveBaselineService(ctx context.Context, c *siskinv1.Canary) error {
	svc, _, err := r.baselineService(ctx, c)
	if err != nil || svc == nil {
		return err
	}
	if err := r.client.Delete(ctx, svc, client.Preconditions{UID: &svc.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}
