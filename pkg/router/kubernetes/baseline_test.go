package kubernetes

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

func TestEnsureBaselineServiceSelectsTheBaselinePodsOnThePrimaryPorts(t *testing.T) {
	ctx := context.Background()
	c := newCanary(func(s *siskinv1.CanaryService) {
		s.Name = "web"
		s.AppProtocol = "http"
		s.PortDiscovery = true
		s.Primary = &siskinv1.CustomMetadata{Labels: map[string]string{"tier": "primary"}}
	})
	r, cl := newRouter(t)
	if err := r.EnsureServices(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	if exists, msg, err := r.ObserveBaselineService(ctx, c); err != nil || exists || msg != "service test/web-baseline not found" {
		t.Fatalf("before EnsureBaselineService: %t, %q, %v", exists, msg, err)
	}
	if err := r.EnsureBaselineService(ctx, c); err != nil {
		t.Fatal(err)
	}
	b, p := getService(t, cl, "web-baseline"), getService(t, cl, "web-primary")
	if !maps.Equal(b.Spec.Selector, map[string]string{"app": "podinfo" + target.BaselineSuffix}) {
		t.Fatalf("selector %v", b.Spec.Selector)
	}
	if !slices.Equal(portNames(b), portNames(p)) || !slices.EqualFunc(b.Spec.Ports, p.Spec.Ports, func(x, y corev1.ServicePort) bool {
		return x.Port == y.Port && x.TargetPort == y.TargetPort && ptr.Deref(x.AppProtocol, "") == ptr.Deref(y.AppProtocol, "")
	}) {
		t.Fatalf("ports %+v, want the primary's %+v", b.Spec.Ports, p.Spec.Ports)
	}
	if !controlledByCanary(b) || b.Annotations[target.AnnotationCanary] != "podinfo" || b.Labels["tier"] != "" {
		t.Fatalf("metadata %+v", b.ObjectMeta)
	}
	if exists, msg, err := r.ObserveBaselineService(ctx, c); err != nil || !exists || msg != "" {
		t.Fatalf("after EnsureBaselineService: %t, %q, %v", exists, msg, err)
	}
	if name := router.BaselineServiceName(c); name != b.Name {
		t.Fatalf("router.BaselineServiceName = %q", name)
	}

	before := b.ResourceVersion
	if err := r.EnsureBaselineService(ctx, c); err != nil {
		t.Fatal(err)
	}
	if getService(t, cl, "web-baseline").ResourceVersion != before {
		t.Fatal("a second EnsureBaselineService wrote the Service")
	}

	b.Spec.Selector = map[string]string{"app": "podinfo-primary"}
	if err := cl.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	if exists, msg, err := r.ObserveBaselineService(ctx, c); err != nil || !exists ||
		msg != "service test/web-baseline selects {app=podinfo-primary}, want {app=podinfo-baseline}" {
		t.Fatalf("with a changed selector: %t, %q, %v", exists, msg, err)
	}
}

func TestRemoveBaselineService(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	r, cl := newRouter(t)
	if err := r.RemoveBaselineService(ctx, c); err != nil {
		t.Fatalf("removing a Service that does not exist: %v", err)
	}
	if err := r.EnsureBaselineService(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveBaselineService(ctx, c); err != nil {
		t.Fatal(err)
	}
	err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, &corev1.Service{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("the baseline Service is still there: %v", err)
	}
}

func TestForeignBaselineServiceIsLeftAlone(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	theirs := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo-baseline", Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "theirs"}},
	}
	r, cl := newRouter(t, theirs)
	if err := r.EnsureBaselineService(ctx, c); !errors.Is(err, router.ErrNotOwned) {
		t.Fatalf("EnsureBaselineService error = %v, want ErrNotOwned", err)
	}
	exists, msg, err := r.ObserveBaselineService(ctx, c)
	if err != nil || exists || msg == "" {
		t.Fatalf("ObserveBaselineService = %t, %q, %v; want it reported as not the canary's", exists, msg, err)
	}
	if err := r.RemoveBaselineService(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := getService(t, cl, "podinfo-baseline"); got.Spec.Selector["app"] != "theirs" {
		t.Fatalf("the Service changed: %+v", got.Spec)
	}
}
