package kubernetes

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

const ns = "test"

func newRouter(t *testing.T, objs ...client.Object) (*Router, client.Client) {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	objs = append(objs, newTarget())
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
	return New(c, c, nil), c
}

func newCanary(mods ...func(*siskinv1.CanaryService)) *siskinv1.Canary {
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, UID: types.UID("canary-uid")},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderKubernetes,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   siskinv1.CanaryService{Port: 80, TargetPort: intstr.FromString("http"), PortName: "http"},
		},
	}
	for _, m := range mods {
		m(&c.Spec.Service)
	}
	return c
}

func newTarget() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "podinfo", Ports: []corev1.ContainerPort{
						{Name: "http", ContainerPort: 9898},
						{Name: "http-metrics", ContainerPort: 9797},
						{ContainerPort: 9999, Protocol: corev1.ProtocolUDP},
					}},
					{Name: "istio-proxy", Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090}}},
				}},
			},
		},
	}
}

// userApex is an apex Service applied by the user before the Canary existed.
func userApex() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: "podinfo", Namespace: ns,
			Labels:      map[string]string{"kustomize.toolkit.fluxcd.io/name": "apps"},
			Annotations: map[string]string{"note": "mine"},
		},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: "10.0.0.10",
			Selector:  map[string]string{"app": "podinfo"},
			Ports: []corev1.ServicePort{
				{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9898)},
				{Name: "grpc", Port: 9999, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9999)},
			},
		},
	}
}

func getService(t *testing.T, c client.Client, name string) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
		t.Fatalf("get service %s: %v", name, err)
	}
	return svc
}

func portNames(svc *corev1.Service) []string {
	var out []string
	for _, p := range svc.Spec.Ports {
		out = append(out, p.Name)
	}
	return out
}

func controlledByCanary(svc *corev1.Service) bool {
	ref := metav1.GetControllerOf(svc)
	return ref != nil && ref.UID == "canary-uid"
}

func TestEnsureServicesCreatesTheThreeServices(t *testing.T) {
	ctx := context.Background()
	c := newCanary(func(s *siskinv1.CanaryService) {
		s.AppProtocol = "http"
		s.TrafficDistribution = "PreferClose"
		s.Primary = &siskinv1.CustomMetadata{Labels: map[string]string{"tier": "primary"}}
		s.Canary = &siskinv1.CustomMetadata{Annotations: map[string]string{"a": "canary"}}
		s.Apex = &siskinv1.CustomMetadata{Labels: map[string]string{"tier": "apex"}}
	})
	r, cl := newRouter(t)
	if err := r.EnsureServices(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		service  string
		selector string
		label    string
	}{
		{name: "the primary service selects primary pods", service: "podinfo-primary", selector: "podinfo-primary", label: "primary"},
		{name: "the canary service selects target pods", service: "podinfo-canary", selector: "podinfo"},
		{name: "a new apex service selects primary pods", service: "podinfo", selector: "podinfo-primary", label: "apex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := getService(t, cl, tt.service)
			if !maps.Equal(svc.Spec.Selector, map[string]string{"app": tt.selector}) {
				t.Fatalf("selector %v", svc.Spec.Selector)
			}
			p := svc.Spec.Ports[0]
			if len(svc.Spec.Ports) != 1 || p.Name != "http" || p.Port != 80 || p.TargetPort.StrVal != "http" || ptr.Deref(p.AppProtocol, "") != "http" {
				t.Fatalf("ports %+v", svc.Spec.Ports)
			}
			if ptr.Deref(svc.Spec.TrafficDistribution, "") != "PreferClose" || svc.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Fatalf("spec %+v", svc.Spec)
			}
			if !controlledByCanary(svc) || svc.Annotations[target.AnnotationCanary] != "podinfo" || svc.Labels["tier"] != tt.label {
				t.Fatalf("metadata %+v", svc.ObjectMeta)
			}
		})
	}

	route, err := r.Observe(ctx, c)
	if err != nil || route != (canary.Route{Converged: true, PrimaryWeight: 100}) {
		t.Fatalf("Observe = %+v, %v", route, err)
	}
}

