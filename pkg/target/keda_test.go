package target

import (
	"context"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

func withScaledObject(queries map[string]string, min, max *int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		c.Spec.AutoscalerRef = &siskinv1.AutoscalerReference{
			APIVersion: "keda.sh/v1alpha1", Kind: KindScaledObject, Name: "podinfo-so",
			PrimaryScalerQueries: queries,
		}
		if min != nil || max != nil {
			c.Spec.AutoscalerRef.PrimaryScalerReplicas = &siskinv1.ScalerReplicas{MinReplicas: min, MaxReplicas: max}
		}
	}
}

// newScaledObjectFixture is the target's ScaledObject with two Prometheus triggers.
func newScaledObjectFixture(annotations map[string]string) *unstructured.Unstructured {
	so := newScaledObject()
	so.SetName("podinfo-so")
	so.SetNamespace(ns)
	so.SetLabels(map[string]string{"team": "a"})
	so.SetAnnotations(annotations)
	so.Object["spec"] = map[string]any{
		"scaleTargetRef":  map[string]any{"name": "podinfo"},
		"minReplicaCount": int64(1),
		"maxReplicaCount": int64(3),
		"triggers": []any{
			map[string]any{"type": "prometheus", "name": "requests", "metadata": map[string]any{
				"query": `sum(rate(http_requests_total{app="podinfo"}[30s]))`, "threshold": "5",
			}},
			map[string]any{"type": "prometheus", "name": "latency", "metadata": map[string]any{
				"query": `max(latency{deployment="podinfo-canary"})`, "threshold": "1",
			}},
		},
	}
	return so
}

func newKEDAAdapter(t *testing.T, objs ...client.Object) (*Deployment, client.Client) {
	t.Helper()
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(ScaledObjectGVK, meta.RESTScopeNamespace)
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithRESTMapper(mapper).WithObjects(objs...).Build()
	return NewDeployment(c, c, nil), c
}

func getSO(t *testing.T, c client.Client, name string) *unstructured.Unstructured {
	t.Helper()
	so := newScaledObject()
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, so); err != nil {
		t.Fatal(err)
	}
	return so
}

func triggerQuery(t *testing.T, so *unstructured.Unstructured, i int) string {
	t.Helper()
	triggers, _, _ := unstructured.NestedSlice(so.Object, "spec", "triggers")
	q, _, _ := unstructured.NestedString(triggers[i].(map[string]any), "metadata", "query")
	return q
}

func TestSyncPrimaryScaledObject(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withScaledObject(nil, nil, nil))
	d, cl := newKEDAAdapter(t, newTarget(), newScaledObjectFixture(map[string]string{"owner": "team-a"}))
	if err := d.SyncPrimaryHPA(ctx, c); err != nil {
		t.Fatal(err)
	}
	p := getSO(t, cl, "podinfo-so-primary")

	t.Run("the primary ScaledObject scales the primary with the target's settings", func(t *testing.T) {
		name, _, _ := unstructured.NestedString(p.Object, "spec", "scaleTargetRef", "name")
		max, _, _ := unstructured.NestedInt64(p.Object, "spec", "maxReplicaCount")
		if name != "podinfo-primary" || max != 3 || p.GetLabels()["team"] != "a" || p.GetAnnotations()["owner"] != "team-a" {
			t.Fatalf("primary scaledobject %v", p.Object)
		}
		assertControlledByCanary(t, p)
	})
	t.Run("without primaryScalerQueries the queries are guessed for the primary", func(t *testing.T) {
		if q := triggerQuery(t, p, 0); q != `sum(rate(http_requests_total{app="podinfo-primary"}[30s]))` {
			t.Fatalf("query %q", q)
		}
		if q := triggerQuery(t, p, 1); q != `max(latency{deployment="podinfo-primary"})` {
			t.Fatalf("query %q", q)
		}
	})
	t.Run("syncing again without a change writes nothing", func(t *testing.T) {
		if err := d.SyncPrimaryHPA(ctx, c); err != nil {
			t.Fatal(err)
		}
		if again := getSO(t, cl, "podinfo-so-primary"); again.GetResourceVersion() != p.GetResourceVersion() {
			t.Fatal("primary scaledobject rewritten without a change")
		}
	})
	t.Run("a trigger changed on the target's ScaledObject reaches the primary's", func(t *testing.T) {
		src := getSO(t, cl, "podinfo-so")
		triggers, _, _ := unstructured.NestedSlice(src.Object, "spec", "triggers")
		_ = unstructured.SetNestedField(triggers[0].(map[string]any), "10", "metadata", "threshold")
		_ = unstructured.SetNestedSlice(src.Object, triggers, "spec", "triggers")
		if err := cl.Update(ctx, src); err != nil {
			t.Fatal(err)
		}
		if err := d.SyncPrimaryHPA(ctx, c); err != nil {
			t.Fatal(err)
		}
		triggers, _, _ = unstructured.NestedSlice(getSO(t, cl, "podinfo-so-primary").Object, "spec", "triggers")
		if th, _, _ := unstructured.NestedString(triggers[0].(map[string]any), "metadata", "threshold"); th != "10" {
			t.Fatalf("threshold %q", th)
		}
	})
}

