package target

import (
	"context"
	"errors"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestSyncPrimaryHPA(t *testing.T) {
	ctx := context.Background()
	c := newCanary(withHPA(nil, nil))
	d, cl := newAdapter(t, newHPA("podinfo", "podinfo", 2, 10))

	if err := d.SyncPrimaryHPA(ctx, c); err != nil {
		t.Fatal(err)
	}
	p := get(t, cl, "podinfo-primary", &autoscalingv2.HorizontalPodAutoscaler{})
	t.Run("the primary autoscaler scales the primary with the target's settings", func(t *testing.T) {
		if p.Spec.ScaleTargetRef.Name != "podinfo-primary" || p.Spec.ScaleTargetRef.Kind != "Deployment" ||
			*p.Spec.MinReplicas != 2 || p.Spec.MaxReplicas != 10 || len(p.Spec.Metrics) != 1 || p.Labels["team"] != "a" {
			t.Fatalf("primary hpa %+v", p)
		}
		assertControlledByCanary(t, p)
	})

	t.Run("syncing again without a change writes nothing", func(t *testing.T) {
		if err := d.SyncPrimaryHPA(ctx, c); err != nil {
			t.Fatal(err)
		}
		if again := get(t, cl, "podinfo-primary", &autoscalingv2.HorizontalPodAutoscaler{}); again.ResourceVersion != p.ResourceVersion {
			t.Fatal("primary hpa rewritten without a change")
		}
	})

	t.Run("a change to the target's autoscaler reaches the primary's without a rollout", func(t *testing.T) {
		src := get(t, cl, "podinfo", &autoscalingv2.HorizontalPodAutoscaler{})
		src.Spec.MaxReplicas = 20
		src.Spec.Metrics[0].Resource.Target.AverageUtilization = ptr.To[int32](60)
		if err := cl.Update(ctx, src); err != nil {
			t.Fatal(err)
		}
		if err := d.SyncPrimaryHPA(ctx, c); err != nil {
			t.Fatal(err)
		}
		got := get(t, cl, "podinfo-primary", &autoscalingv2.HorizontalPodAutoscaler{})
		if got.Spec.MaxReplicas != 20 || *got.Spec.Metrics[0].Resource.Target.AverageUtilization != 60 {
			t.Fatalf("primary hpa spec %+v", got.Spec)
		}
	})

	t.Run("primaryScalerReplicas override the target's bounds, and a change to them is applied", func(t *testing.T) {
		for _, bounds := range [][2]int32{{4, 8}, {5, 9}} {
			c := newCanary(withHPA(ptr.To(bounds[0]), ptr.To(bounds[1])))
			if err := d.SyncPrimaryHPA(ctx, c); err != nil {
				t.Fatal(err)
			}
			got := get(t, cl, "podinfo-primary", &autoscalingv2.HorizontalPodAutoscaler{})
			if *got.Spec.MinReplicas != bounds[0] || got.Spec.MaxReplicas != bounds[1] {
				t.Fatalf("bounds %d..%d, want %v", *got.Spec.MinReplicas, got.Spec.MaxReplicas, bounds)
			}
		}
	})
}

func TestSyncPrimaryHPAEdges(t *testing.T) {
	foreign := newHPA("podinfo-primary", "something", 1, 2)
	foreign.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Thing", Name: "x", UID: "other", Controller: ptr.To(true)}}
	tests := []struct {
		name    string
		canary  *siskinv1.Canary
		objects []client.Object
		wantErr error
		created bool
	}{
		{name: "a canary without an autoscalerRef creates nothing", canary: newCanary(), objects: []client.Object{newHPA("podinfo", "podinfo", 1, 2)}},
		{name: "an autoscaler of someone else's named like the primary's is not taken over", canary: newCanary(withHPA(nil, nil)),
			objects: []client.Object{newHPA("podinfo", "podinfo", 1, 2), foreign}, wantErr: ErrNotOwned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, cl := newAdapter(t, tt.objects...)
			err := d.SyncPrimaryHPA(context.Background(), tt.canary)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			var list autoscalingv2.HorizontalPodAutoscalerList
			if err := cl.List(context.Background(), &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != len(tt.objects) {
				t.Fatalf("%d autoscalers, want %d", len(list.Items), len(tt.objects))
			}
		})
	}
}
