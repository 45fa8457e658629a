package main

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestFloorRolledOutWantsOnlyTheRevisionsPods(t *testing.T) {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Generation: 3},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{revisionAnnotation: "floor"}}},
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1},
	}
	if !depStateOf(d).rolledOut("floor", 1) {
		t.Fatalf("%+v not rolled out to floor on 1 pod", depStateOf(d))
	}
	for name, change := range map[string]func(d *appsv1.Deployment){
		"an old pod still running":      func(d *appsv1.Deployment) { d.Status.Replicas = 2 },
		"the new pod not yet available": func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 0 },
		"a generation not yet observed": func(d *appsv1.Deployment) { d.Generation = 4 },
		"another revision":              func(d *appsv1.Deployment) { d.Spec.Template.Annotations[revisionAnnotation] = "0" },
		"scaled to another count":       func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](0) },
	} {
		c := d.DeepCopy()
		change(c)
		if depStateOf(c).rolledOut("floor", 1) {
			t.Errorf("%s: counted as rolled out", name)
		}
	}
	if (depState{}).rolledOut("", 0) {
		t.Error("a Deployment never seen counted as rolled out to zero")
	}
}

func TestFloorTakesNoController(t *testing.T) {
	for _, args := range [][]string{
		{"-floor", "-controllers", "siskin,argo"},
		{"-floor", "-provider", "kubernetes"},
		{"-floor", "-canary-batch", "100"},
		{"-floor-writes"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	c, err := parseFlags([]string{"-floor", "-n", "1000"})
	if err != nil || !c.floor {
		t.Fatalf("-floor -n 1000: %+v, %v", c, err)
	}
}