func TestPrimaryScaledObjectOverrides(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withScaledObject(map[string]string{"requests": "sum(rate(primary_requests[1m]))"}, ptr.To[int32](2), ptr.To[int32](8)))
	d, cl := newKEDAAdapter(t, newTarget(), newScaledObjectFixture(nil))
	if err := d.SyncPrimaryHPA(ctx, c); err != nil {
		t.Fatal(err)
	}
	p := getSO(t, cl, "podinfo-so-primary")
	t.Run("primaryScalerQueries replaces the query of the trigger of that name only", func(t *testing.T) {
		if q := triggerQuery(t, p, 0); q != "sum(rate(primary_requests[1m]))" {
			t.Fatalf("query %q", q)
		}
		if q := triggerQuery(t, p, 1); q != `max(latency{deployment="podinfo-canary"})` {
			t.Fatalf("unnamed trigger's query changed: %q", q)
		}
	})
	t.Run("primaryScalerReplicas sets minReplicaCount and maxReplicaCount", func(t *testing.T) {
		min, _, _ := unstructured.NestedInt64(p.Object, "spec", "minReplicaCount")
		max, _, _ := unstructured.NestedInt64(p.Object, "spec", "maxReplicaCount")
		if min != 2 || max != 8 {
			t.Fatalf("min %d max %d", min, max)
		}
	})
}

func TestScaledObjectPausedAtRest(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withScaledObject(nil, nil, nil))
	d, cl := newKEDAAdapter(t, newTarget(), newScaledObjectFixture(nil))

	if err := d.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	t.Run("scaling the target down pauses its ScaledObject at zero", func(t *testing.T) {
		if got := getSO(t, cl, "podinfo-so").GetAnnotations()[AnnotationKEDAPausedReplicas]; got != "0" {
			t.Fatalf("paused-replicas %q", got)
		}
	})
	t.Run("the primary's ScaledObject is never paused", func(t *testing.T) {
		if err := d.SyncPrimaryHPA(ctx, c); err != nil {
			t.Fatal(err)
		}
		p := getSO(t, cl, "podinfo-so-primary")
		if _, ok := p.GetAnnotations()[AnnotationKEDAPausedReplicas]; ok {
			t.Fatalf("primary paused: %v", p.GetAnnotations())
		}
		if got := getSO(t, cl, "podinfo-so").GetAnnotations()[AnnotationKEDAPausedReplicas]; got != "0" {
			t.Fatalf("target's scaledobject resumed at rest: %q", got)
		}
	})
	if err := d.ScaleUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	t.Run("scaling the target up for an analysis resumes its ScaledObject", func(t *testing.T) {
		so := getSO(t, cl, "podinfo-so")
		if _, ok := so.GetAnnotations()[AnnotationKEDAPausedReplicas]; ok {
			t.Fatalf("still paused: %v", so.GetAnnotations())
		}
		if _, ok := so.GetAnnotations()[AnnotationUserPausedReplicas]; ok {
			t.Fatalf("memory left behind: %v", so.GetAnnotations())
		}
	})
}

