package cli

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
	"github.com/siskin-dev/siskin/pkg/target"
)

// TestGetStatefulSet draws a StatefulSet rolled out in place at weight 40: the one
// StatefulSet with its partition, no Services, and the canary's share of its pods as the route.
func TestGetStatefulSet(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "get-statefulset")
	dep := rollouttest.Podinfo(ns, "podinfo:6.0.1")
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, Annotations: map[string]string{
			target.AnnotationWeight: "40", target.AnnotationPrimaryRevision: revOld, target.AnnotationPartition: target.PartitionUnset,
		}},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](5), ServiceName: "podinfo", Selector: dep.Spec.Selector, Template: dep.Spec.Template,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](3)}},
		},
	}
	if err := k8sClient.Create(ctx, sts); err != nil {
		t.Fatal(err)
	}
	sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, Replicas: 5, ReadyReplicas: 5, AvailableReplicas: 5,
		UpdatedReplicas: 2, CurrentReplicas: 3, CurrentRevision: "podinfo-5d8f9c", UpdateRevision: "podinfo-7c9b6d"}
	if err := k8sClient.Status().Update(ctx, sts); err != nil {
		t.Fatal(err)
	}
	c := rollouttest.Canary(ns, "podinfo", "")
	c.Spec.TargetRef.Kind = target.KindStatefulSet
	c.Spec.Service = siskinv1.CanaryService{}
	c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Threshold: 2, StepWeights: []int32{20, 40, 60}}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Status = siskinv1.CanaryStatus{
		Phase: siskinv1.PhaseProgressing, CanaryWeight: 40, Iterations: 2, ObservedGeneration: c.Generation,
		LastAppliedSpec: revNew, LastPromotedSpec: revOld, LastStepTime: ago(20 * time.Second),
		Conditions: []metav1.Condition{cond(siskinv1.ConditionReady, metav1.ConditionFalse, siskinv1.ReasonProgressing,
			"analysing revision 9f8e7d6c5b4a: canary weight 40/60, failed checks 0/2")},
	}
	if err := k8sClient.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, func() time.Time { return testNow }, "get", "canary", "podinfo", "-n", ns)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, "get-statefulset", stdout)
}
