package target

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// baselineWorld is a target whose primary runs 6.0.0 on five replicas, while the target (the
// canary) has moved on to 6.1.0 and runs replicas of its own.
func baselineWorld(t *testing.T, canaryReplicas int32, extra ...client.Object) (*Deployment, client.Client, *appsv1.Deployment) {
	t.Helper()
	ctx := context.Background()
	d, cl := newAdapter(t, objs([]client.Object{newTarget()}, defaultConfigs(), extra)...)
	if err := d.EnsurePrimary(ctx, newCanary()); err != nil {
		t.Fatal(err)
	}
	p := get(t, cl, "podinfo-primary", &appsv1.Deployment{})
	p.Spec.Replicas = ptr.To[int32](5)
	if err := cl.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	tgt := get(t, cl, "podinfo", &appsv1.Deployment{})
	tgt.Spec.Template.Spec.Containers[0].Image = "ghcr.io/stefanprodan/podinfo:6.1.0"
	tgt.Spec.Template.Labels["version"] = "v2"
	tgt.Spec.Replicas = ptr.To(canaryReplicas)
	if canaryReplicas == 0 {
		tgt.Annotations[AnnotationReplicas] = "2"
	}
	if err := cl.Update(ctx, tgt); err != nil {
		t.Fatal(err)
	}
	return d, cl, get(t, cl, "podinfo-primary", &appsv1.Deployment{})
}

func TestEnsureBaselineClonesThePrimaryNotTheTarget(t *testing.T) {
	d, cl, p := baselineWorld(t, 3)
	if err := d.EnsureBaseline(context.Background(), newCanary()); err != nil {
		t.Fatal(err)
	}
	b := get(t, cl, "podinfo-baseline", &appsv1.Deployment{})
	tmpl := b.Spec.Template

	t.Run("it runs the primary's revision and records it", func(t *testing.T) {
		if got := tmpl.Spec.Containers[0].Image; got != "ghcr.io/stefanprodan/podinfo:6.0.0" {
			t.Fatalf("image %q, want the primary's", got)
		}
		if tmpl.Labels["version"] != "v1" {
			t.Fatalf("template labels %v, want the primary's", tmpl.Labels)
		}
		if got := b.Annotations[AnnotationRevision]; got == "" || got != p.Annotations[AnnotationRevision] {
			t.Fatalf("revision %q, want the primary's %q", got, p.Annotations[AnnotationRevision])
		}
		if tmpl.Annotations[AnnotationConfigChecksum] != p.Spec.Template.Annotations[AnnotationConfigChecksum] {
			t.Fatal("the config checksum differs from the primary's")
		}
	})
	t.Run("its selector, its pods and their spread and affinity terms mean baseline pods", func(t *testing.T) {
		anti := tmpl.Spec.Affinity.PodAntiAffinity
		got := map[string]string{
			"selector":            b.Spec.Selector.MatchLabels["app"],
			"pod label":           tmpl.Labels["app"],
			"topology spread":     tmpl.Spec.TopologySpreadConstraints[0].LabelSelector.MatchLabels["app"],
			"preferred anti-term": anti.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector.MatchExpressions[0].Values[0],
		}
		for where, v := range got {
			if v != "podinfo-baseline" {
				t.Errorf("%s: app=%q, want podinfo-baseline", where, v)
			}
		}
		if p.Spec.Selector.MatchLabels["app"] != "podinfo-primary" {
			t.Error("the primary's selector changed")
		}
		if v := anti.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchLabels["app"]; v != "database" {
			t.Errorf("the selector of another app became %q", v)
		}
	})
	t.Run("its containers and volumes are the primary's, which read the configs' primary copies", func(t *testing.T) {
		ps := p.Spec.Template.Spec
		if !equality.Semantic.DeepEqual(tmpl.Spec.Containers, ps.Containers) || !equality.Semantic.DeepEqual(tmpl.Spec.Volumes, ps.Volumes) {
			t.Fatalf("containers %+v, volumes %+v; want the primary's", tmpl.Spec.Containers, tmpl.Spec.Volumes)
		}
		if cm := tmpl.Spec.Volumes[0].ConfigMap.Name; cm != "podinfo-config-primary" {
			t.Fatalf("the pods read configmap %q", cm)
		}
	})
	t.Run("it runs the canary's replicas, not the primary's", func(t *testing.T) {
		if got := *b.Spec.Replicas; got != 3 {
			t.Fatalf("replicas %d, want the canary's 3", got)
		}
	})
	t.Run("the canary controls it and the primary's settings carry over", func(t *testing.T) {
		assertControlledByCanary(t, b)
		if b.Annotations[AnnotationCanary] != "podinfo" || b.Labels["team"] != "a" {
			t.Fatalf("metadata %v %v", b.Labels, b.Annotations)
		}
		if b.Spec.MinReadySeconds != 5 || b.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Fatalf("spec %+v", b.Spec)
		}
	})
}