func TestScaledObjectRestoredOnRevert(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withScaledObject(nil, nil, nil))
	// The user had paused their ScaledObject at 2 replicas themselves.
	d, cl := newKEDAAdapter(t, newTarget(), newScaledObjectFixture(map[string]string{AnnotationKEDAPausedReplicas: "2"}))
	if err := d.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := getSO(t, cl, "podinfo-so").GetAnnotations()[AnnotationKEDAPausedReplicas]; got != "0" {
		t.Fatalf("paused-replicas at rest %q", got)
	}
	if _, err := d.Revert(ctx, c); err != nil {
		t.Fatal(err)
	}
	ann := getSO(t, cl, "podinfo-so").GetAnnotations()
	if ann[AnnotationKEDAPausedReplicas] != "2" {
		t.Fatalf("user's paused-replicas not restored: %v", ann)
	}
	if _, ok := ann[AnnotationUserPausedReplicas]; ok {
		t.Fatalf("memory left behind: %v", ann)
	}
}

func TestScaledObjectWithoutKEDA(t *testing.T) {
	noKEDA := &meta.NoKindMatchError{GroupKind: ScaledObjectGVK.GroupKind(), SearchedVersions: []string{"v1alpha1"}}
	cl := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(newTarget()).
		WithInterceptorFuncs(interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if u, ok := obj.(*unstructured.Unstructured); ok && u.GroupVersionKind() == ScaledObjectGVK {
					return noKEDA
				}
				return c.Get(ctx, key, obj, opts...)
			},
		}).Build()
	d := NewDeployment(cl, cl, nil)
	ctx := context.Background()
	t.Run("a Canary naming a ScaledObject says KEDA is not installed", func(t *testing.T) {
		err := d.SyncPrimaryHPA(ctx, newCanary(withScaledObject(nil, nil, nil)))
		if !errors.Is(err, ErrKEDANotInstalled) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a Canary with an HPA or none never asks for a ScaledObject", func(t *testing.T) {
		if err := d.SyncPrimaryHPA(ctx, newCanary()); err != nil {
			t.Fatal(err)
		}
		if err := d.ScaleDown(ctx, newCanary(withHPA(nil, nil))); err != nil {
			t.Fatal(err)
		}
	})
}

// A worker canary's ScaledObject would scale it by the queue, past its share of the primary's
// replicas: it stays paused during the analysis, at the share.
func TestScaledObjectOfAWorkerIsHeldAtItsShare(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withScaledObject(nil, nil, nil), func(c *siskinv1.Canary) { c.Spec.Provider = siskinv1.ProviderReplicas })
	d, cl := newKEDAAdapter(t, newTarget(), newScaledObjectFixture(nil))
	paused := func() string { return getSO(t, cl, "podinfo-so").GetAnnotations()[AnnotationKEDAPausedReplicas] }

	if err := d.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := paused(); got != "0" {
		t.Fatalf("at rest paused-replicas %q, want 0", got)
	}
	if err := d.ScaleUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := d.SyncPrimaryHPA(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := paused(); got != "1" {
		t.Fatalf("after ScaleUp paused-replicas %q, want 1: KEDA must not scale the worker canary", got)
	}
	primary := newTarget(func(dep *appsv1.Deployment) { dep.Name = "podinfo-primary"; dep.Spec.Replicas = ptr.To[int32](4) })
	if err := cl.Create(ctx, primary); err != nil {
		t.Fatal(err)
	}
	if err := d.ApplyShare(ctx, c, canary.DesiredRoute{PrimaryWeight: 50, CanaryWeight: 50}); err != nil {
		t.Fatal(err)
	}
	if err := d.SyncPrimaryHPA(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := paused(); got != "2" {
		t.Fatalf("at weight 50 of 4 paused-replicas %q, want 2", got)
	}
	if err := d.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := paused(); got != "0" {
		t.Fatalf("after the analysis paused-replicas %q, want 0", got)
	}
	if err := d.ResumeScaler(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, ok := getSO(t, cl, "podinfo-so").GetAnnotations()[AnnotationKEDAPausedReplicas]; ok {
		t.Fatal("the user's ScaledObject is not given back unpaused")
	}
}
