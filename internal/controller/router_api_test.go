package controller

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/prometheus/client_golang/prometheus"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/observability"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/kubernetes"
	"github.com/siskin-dev/siskin/pkg/target"
)

// missingAPI is a router whose CRDs are not installed: every call meets a NoKindMatch.
type missingAPI struct{}

var errNoVirtualService = &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"}, SearchedVersions: []string{"v1"}}

func (missingAPI) Observe(context.Context, *siskinv1.Canary) (canary.Route, error) {
	return canary.Route{}, errNoVirtualService
}
func (missingAPI) Apply(context.Context, *siskinv1.Canary, canary.DesiredRoute) error {
	return errNoVirtualService
}
func (missingAPI) Finalize(context.Context, *siskinv1.Canary) error { return errNoVirtualService }

var _ router.Router = missingAPI{}

// A router whose CRDs are not installed used to fail every round (observe) and hold every
// deletion forever (Finalize returned the error). Now it is an observation, and deletion goes on.
func TestRouterAPIMissing(t *testing.T) {
	scheme, err := testenv.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns", Finalizers: []string{siskinv1.CanaryFinalizer},
			DeletionTimestamp: ptr.To(metav1.NewTime(now))},
		Spec: siskinv1.CanarySpec{Provider: siskinv1.ProviderIstio, Service: siskinv1.CanaryService{Port: 9898},
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"}},
		Status: siskinv1.CanaryStatus{Phase: siskinv1.PhaseSucceeded},
	}
	dep := appDeployment("ns", "podinfo", "podinfo:6.0.0")
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(c, dep).WithStatusSubresource(&siskinv1.Canary{}, &appsv1.Deployment{}).Build()
	rec, err := observability.NewRecorder(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := &CanaryReconciler{
		Client: cl, Target: target.NewDeployment(cl, cl, nil), Services: kubernetes.New(cl, cl, nil),
		Routers: map[string]router.Router{siskinv1.ProviderIstio: missingAPI{}}, Metrics: rec,
		Now: func() time.Time { return now },
	}
	ctx := context.Background()

	route, err := r.observeRoute(ctx, c, siskinv1.ProviderIstio)
	if err != nil || route.Problem != siskinv1.ReasonRouterUnavailable {
		t.Fatalf("observeRoute = %+v, %v; want the problem RouterUnavailable and no error", route, err)
	}

	live := &siskinv1.Canary{}
	for i := 0; i < 5; i++ {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(c), live); err != nil {
			break // the fake client deletes the Canary once its finalizer is gone
		}
		if _, err := r.finalize(ctx, live); err != nil {
			t.Fatalf("finalize with the router's API missing: %v", err)
		}
		now = now.Add(handBackDrain + time.Second)
	}
	if err := cl.Get(ctx, client.ObjectKeyFromObject(c), live); err == nil && controllerutil.ContainsFinalizer(live, siskinv1.CanaryFinalizer) {
		t.Fatalf("the finalizer is still there: phase %s, %+v", live.Status.Phase, live.Status.Conditions)
	}
}

// Deleting a Canary whose target never becomes ready used to wait forever. After the progress
// deadline the deletion completes and leaves the primary serving, no longer owned by the Canary.
func TestDeletionLeavesThePrimaryServingWhenTheTargetNeverBecomesReady(t *testing.T) {
	scheme, err := testenv.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns", UID: "canary-uid", Finalizers: []string{siskinv1.CanaryFinalizer},
			DeletionTimestamp: ptr.To(metav1.NewTime(now))},
		Spec: siskinv1.CanarySpec{Provider: siskinv1.ProviderKubernetes, Service: siskinv1.CanaryService{Port: 9898},
			ProgressDeadlineSeconds: ptr.To[int32](60),
			TargetRef:               siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"}},
		Status: siskinv1.CanaryStatus{Phase: siskinv1.PhaseSucceeded},
	}
	dep := appDeployment("ns", "podinfo", "podinfo:6.1.0-broken")
	dep.Spec.Replicas = ptr.To[int32](2)
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 2, UnavailableReplicas: 2}
	primary := appDeployment("ns", "podinfo-primary", "podinfo:6.0.0")
	primary.OwnerReferences = []metav1.OwnerReference{{APIVersion: siskinv1.GroupVersion.String(), Kind: "Canary", Name: c.Name, UID: c.UID, Controller: ptr.To(true)}}
	cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(c, dep, primary).WithStatusSubresource(&siskinv1.Canary{}, &appsv1.Deployment{}).Build()
	rec, err := observability.NewRecorder(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := &CanaryReconciler{
		Client: cl, Target: target.NewDeployment(cl, cl, nil), Services: kubernetes.New(cl, cl, nil),
		Metrics: rec, Now: func() time.Time { return now },
	}
	ctx := context.Background()
	live := &siskinv1.Canary{}
	step := func() {
		t.Helper()
		if err := cl.Get(ctx, client.ObjectKeyFromObject(c), live); err != nil {
			return
		}
		if _, err := r.finalize(ctx, live); err != nil {
			t.Fatalf("finalize: %v", err)
		}
	}
	step()
	if err := cl.Get(ctx, client.ObjectKeyFromObject(c), live); err != nil || live.Status.Phase != siskinv1.PhaseTerminating {
		t.Fatalf("before the deadline the deletion waits in Terminating: %v %s", err, live.Status.Phase)
	}
	now = now.Add(61 * time.Second)
	step()
	if err := cl.Get(ctx, client.ObjectKeyFromObject(c), live); err == nil && controllerutil.ContainsFinalizer(live, siskinv1.CanaryFinalizer) {
		t.Fatalf("the finalizer is still there after the deadline: %+v", live.Status.Conditions)
	}
	got := &appsv1.Deployment{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "podinfo-primary"}, got); err != nil {
		t.Fatal(err)
	}
	if len(got.OwnerReferences) != 0 {
		t.Errorf("the primary is still owned by the Canary, so the garbage collector would delete it: %+v", got.OwnerReferences)
	}
}
