package target

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestScaleDownThenUpRestoresTheReplicas(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	d, cl := newAdapter(t, newTarget(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](4) }))

	if err := d.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	down := get(t, cl, "podinfo", &appsv1.Deployment{})
	if *down.Spec.Replicas != 0 || down.Annotations[AnnotationReplicas] != "4" {
		t.Fatalf("after ScaleDown: replicas %d, annotations %v", *down.Spec.Replicas, down.Annotations)
	}
	if err := d.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	if again := get(t, cl, "podinfo", &appsv1.Deployment{}); again.ResourceVersion != down.ResourceVersion {
		t.Fatal("a second ScaleDown wrote the target")
	}

	if err := d.ScaleUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	up := get(t, cl, "podinfo", &appsv1.Deployment{})
	if *up.Spec.Replicas != 4 {
		t.Fatalf("after ScaleUp: replicas %d, want 4", *up.Spec.Replicas)
	}
	if _, ok := up.Annotations[AnnotationReplicas]; ok {
		t.Fatal("remembered replicas left on a target that is up")
	}
	if up.Annotations["owner"] != "team-a" {
		t.Fatal("ScaleUp dropped the target's other annotations")
	}
}

func TestScaleUp(t *testing.T) {
	atZero := func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](0) }
	primary := func(n int32) client.Object {
		p := newTarget(func(d *appsv1.Deployment) { d.Name = "podinfo-primary"; d.Spec.Replicas = ptr.To(n) })
		return p
	}
	tests := []struct {
		name    string
		target  *appsv1.Deployment
		canary  *siskinv1.Canary
		objects []client.Object
		want    int32
	}{
		{
			name: "remembered replicas win",
			target: newTarget(atZero, func(d *appsv1.Deployment) {
				d.Annotations[AnnotationReplicas] = "2"
			}),
			objects: []client.Object{primary(7)},
			want:    2,
		},
		{
			name:    "without a memory the primary's replicas are used",
			target:  newTarget(atZero),
			objects: []client.Object{primary(7), newHPA("podinfo", "podinfo", 3, 10)},
			canary:  newCanary(withHPA(nil, nil)),
			want:    7,
		},
		{
			name:    "without a primary the autoscaler's minimum is used",
			target:  newTarget(atZero),
			objects: []client.Object{newHPA("podinfo", "podinfo", 3, 10)},
			canary:  newCanary(withHPA(nil, nil)),
			want:    3,
		},
		{
			name:   "with nothing to go by the target gets one replica",
			target: newTarget(atZero),
			want:   1,
		},
		{
			name:   "a target that is already up is left alone",
			target: newTarget(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) }),
			want:   5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.canary
			if c == nil {
				c = newCanary()
			}
			d, cl := newAdapter(t, append(tt.objects, tt.target)...)
			if err := d.ScaleUp(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			if got := *get(t, cl, "podinfo", &appsv1.Deployment{}).Spec.Replicas; got != tt.want {
				t.Fatalf("replicas = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRevert(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	tgt := newTarget(func(d *appsv1.Deployment) {
		d.Spec.Replicas = ptr.To[int32](0)
		d.Annotations[AnnotationReplicas] = "2"
	})
	p := newTarget(func(d *appsv1.Deployment) { d.Name = "podinfo-primary"; d.Spec.Replicas = ptr.To[int32](6) })
	d, cl := newAdapter(t, tgt, p)

	ready, err := d.Revert(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if ready {
		t.Fatal("a target just scaled up reported ready")
	}
	up := get(t, cl, "podinfo", &appsv1.Deployment{})
	if *up.Spec.Replicas != 6 {
		t.Fatalf("replicas = %d, want the primary's 6", *up.Spec.Replicas)
	}
	if _, ok := up.Annotations[AnnotationReplicas]; ok {
		t.Fatal("remembered replicas left behind")
	}

	up.Status = appsv1.DeploymentStatus{ObservedGeneration: up.Generation, Replicas: 6, UpdatedReplicas: 6, AvailableReplicas: 6}
	if err := cl.Status().Update(ctx, up); err != nil {
		t.Fatal(err)
	}
	ready, err = d.Revert(ctx, c)
	if err != nil || !ready {
		t.Fatalf("Revert = %t, %v; want ready once all replicas are available", ready, err)
	}
}

func TestScaleDownFromAStaleCacheIsAConflict(t *testing.T) {
	ctx := context.Background()
	s := testScheme(t)
	stale := fake.NewClientBuilder().WithScheme(s).WithObjects(newTarget()).Build()
	live := fake.NewClientBuilder().WithScheme(s).WithObjects(newTarget()).Build()
	updateTarget(t, live, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](8) })

	d := NewDeployment(stale, live, nil)
	if err := d.ScaleDown(ctx, newCanary()); !apierrors.IsConflict(err) {
		t.Fatalf("error = %v, want a conflict", err)
	}
	if got := get(t, live, "podinfo", &appsv1.Deployment{}); *got.Spec.Replicas != 8 || got.Annotations[AnnotationReplicas] != "" {
		t.Fatalf("target written from a stale read: replicas %d, annotations %v", *got.Spec.Replicas, got.Annotations)
	}
}
