package controller

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podinfoDeployment is the target of the reference Canary.
func podinfoDeployment(ns, image string) *appsv1.Deployment {
	return appDeployment(ns, "podinfo", image)
}

// appDeployment is a two-replica Deployment whose pods carry app=<name>.
func appDeployment(ns, name, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "podinfod", Image: image,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}},
				}}},
			},
		},
	}
}

// runKubelet stands in for kube-controller-manager and the kubelet, which envtest does not run:
// every Deployment of namespace ns is reported rolled out and available shortly after it
// changes. Deployments whose name is in notReady stay unavailable.
func runKubelet(t *testing.T, ns string, notReady ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	skip := map[string]bool{}
	for _, n := range notReady {
		skip[n] = true
	}
	go func() {
		for {
			list := &appsv1.DeploymentList{}
			if err := k8sClient.List(ctx, list, client.InNamespace(ns)); err == nil {
				for i := range list.Items {
					markRolledOut(ctx, &list.Items[i], skip[list.Items[i].Name])
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

func markRolledOut(ctx context.Context, d *appsv1.Deployment, unavailable bool) {
	n := ptr.Deref(d.Spec.Replicas, 1)
	want := appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           n,
		UpdatedReplicas:    n,
		ReadyReplicas:      n,
		AvailableReplicas:  n,
	}
	if unavailable {
		want.ReadyReplicas, want.AvailableReplicas, want.UnavailableReplicas = 0, 0, n
	}
	if d.Status.ObservedGeneration == want.ObservedGeneration && d.Status.Replicas == want.Replicas &&
		d.Status.UpdatedReplicas == want.UpdatedReplicas && d.Status.AvailableReplicas == want.AvailableReplicas &&
		d.Status.ReadyReplicas == want.ReadyReplicas {
		return
	}
	d.Status = want
	_ = k8sClient.Status().Update(ctx, d)
}