func TestDesiredPorts(t *testing.T) {
	tests := []struct {
		name string
		svc  func(*siskinv1.CanaryService)
		want []string
	}{
		{name: "without port discovery only the service port is exposed", svc: func(*siskinv1.CanaryService) {}, want: []string{"http"}},
		{
			name: "port discovery adds container ports except the sidecar's and the one the service port targets",
			svc:  func(s *siskinv1.CanaryService) { s.PortDiscovery = true },
			want: []string{"http", "http-metrics", "udp-9999"},
		},
		{
			name: "a discovered port whose name is taken is named by protocol and number",
			svc: func(s *siskinv1.CanaryService) {
				s.PortDiscovery = true
				s.PortName = "http-metrics"
				s.TargetPort = intstr.FromInt32(9898)
			},
			want: []string{"http-metrics", "tcp-9797", "udp-9999"},
		},
		{
			name: "additional ports follow the service port, and discovery skips the container ports they target",
			svc: func(s *siskinv1.CanaryService) {
				s.PortDiscovery = true
				s.AdditionalPorts = []siskinv1.ServicePort{{Name: "metrics", Port: 8080, TargetPort: intstr.FromString("http-metrics")}}
			},
			want: []string{"http", "metrics", "udp-9999"},
		},
		{
			name: "the port name defaults to http and the target port to the port",
			svc: func(s *siskinv1.CanaryService) {
				s.PortName = ""
				s.TargetPort = intstr.IntOrString{}
			},
			want: []string{"http"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ports := desiredPorts(newCanary(tt.svc), newTarget())
			var names []string
			for _, p := range ports {
				names = append(names, p.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("ports %v, want %v", names, tt.want)
			}
			if ports[0].TargetPort == (intstr.IntOrString{}) {
				t.Fatal("service port without a target port")
			}
		})
	}
}

func TestAnExistingApexServiceIsKeptUntilThePrimaryIsReady(t *testing.T) {
	ctx := context.Background()
	c := newCanary(func(s *siskinv1.CanaryService) {
		s.PortDiscovery = true
		s.Apex = &siskinv1.CustomMetadata{Annotations: map[string]string{"added": "by-siskin"}}
	})
	r, cl := newRouter(t, userApex())
	original := getService(t, cl, "podinfo")

	if err := r.EnsureServices(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	before := getService(t, cl, "podinfo")
	if before.ResourceVersion != original.ResourceVersion {
		t.Fatalf("apex written before the primary was ready: resourceVersion %s -> %s", original.ResourceVersion, before.ResourceVersion)
	}
	if !maps.Equal(before.Spec.Selector, map[string]string{"app": "podinfo"}) {
		t.Fatalf("apex selector changed before the primary was ready: %v", before.Spec.Selector)
	}
	route, err := r.Observe(ctx, c)
	if err != nil || route.Converged || !strings.Contains(route.Message, "selects {app=podinfo}") {
		t.Fatalf("Observe = %+v, %v; want not converged", route, err)
	}

	if err := r.EnsureServices(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	after := getService(t, cl, "podinfo")
	t.Run("the apex selects primary pods once the primary is ready", func(t *testing.T) {
		if !maps.Equal(after.Spec.Selector, map[string]string{"app": "podinfo-primary"}) {
			t.Fatalf("selector %v", after.Spec.Selector)
		}
	})
	t.Run("the user's ports stay and only ports clashing with none are added", func(t *testing.T) {
		// http (80) clashes with web by number, udp-9999 is another protocol than grpc's 9999.
		want := "web,grpc,http-metrics,udp-9999"
		if got := strings.Join(portNames(after), ","); got != want {
			t.Fatalf("ports %s, want %s", got, want)
		}
		if after.Annotations[AnnotationAddedPorts] != "http-metrics,udp-9999" {
			t.Fatalf("added ports annotation %q", after.Annotations[AnnotationAddedPorts])
		}
	})
	t.Run("the user's metadata and clusterIP stay and no owner reference is set", func(t *testing.T) {
		if after.Spec.ClusterIP != "10.0.0.10" || after.Annotations["note"] != "mine" ||
			after.Labels["kustomize.toolkit.fluxcd.io/name"] != "apps" || after.Annotations["added"] != "by-siskin" {
			t.Fatalf("service %+v", after.ObjectMeta)
		}
		if len(after.OwnerReferences) != 0 || after.Annotations[target.AnnotationCanary] != "" {
			t.Fatal("the user's apex service was taken into ownership")
		}
		if after.Annotations[AnnotationOriginalSelector] != `{"app":"podinfo"}` {
			t.Fatalf("original selector annotation %q", after.Annotations[AnnotationOriginalSelector])
		}
	})
	t.Run("the route converges", func(t *testing.T) {
		route, err := r.Observe(ctx, c)
		if err != nil || !route.Converged {
			t.Fatalf("Observe = %+v, %v", route, err)
		}
	})
	t.Run("a second pass writes nothing", func(t *testing.T) {
		if err := r.EnsureServices(ctx, c, true); err != nil {
			t.Fatal(err)
		}
		if getService(t, cl, "podinfo").ResourceVersion != after.ResourceVersion {
			t.Fatal("apex rewritten without a change")
		}
	})

	t.Run("finalize restores the original selector and removes the added ports", func(t *testing.T) {
		if err := r.Finalize(ctx, c); err != nil {
			t.Fatal(err)
		}
		got := getService(t, cl, "podinfo")
		if !maps.Equal(got.Spec.Selector, map[string]string{"app": "podinfo"}) {
			t.Fatalf("selector %v", got.Spec.Selector)
		}
		if names := strings.Join(portNames(got), ","); names != "web,grpc" {
			t.Fatalf("ports %s", names)
		}
		if _, ok := got.Annotations[AnnotationOriginalSelector]; ok {
			t.Fatal("original selector annotation left behind")
		}
	})
}

func TestFinalizeReleasesAnApexSiskinCreated(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	r, cl := newRouter(t)
	if err := r.EnsureServices(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	svc := getService(t, cl, "podinfo")
	if !maps.Equal(svc.Spec.Selector, map[string]string{"app": "podinfo"}) {
		t.Fatalf("selector %v, want the target's pods", svc.Spec.Selector)
	}
	if len(svc.OwnerReferences) != 0 || svc.Annotations[target.AnnotationCanary] != "" {
		t.Fatalf("apex still owned: %+v", svc.ObjectMeta)
	}
	if !controlledByCanary(getService(t, cl, "podinfo-primary")) {
		t.Fatal("finalize released the primary service too")
	}
}

func TestEnsureServicesOwnership(t *testing.T) {
	foreignRef := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Thing", Name: "x", UID: "other", Controller: ptr.To(true)}}
	svc := func(name string, mut func(*corev1.Service)) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		mut(s)
		return s
	}
	tests := []struct {
		name     string
		existing *corev1.Service
		ready    bool
		wantErr  error
	}{
		{
			name:     "a canary service someone else created is not taken over",
			existing: svc("podinfo-canary", func(*corev1.Service) {}),
			wantErr:  router.ErrNotOwned,
		},
		{
			name:     "a primary service another controller owns is not taken over",
			existing: svc("podinfo-primary", func(s *corev1.Service) { s.OwnerReferences = foreignRef }),
			wantErr:  router.ErrNotOwned,
		},
		{
			name:     "an apex service another controller owns is not adopted",
			existing: svc("podinfo", func(s *corev1.Service) { s.OwnerReferences = foreignRef }),
			ready:    true,
			wantErr:  router.ErrNotOwned,
		},
		{
			name:     "an apex service of type ExternalName cannot select pods",
			existing: svc("podinfo", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName }),
			ready:    true,
			wantErr:  router.ErrNotOwned,
		},
		{
			name:     "a service siskin created and that lost its owner is adopted again",
			existing: svc("podinfo-canary", func(s *corev1.Service) { s.Annotations = map[string]string{target.AnnotationCanary: "podinfo"} }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, cl := newRouter(t, tt.existing)
			err := r.EnsureServices(context.Background(), newCanary(), tt.ready)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !controlledByCanary(getService(t, cl, tt.existing.Name)) {
				t.Fatal("orphan not adopted")
			}
		})
	}
}

func TestEnsureServicesManagesMetadata(t *testing.T) {
	ctx := context.Background()
	r, cl := newRouter(t)
	c := newCanary(func(s *siskinv1.CanaryService) {
		s.Canary = &siskinv1.CustomMetadata{Labels: map[string]string{"mine": "1", "shared": "siskin"}}
		s.UnmanagedMetadata = &siskinv1.UnmanagedMetadata{Labels: []string{"shared", "other-controller"}}
	})
	if err := r.EnsureServices(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	svc := getService(t, cl, "podinfo-canary")
	svc.Labels["other-controller"] = "x"
	svc.Labels["shared"] = "theirs"
	svc.Labels["stray"] = "y"
	if err := cl.Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	c.Spec.Service.Canary.Labels["mine"] = "2"
	if err := r.EnsureServices(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	got := getService(t, cl, "podinfo-canary").Labels
	want := map[string]string{"mine": "2", "shared": "theirs", "other-controller": "x"}
	if !maps.Equal(got, want) {
		t.Fatalf("labels %v, want %v (unmanaged keys kept, stray keys removed)", got, want)
	}
}

func TestEnsureServicesRefusesToFlipHeadless(t *testing.T) {
	ctx := context.Background()
	r, _ := newRouter(t)
	if err := r.EnsureServices(ctx, newCanary(), true); err != nil {
		t.Fatal(err)
	}
	headless := newCanary(func(s *siskinv1.CanaryService) { s.Headless = true })
	if err := r.EnsureServices(ctx, headless, true); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("error = %v, want one about the immutable clusterIP", err)
	}
}

func TestApplyIsANoOpAndObserveReportsWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	r, _ := newRouter(t)
	c := newCanary()
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 0, CanaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	route, err := r.Observe(ctx, c)
	if err != nil || route.Converged || route.PrimaryWeight != 100 || !strings.Contains(route.Message, "podinfo-primary not found") {
		t.Fatalf("Observe = %+v, %v", route, err)
	}
}

func TestEnsureServicesCarriesAdditionalPorts(t *testing.T) {
	ctx := context.Background()
	c := newCanary(func(s *siskinv1.CanaryService) {
		s.AdditionalPorts = []siskinv1.ServicePort{
			{Name: "grpc", Port: 9999, AppProtocol: "grpc"},
			{Name: "redis", Port: 6379, TargetPort: intstr.FromString("redis"), AppProtocol: "tcp"},
		}
	})
	want := []corev1.ServicePort{
		{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")},
		{Name: "grpc", Protocol: corev1.ProtocolTCP, Port: 9999, TargetPort: intstr.FromInt32(9999), AppProtocol: ptr.To("grpc")},
		{Name: "redis", Protocol: corev1.ProtocolTCP, Port: 6379, TargetPort: intstr.FromString("redis"), AppProtocol: ptr.To("tcp")},
	}

	t.Run("the three Services Siskin creates carry every port", func(t *testing.T) {
		r, cl := newRouter(t)
		if err := r.EnsureServices(ctx, c, true); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
			if got := getService(t, cl, name).Spec.Ports; !equality.Semantic.DeepEqual(got, want) {
				t.Fatalf("service %s ports %+v, want %+v", name, got, want)
			}
		}
	})

	t.Run("an adopted apex gets the additional ports that clash with none of its own, until Finalize", func(t *testing.T) {
		r, cl := newRouter(t, userApex())
		if err := r.EnsureServices(ctx, c, true); err != nil {
			t.Fatal(err)
		}
		apex := getService(t, cl, "podinfo")
		// http (80) clashes with web and grpc (9999) with the user's grpc: only redis is added.
		if got := strings.Join(portNames(apex), ","); got != "web,grpc,redis" {
			t.Fatalf("apex ports %s", got)
		}
		if apex.Annotations[AnnotationAddedPorts] != "redis" {
			t.Fatalf("added ports annotation %q", apex.Annotations[AnnotationAddedPorts])
		}
		if err := r.Finalize(ctx, c); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(portNames(getService(t, cl, "podinfo")), ","); got != "web,grpc" {
			t.Fatalf("apex ports after Finalize %s", got)
		}
	})
}

// An apex Service the Canary may manage (annotated for it, or controlled by an earlier Canary of
// the same name) that serves other pods than the primary's keeps them until the primary is
// ready: the Services are ensured while the primary starts.
func TestAnApexTheCanaryMayManageKeepsItsPodsUntilThePrimaryIsReady(t *testing.T) {
	ctx := context.Background()
	annotated := userApex()
	annotated.Annotations[target.AnnotationCanary] = "podinfo"
	stale := userApex()
	stale.OwnerReferences = []metav1.OwnerReference{{APIVersion: siskinv1.GroupVersion.String(), Kind: siskinv1.CanaryKind,
		Name: "podinfo", UID: "an-earlier-canary", Controller: ptr.To(true)}}
	for name, apex := range map[string]*corev1.Service{"annotated": annotated, "left by an earlier Canary": stale} {
		t.Run(name, func(t *testing.T) {
			c := newCanary()
			r, cl := newRouter(t, apex)
			if err := r.EnsureServices(ctx, c, false); err != nil {
				t.Fatal(err)
			}
			if got := getService(t, cl, "podinfo").Spec.Selector; !maps.Equal(got, map[string]string{"app": "podinfo"}) {
				t.Fatalf("apex selects %v before the primary is ready, want app=podinfo", got)
			}
			getService(t, cl, "podinfo-primary") // the Services Siskin owns are there already
			if err := r.EnsureServices(ctx, c, true); err != nil {
				t.Fatal(err)
			}
			if got := getService(t, cl, "podinfo").Spec.Selector; !maps.Equal(got, map[string]string{"app": "podinfo-primary"}) {
				t.Fatalf("apex selects %v once the primary is ready, want app=podinfo-primary", got)
			}
		})
	}
}
