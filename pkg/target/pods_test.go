package target

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestReadPodCountsOfEachKind(t *testing.T) {
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](5), UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
			Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](3)}}},
		Status: appsv1.StatefulSetStatus{ReadyReplicas: 5, UpdatedReplicas: 2, AvailableReplicas: 4},
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
		Status:     appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 1, NumberAvailable: 2},
	}
	dep := newTarget()
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(sts, ds, dep).Build()
	ctx := context.Background()
	for _, tc := range []struct {
		kind, name                        string
		wanted, ready, updated, available int32
		partition                         *int32
	}{
		{KindStatefulSet, "db", 5, 5, 2, 4, ptr.To[int32](3)},
		{KindDaemonSet, "agent", 3, 2, 1, 2, nil},
		{"", "podinfo", 3, 3, 3, 3, nil},
	} {
		pc, err := ReadPodCounts(ctx, c, tc.kind, client.ObjectKey{Namespace: ns, Name: tc.name})
		if err != nil {
			t.Fatalf("%s %s: %v", tc.kind, tc.name, err)
		}
		if pc.Wanted != tc.wanted || pc.Ready != tc.ready || pc.Updated != tc.updated || pc.Available != tc.available ||
			(pc.Partition == nil) != (tc.partition == nil) || (pc.Partition != nil && *pc.Partition != *tc.partition) || pc.Template == nil {
			t.Errorf("%s %s = %+v, want %d/%d/%d/%d partition %v", tc.kind, tc.name, pc, tc.wanted, tc.ready, tc.updated, tc.available, tc.partition)
		}
	}
	if _, err := ReadPodCounts(ctx, c, KindStatefulSet, client.ObjectKey{Namespace: ns, Name: "podinfo"}); !apierrors.IsNotFound(err) {
		t.Errorf("a StatefulSet that is not there: %v, want NotFound", err)
	}
}