func TestEnsureBaselineReplicasFollowTheCanaryScaleUp(t *testing.T) {
	tests := []struct {
		name   string
		canary int32
		want   int32
	}{
		{name: "a canary that runs three gives a baseline of three", canary: 3, want: 3},
		{name: "a canary at zero gives what the canary scales up to (its remembered replicas)", canary: 0, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, cl, _ := baselineWorld(t, tt.canary)
			if err := d.EnsureBaseline(context.Background(), newCanary()); err != nil {
				t.Fatal(err)
			}
			if got := *get(t, cl, "podinfo-baseline", &appsv1.Deployment{}).Spec.Replicas; got != tt.want {
				t.Fatalf("baseline replicas = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEnsureBaselineConverges(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	d, cl, _ := baselineWorld(t, 3)
	if err := d.EnsureBaseline(ctx, c); err != nil {
		t.Fatal(err)
	}
	first := get(t, cl, "podinfo-baseline", &appsv1.Deployment{})

	t.Run("a baseline that matches is not written", func(t *testing.T) {
		if err := d.EnsureBaseline(ctx, c); err != nil {
			t.Fatal(err)
		}
		if again := get(t, cl, "podinfo-baseline", &appsv1.Deployment{}); again.ResourceVersion != first.ResourceVersion {
			t.Fatal("a second EnsureBaseline wrote the baseline")
		}
	})
	t.Run("a baseline at zero is scaled up and one off the primary's template is brought back", func(t *testing.T) {
		b := get(t, cl, "podinfo-baseline", &appsv1.Deployment{})
		b.Spec.Replicas = ptr.To[int32](0)
		b.Spec.Template.Spec.Containers[0].Image = "drifted"
		if err := cl.Update(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := d.EnsureBaseline(ctx, c); err != nil {
			t.Fatal(err)
		}
		b = get(t, cl, "podinfo-baseline", &appsv1.Deployment{})
		if *b.Spec.Replicas != 3 || b.Spec.Template.Spec.Containers[0].Image != "ghcr.io/stefanprodan/podinfo:6.0.0" {
			t.Fatalf("replicas %d, image %q", *b.Spec.Replicas, b.Spec.Template.Spec.Containers[0].Image)
		}
	})
	t.Run("a running baseline keeps its replicas", func(t *testing.T) {
		b := get(t, cl, "podinfo-baseline", &appsv1.Deployment{})
		b.Spec.Replicas = ptr.To[int32](7)
		if err := cl.Update(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := d.EnsureBaseline(ctx, c); err != nil {
			t.Fatal(err)
		}
		if got := *get(t, cl, "podinfo-baseline", &appsv1.Deployment{}).Spec.Replicas; got != 7 {
			t.Fatalf("replicas %d, want 7", got)
		}
	})
}

func TestEnsureBaselineRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("without a primary there is nothing to copy", func(t *testing.T) {
		d, cl := newAdapter(t, objs([]client.Object{newTarget()}, defaultConfigs())...)
		err := d.EnsureBaseline(ctx, newCanary())
		if err == nil || !strings.Contains(err.Error(), "podinfo-primary not found") {
			t.Fatalf("error = %v, want one naming the missing primary", err)
		}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			t.Fatalf("baseline created without a primary: %v", err)
		}
	})
	t.Run("a primary whose selector would take the baseline's pods is refused", func(t *testing.T) {
		d, cl, p := baselineWorld(t, 3)
		p.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
		if err := cl.Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		err := d.EnsureBaseline(ctx, newCanary())
		if err == nil || !strings.Contains(err.Error(), "does not tell its pods from the primary's") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("a deployment named like the baseline but made by someone else is not taken over", func(t *testing.T) {
		theirs := newTarget(func(dep *appsv1.Deployment) { dep.Name = "podinfo-baseline" })
		d, cl, _ := baselineWorld(t, 3, theirs)
		c := newCanary()
		if err := d.EnsureBaseline(ctx, c); !errors.Is(err, ErrNotOwned) {
			t.Fatalf("EnsureBaseline error = %v, want ErrNotOwned", err)
		}
		w, err := d.ObserveBaseline(ctx, c)
		if err != nil || w.Exists || !strings.Contains(w.Message, "is not managed by Canary podinfo") {
			t.Fatalf("ObserveBaseline = %+v, %v; want it reported as not the canary's", w, err)
		}
		if err := d.RemoveBaseline(ctx, c); err != nil {
			t.Fatal(err)
		}
		get(t, cl, "podinfo-baseline", &appsv1.Deployment{})
	})
}

func TestObserveBaseline(t *testing.T) {
	ctx := context.Background()
	c := newCanary(func(c *siskinv1.Canary) {
		c.Spec.Analysis.CanaryReadyThreshold = ptr.To[int32](50)
		c.Spec.Analysis.PrimaryReadyThreshold = ptr.To[int32](100)
	})
	d, cl, p := baselineWorld(t, 4)

	w, err := d.ObserveBaseline(ctx, c)
	if err != nil || w.Exists || w.Message != "deployment test/podinfo-baseline not found" {
		t.Fatalf("before EnsureBaseline: %+v, %v", w, err)
	}
	if err := d.EnsureBaseline(ctx, c); err != nil {
		t.Fatal(err)
	}
	w, err = d.ObserveBaseline(ctx, c)
	if err != nil || !w.Exists || w.Ready || !strings.Contains(w.Message, "0 of 4 replicas updated") {
		t.Fatalf("just created: %+v, %v", w, err)
	}
	if w.Fingerprint != p.Annotations[AnnotationRevision] || w.Replicas != 4 {
		t.Fatalf("fingerprint %q replicas %d, want the primary's revision and 4", w.Fingerprint, w.Replicas)
	}

	b := get(t, cl, "podinfo-baseline", &appsv1.Deployment{})
	b.Status = appsv1.DeploymentStatus{ObservedGeneration: b.Generation, Replicas: 4, UpdatedReplicas: 4, AvailableReplicas: 2}
	if err := cl.Status().Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	w, err = d.ObserveBaseline(ctx, c)
	if err != nil || !w.Ready || w.Available != 2 {
		t.Fatalf("two of four available at canaryReadyThreshold 50: %+v, %v; want ready", w, err)
	}
}

func TestRemoveBaseline(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	d, cl, _ := baselineWorld(t, 3)
	if err := d.RemoveBaseline(ctx, c); err != nil {
		t.Fatalf("removing a baseline that does not exist: %v", err)
	}
	if err := d.EnsureBaseline(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveBaseline(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Fatalf("baseline still there: %v", err)
	}
	for _, name := range []string{"podinfo", "podinfo-primary"} {
		get(t, cl, name, &appsv1.Deployment{})
	}
	if err := d.RemoveBaseline(ctx, c); err != nil {
		t.Fatalf("a second RemoveBaseline: %v", err)
	}
}
