package kubernetes

import (
	"context"
	"maps"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/target"
)

func daemonSet(name string) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}}}}},
			},
		},
	}
}

func TestServicesOfADaemonSetTargetSelectItsPods(t *testing.T) {
	ctx := context.Background()
	r, cl := newRouter(t, daemonSet("agent"))
	c := newCanary(func(s *siskinv1.CanaryService) { s.PortDiscovery = true })
	c.Spec.TargetRef = siskinv1.TargetReference{APIVersion: "apps/v1", Kind: target.KindDaemonSet, Name: "agent"}
	if err := r.EnsureServices(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"agent": "agent-primary", "agent-primary": "agent-primary", "agent-canary": "agent"} {
		if got := getService(t, cl, name).Spec.Selector; !maps.Equal(got, map[string]string{"app": want}) {
			t.Errorf("service %s selects %v, want app=%s", name, got, want)
		}
	}
}

func TestADeploymentTargetIsNotReadFromADaemonSetOfTheSameName(t *testing.T) {
	r, _ := newRouter(t, daemonSet("agent"))
	c := newCanary()
	c.Spec.TargetRef.Name = "agent" // a Deployment that does not exist
	err := r.EnsureServices(context.Background(), c, true)
	if err == nil || !strings.Contains(err.Error(), "get target deployment") {
		t.Fatalf("EnsureServices = %v, want the missing Deployment reported, not the DaemonSet's selector used", err)
	}
}
