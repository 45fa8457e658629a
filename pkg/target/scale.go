package target

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// ScaleDown scales the target to zero and remembers its replicas in AnnotationReplicas, so
// that ScaleUp restores them. The patch carries the resourceVersion that was read: a replica
// count changed meanwhile is a conflict, not a wrong memory. A worker canary's replicas are a
// share of the primary's, not the user's count: the memory it already has is kept.
func (d *Deployment) ScaleDown(ctx context.Context, c *siskinv1.Canary) error {
	target, err := d.getTarget(ctx, c)
	if err != nil {
		return err
	}
	n := ptr.Deref(target.Spec.Replicas, 1)
	if n == 0 {
		return d.PauseScaler(ctx, c)
	}
	remember := n
	if m := rememberedReplicas(target); m > 0 && sharesPods(c) {
		remember = m
	}
	want := target.DeepCopy()
	want.Annotations = mergeMetadata(want.Annotations, map[string]string{AnnotationReplicas: strconv.Itoa(int(remember))})
	want.Spec.Replicas = ptr.To[int32](0)
	if err := d.client.Patch(ctx, want, client.MergeFromWithOptions(target, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("scale deployment %s to zero: %w", targetKey(c), err)
	}
	// A KEDA ScaledObject would scale the target up again at rest.
	return d.PauseScaler(ctx, c)
}

// ScaleUp scales a target at zero to its desired replicas: those remembered by ScaleDown, else
// the primary's, else the autoscaler's minimum, else 1. A target already up is left alone. A
// worker canary (spec.provider replicas) starts on one replica instead, its smallest share,
// and keeps the memory (see scaleUpShare).
func (d *Deployment) ScaleUp(ctx context.Context, c *siskinv1.Canary) error {
	target, err := d.getTarget(ctx, c)
	if err != nil {
		return err
	}
	if sharesPods(c) {
		// The target's KEDA ScaledObject stays paused, at the share (syncPrimaryScaledObject).
		return d.scaleUpShare(ctx, c, target)
	}
	// A paused KEDA ScaledObject would hold the target at zero.
	if err := d.ResumeScaler(ctx, c); err != nil {
		return err
	}
	if ptr.Deref(target.Spec.Replicas, 1) > 0 {
		return nil
	}
	n, err := d.upReplicas(ctx, c, target)
	if err != nil {
		return err
	}
	return d.scaleTo(ctx, c, target, n)
}

// Revert prepares the target to serve production again when the Canary is deleted with
// revertOnDeletion: it scales the target to at least the primary's replicas (the primary is
// what carried the load) and reports whether the target is ready by primaryReadyThreshold.
// Waiting, and re-pointing the apex Service only once it is ready, are the caller's job.
func (d *Deployment) Revert(ctx context.Context, c *siskinv1.Canary) (bool, error) {
	target, err := d.getTarget(ctx, c)
	if err != nil {
		return false, err
	}
	// The target's KEDA ScaledObject goes back to how the user had it.
	if err := d.ResumeScaler(ctx, c); err != nil && !errors.Is(err, ErrKEDANotInstalled) && !apierrors.IsNotFound(err) {
		return false, err
	}
	primary, err := d.getPrimary(ctx, c)
	if err != nil {
		return false, err
	}
	var n int32
	if primary != nil {
		n = ptr.Deref(primary.Spec.Replicas, 1)
	}
	if n == 0 {
		if n, err = d.upReplicas(ctx, c, target); err != nil {
			return false, err
		}
	}
	_, remembered := target.Annotations[AnnotationReplicas]
	if cur := ptr.Deref(target.Spec.Replicas, 1); cur < n || remembered {
		if err := d.scaleTo(ctx, c, target, max(cur, n)); err != nil {
			return false, err
		}
		return false, nil
	}
	ready, _ := readiness(target, readyThreshold(c, false))
	return ready, nil
}

// scaleTo sets the target's replicas and forgets the remembered ones, and a worker canary's
// applied share. Only those fields are in the patch, so a stale read cannot undo another
// writer's change.
func (d *Deployment) scaleTo(ctx context.Context, c *siskinv1.Canary, target *appsv1.Deployment, n int32) error {
	want := target.DeepCopy()
	delete(want.Annotations, AnnotationReplicas)
	delete(want.Annotations, AnnotationWeight)
	want.Spec.Replicas = ptr.To(n)
	if err := d.client.Patch(ctx, want, client.MergeFrom(target)); err != nil {
		return fmt.Errorf("scale deployment %s to %d: %w", targetKey(c), n, err)
	}
	return nil
}

// upReplicas is the replica count of a target coming back from zero.
func (d *Deployment) upReplicas(ctx context.Context, c *siskinv1.Canary, target *appsv1.Deployment) (int32, error) {
	if n := rememberedReplicas(target); n > 0 {
		return n, nil
	}
	primary, err := d.getPrimary(ctx, c)
	if err != nil {
		return 0, err
	}
	if primary != nil {
		if n := ptr.Deref(primary.Spec.Replicas, 1); n > 0 {
			return n, nil
		}
	}
	if ref := c.Spec.AutoscalerRef; ref != nil && ref.Kind == KindScaledObject {
		so, err := d.getScaledObject(ctx, client.ObjectKey{Namespace: c.Namespace, Name: ref.Name})
		switch {
		case err == nil:
			n, _, _ := unstructured.NestedInt64(so.Object, "spec", "minReplicaCount")
			return max(int32(n), 1), nil
		case !apierrors.IsNotFound(err):
			return 0, err
		}
	} else if ref != nil {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		key := client.ObjectKey{Namespace: c.Namespace, Name: ref.Name}
		err := d.reader.Get(ctx, key, hpa)
		switch {
		case err == nil:
			return max(ptr.Deref(hpa.Spec.MinReplicas, 1), 1), nil
		case !apierrors.IsNotFound(err):
			return 0, fmt.Errorf("get horizontalpodautoscaler %s: %w", key, err)
		}
	}
	return 1, nil
}
