package target

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// SyncPrimaryHPA keeps <hpa>-primary, aimed at <target>-primary, equal to the target's
// HorizontalPodAutoscaler (autoscaling/v2) with autoscalerRef.primaryScalerReplicas applied.
// Call it on every reconcile, not only at promotion: a change to the target's autoscaler or
// to the overrides reaches the primary at once. It does nothing without an autoscalerRef. An
// autoscalerRef of kind ScaledObject is KEDA's, kept in sync by syncPrimaryScaledObject.
func (d *Deployment) SyncPrimaryHPA(ctx context.Context, c *siskinv1.Canary) error {
	ref := c.Spec.AutoscalerRef
	if ref == nil {
		return nil
	}
	if ref.Kind == KindScaledObject {
		return d.syncPrimaryScaledObject(ctx, c)
	}
	srcKey := client.ObjectKey{Namespace: c.Namespace, Name: ref.Name}
	src := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := d.reader.Get(ctx, srcKey, src); err != nil {
		return fmt.Errorf("get horizontalpodautoscaler %s: %w", srcKey, err)
	}

	spec := src.Spec.DeepCopy()
	spec.ScaleTargetRef.Name = PrimaryName(c.Spec.TargetRef.Name)
	if o := ref.PrimaryScalerReplicas; o != nil {
		if o.MinReplicas != nil {
			spec.MinReplicas = o.MinReplicas
		}
		if o.MaxReplicas != nil {
			spec.MaxReplicas = *o.MaxReplicas
		}
	}
	labels, annotations := copyMeta(c, src.Labels, src.Annotations)

	key := client.ObjectKey{Namespace: c.Namespace, Name: PrimaryName(ref.Name)}
	cur := &autoscalingv2.HorizontalPodAutoscaler{}
	err := d.reader.Get(ctx, key, cur)
	if apierrors.IsNotFound(err) {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{
				Name:            key.Name,
				Namespace:       key.Namespace,
				Labels:          labels,
				Annotations:     annotations,
				OwnerReferences: []metav1.OwnerReference{ownerRef(c)},
			},
			Spec: *spec,
		}
		if err := d.client.Create(ctx, hpa); err != nil {
			return fmt.Errorf("create horizontalpodautoscaler %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get horizontalpodautoscaler %s: %w", key, err)
	}
	want := cur.DeepCopy()
	if err := claim(want, c, "horizontalpodautoscaler"); err != nil {
		return err
	}
	want.Spec = *spec
	want.Labels, want.Annotations = labels, annotations
	if equality.Semantic.DeepEqual(cur, want) {
		return nil
	}
	if err := d.client.Patch(ctx, want, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch horizontalpodautoscaler %s: %w", key, err)
	}
	return nil
}
