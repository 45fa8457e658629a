package target

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PodCounts is a workload of any kind as a person reads it: how many pods it wants and how
// many are ready, updated and available.
type PodCounts struct {
	// Object is the workload read (a Deployment, DaemonSet or StatefulSet).
	Object client.Object
	// Template is its pod template.
	Template *corev1.PodTemplateSpec
	// Wanted is spec.replicas, or for a DaemonSet the nodes it should run on.
	Wanted, Ready, Updated, Available int32
	// Partition is a StatefulSet's rolling-update partition (nil when it has none).
	Partition *int32
}

// ReadPodCounts reads the workload of kind (Deployment when empty) named key. Errors are the
// reader's (NotFound included), wrapped with the kind and name.
func ReadPodCounts(ctx context.Context, r client.Reader, kind string, key client.ObjectKey) (PodCounts, error) {
	var pc PodCounts
	switch kind {
	case KindDaemonSet:
		ds := &appsv1.DaemonSet{}
		pc.Object, pc.Template = ds, &ds.Spec.Template
	case KindStatefulSet:
		sts := &appsv1.StatefulSet{}
		pc.Object, pc.Template = sts, &sts.Spec.Template
	default:
		kind = KindDeployment
		dep := &appsv1.Deployment{}
		pc.Object, pc.Template = dep, &dep.Spec.Template
	}
	if err := r.Get(ctx, key, pc.Object); err != nil {
		return pc, fmt.Errorf("get %s %s: %w", strings.ToLower(kind), key, err)
	}
	switch o := pc.Object.(type) {
	case *appsv1.Deployment:
		pc.Wanted = ptr.Deref(o.Spec.Replicas, 1)
		pc.Ready, pc.Updated, pc.Available = o.Status.ReadyReplicas, o.Status.UpdatedReplicas, o.Status.AvailableReplicas
	case *appsv1.DaemonSet:
		pc.Wanted = o.Status.DesiredNumberScheduled
		pc.Ready, pc.Updated, pc.Available = o.Status.NumberReady, o.Status.UpdatedNumberScheduled, o.Status.NumberAvailable
	case *appsv1.StatefulSet:
		pc.Wanted = ptr.Deref(o.Spec.Replicas, 1)
		pc.Ready, pc.Updated, pc.Available = o.Status.ReadyReplicas, o.Status.UpdatedReplicas, o.Status.AvailableReplicas
		if ru := o.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
			pc.Partition = ptr.To(*ru.Partition)
		}
	}
	return pc, nil
}
