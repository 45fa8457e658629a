package target

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// Revision names the StatefulSet controller would give the two templates of a test.
const (
	revOld = "web-6d4f8b7c9"
	revNew = "web-5c8d9f6b4"
)

// newStatefulSetAdapter returns a StatefulSet adapter whose reader and writer are the same fake
// client.
func newStatefulSetAdapter(t *testing.T, objs ...client.Object) (*StatefulSet, client.Client) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build()
	return NewStatefulSet(c, c), c
}

// newWeb is StatefulSet web of n replicas, all ready on revOld, with the user's partition.
func newWeb(n int32, partition *int32) *appsv1.StatefulSet {
	labels := map[string]string{"app": "web"}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To(n),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
			},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type:          appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: partition},
			},
		},
		Status: appsv1.StatefulSetStatus{
			Replicas: n, ReadyReplicas: n, AvailableReplicas: n, CurrentReplicas: n, UpdatedReplicas: n,
			CurrentRevision: revOld, UpdateRevision: revOld,
		},
	}
}

func webCanary() *siskinv1.Canary {
	c := newCanary()
	c.Spec.TargetRef = siskinv1.TargetReference{APIVersion: "apps/v1", Kind: KindStatefulSet, Name: "web"}
	c.Spec.Provider = siskinv1.ProviderReplicas
	return c
}

func getWeb(t *testing.T, cl client.Client) *appsv1.StatefulSet {
	t.Helper()
	return get(t, cl, "web", &appsv1.StatefulSet{})
}

// mutateWeb changes the StatefulSet as its user or its controller would.
func mutateWeb(t *testing.T, cl client.Client, fn func(*appsv1.StatefulSet)) {
	t.Helper()
	sts := getWeb(t, cl)
	fn(sts)
	status := sts.Status
	if err := cl.Update(context.Background(), sts); err != nil {
		t.Fatal(err)
	}
	sts.Status = status
	if err := cl.Status().Update(context.Background(), sts); err != nil {
		t.Fatal(err)
	}
}

// releaseWeb changes the template's image: the update revision becomes revNew, and no pod is
// updated while the partition is replicas.
func releaseWeb(t *testing.T, cl client.Client, image string) {
	t.Helper()
	mutateWeb(t, cl, func(sts *appsv1.StatefulSet) {
		sts.Spec.Template.Spec.Containers[0].Image = image
		sts.Status.UpdateRevision, sts.Status.UpdatedReplicas = revNew, 0
		sts.Status.CurrentReplicas = *sts.Spec.Replicas
	})
}

// rollWeb reports updated pods on revNew, every pod ready, as the StatefulSet controller would
// once it followed the partition.
func rollWeb(t *testing.T, cl client.Client, updated int32) {
	t.Helper()
	mutateWeb(t, cl, func(sts *appsv1.StatefulSet) {
		n := *sts.Spec.Replicas
		sts.Status.UpdatedReplicas, sts.Status.CurrentReplicas = updated, n-updated
		sts.Status.ReadyReplicas, sts.Status.AvailableReplicas = n, n
		if updated == n {
			sts.Status.CurrentRevision, sts.Status.CurrentReplicas = sts.Status.UpdateRevision, n
		}
	})
}

func partition(sts *appsv1.StatefulSet) int32 {
	if p := partitionOf(sts); p >= 0 {
		return p
	}
	panic(fmt.Sprintf("statefulset %s has no partition", sts.Name))
}

// takeOver makes a web StatefulSet of n replicas, lets the adapter take it over, and releases
// web:2.
func takeOver(t *testing.T, n int32, objs ...client.Object) (*StatefulSet, client.Client, *siskinv1.Canary) {
	t.Helper()
	s, cl := newStatefulSetAdapter(t, append([]client.Object{newWeb(n, ptr.To[int32](0))}, objs...)...)
	c := webCanary()
	if err := s.EnsurePrimary(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	releaseWeb(t, cl, "web:2")
	return s, cl, c
}

func TestStatefulSetPartitionGivesTheCanaryTheCeilingOfItsShare(t *testing.T) {
	cases := []struct {
		replicas int32
		weights  []int32
		updated  []int32
	}{
		{1, []int32{20, 40, 60, 100}, []int32{1, 1, 1, 1}},
		{3, []int32{20, 40, 60, 100}, []int32{1, 2, 2, 3}},
		{5, []int32{20, 40, 60, 100}, []int32{1, 2, 3, 5}},
		// Below 100 one pod stays on the primary's revision, for a rollback to come back to.
		{3, []int32{70, 99}, []int32{2, 2}},
		{5, []int32{1, 50, 81, 99}, []int32{1, 3, 4, 4}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d replicas", tc.replicas), func(t *testing.T) {
			s, cl, c := takeOver(t, tc.replicas)
			ctx := context.Background()
			moved := int32(0)
			for i, w := range tc.weights {
				if err := s.ApplyShare(ctx, c, canary.DesiredRoute{CanaryWeight: w, PrimaryWeight: 100 - w}); err != nil {
					t.Fatal(err)
				}
				sts := getWeb(t, cl)
				if got, want := partition(sts), tc.replicas-tc.updated[i]; got != want {
					t.Errorf("weight %d: partition %d, want %d (%d of %d pods updated)", w, got, want, tc.updated[i], tc.replicas)
				}
				r, err := s.ObserveShare(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				if r.CanaryWeight != w || r.PrimaryWeight != 100-w || r.Converged != (tc.updated[i] == moved) {
					t.Errorf("weight %d before the pods moved: route %+v, want weights %d/%d converged only if no pod is to move", w, r, 100-w, w)
				}
				rollWeb(t, cl, tc.updated[i])
				moved = tc.updated[i]
				if r, _ := s.ObserveShare(ctx, c); !r.Converged {
					t.Errorf("weight %d with %d pods updated: not converged: %s", w, tc.updated[i], r.Message)
				}
				tgt, _, err := s.Observe(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				if tgt.Replicas != tc.updated[i] || tgt.Available != tc.updated[i] || !tgt.Ready {
					t.Errorf("weight %d: target %+v, want %d replicas, available and ready", w, tgt, tc.updated[i])
				}
			}
		})
	}
}

func TestStatefulSetAtWeightZeroUpdatesNoPod(t *testing.T) {
	s, cl, c := takeOver(t, 5)
	ctx := context.Background()
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	if p := partition(getWeb(t, cl)); p != 5 {
		t.Errorf("partition %d at weight 0, want 5", p)
	}
	r, _ := s.ObserveShare(ctx, c)
	tgt, primary, err := s.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Converged || r.CanaryWeight != 0 || r.PrimaryWeight != 100 {
		t.Errorf("route %+v, want converged at 100/0", r)
	}
	if tgt.Replicas != 0 || !tgt.Ready || !primary.Ready || primary.Replicas != 5 {
		t.Errorf("target %+v, primary %+v: want a ready target of 0 pods beside a ready primary of 5", tgt, primary)
	}
}

func TestStatefulSetTakeOverRecordsThePartitionAndHoldsTheNextTemplate(t *testing.T) {
	s, cl := newStatefulSetAdapter(t, newWeb(5, ptr.To[int32](2)))
	ctx := context.Background()
	c := webCanary()
	_, primary, err := s.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if primary.Exists {
		t.Fatalf("primary %+v exists before the take-over", primary)
	}
	if err := s.EnsurePrimary(ctx, c); err != nil {
		t.Fatal(err)
	}
	sts := getWeb(t, cl)
	fp, _ := Fingerprint(sts.Spec.Template, nil)
	if sts.Annotations[AnnotationPartition] != "2" || sts.Annotations[AnnotationPrimaryRevision] != fp {
		t.Errorf("annotations %v, want the user's partition 2 and revision %s", sts.Annotations, fp)
	}
	if p := partition(sts); p != 5 {
		t.Errorf("partition %d after the take-over, want 5 (replicas)", p)
	}
	tgt, primary, err := s.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !primary.Exists || !primary.Ready || primary.Fingerprint != fp || tgt.Fingerprint != fp || tgt.Replicas != 0 {
		t.Errorf("target %+v, primary %+v: want a ready primary on revision %s and a target of 0 pods", tgt, primary, fp)
	}
	// Taking it over again changes nothing.
	before := sts.ResourceVersion
	if err := s.EnsurePrimary(ctx, c); err != nil {
		t.Fatal(err)
	}
	if getWeb(t, cl).ResourceVersion != before {
		t.Error("a second EnsurePrimary wrote the statefulset")
	}
}

func TestStatefulSetTakenOverMidUpdateFinishesTheUpdateFirst(t *testing.T) {
	web := newWeb(5, ptr.To[int32](3))
	web.Status.UpdateRevision, web.Status.UpdatedReplicas, web.Status.CurrentReplicas = revNew, 2, 3
	s, cl := newStatefulSetAdapter(t, web)
	ctx := context.Background()
	c := webCanary()
	if err := s.EnsurePrimary(ctx, c); err != nil {
		t.Fatal(err)
	}
	if p := partition(getWeb(t, cl)); p != 0 {
		t.Fatalf("partition %d while an update is in progress, want 0 until it finishes", p)
	}
	if _, primary, _ := s.Observe(ctx, c); primary.Ready {
		t.Errorf("primary %+v ready with 2 of 5 pods updated", primary)
	}
	// Weight 0 (initialization routes all to the primary) keeps the update going.
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	if p := partition(getWeb(t, cl)); p != 0 {
		t.Fatalf("partition %d at weight 0 mid-update, want 0", p)
	}
	rollWeb(t, cl, 5)
	if _, primary, _ := s.Observe(ctx, c); !primary.Ready {
		t.Errorf("primary not ready once every pod is updated: %s", primary.Message)
	}
	if r, _ := s.ObserveShare(ctx, c); r.Converged {
		t.Error("route converged with partition 0 once the update finished: the next template would roll out to every pod")
	}
	if err := s.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	if p := partition(getWeb(t, cl)); p != 5 {
		t.Errorf("partition %d after the update finished and the target was scaled down, want 5", p)
	}
	if getWeb(t, cl).Annotations[AnnotationPartition] != "3" {
		t.Errorf("recorded partition %q, want the user's 3", getWeb(t, cl).Annotations[AnnotationPartition])
	}
}

func TestStatefulSetOnDeleteIsRefused(t *testing.T) {
	web := newWeb(3, nil)
	web.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	s, cl := newStatefulSetAdapter(t, web)
	ctx := context.Background()
	c := webCanary()
	err := s.EnsurePrimary(ctx, c)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "RollingUpdate") {
		t.Fatalf("EnsurePrimary of an OnDelete statefulset: %v, want ErrUnsupported saying to use RollingUpdate", err)
	}
	if sts := getWeb(t, cl); len(sts.Annotations) != 0 || sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		t.Errorf("refused statefulset was changed: annotations %v, strategy %s", sts.Annotations, sts.Spec.UpdateStrategy.Type)
	}
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{CanaryWeight: 20}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ApplyShare of an OnDelete statefulset: %v, want ErrUnsupported", err)
	}
}

func TestStatefulSetPromotionHoldsPartitionZeroUntilEveryPodIsUpdated(t *testing.T) {
	s, cl, c := takeOver(t, 5)
	ctx := context.Background()
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{CanaryWeight: 60, PrimaryWeight: 40}); err != nil {
		t.Fatal(err)
	}
	rollWeb(t, cl, 3)
	tgt, _, _ := s.Observe(ctx, c)

	if err := s.Promote(ctx, c, "0123456789abcdef"); !errors.Is(err, ErrRevisionChanged) {
		t.Errorf("Promote of another revision: %v, want ErrRevisionChanged", err)
	}
	if err := s.Promote(ctx, c, tgt.Fingerprint); err != nil {
		t.Fatal(err)
	}
	sts := getWeb(t, cl)
	if partition(sts) != 0 || sts.Annotations[AnnotationPrimaryRevision] != tgt.Fingerprint {
		t.Fatalf("after Promote: partition %d, primary revision %s; want 0 and %s", partition(sts), sts.Annotations[AnnotationPrimaryRevision], tgt.Fingerprint)
	}
	// Whatever weight is applied, and a scale-down, the promotion goes on.
	for _, w := range []int32{60, 0} {
		if err := s.ApplyShare(ctx, c, canary.DesiredRoute{CanaryWeight: w, PrimaryWeight: 100 - w}); err != nil {
			t.Fatal(err)
		}
		if p := partition(getWeb(t, cl)); p != 0 {
			t.Errorf("weight %d during the promotion: partition %d, want 0", w, p)
		}
		if r, _ := s.ObserveShare(ctx, c); !r.Converged {
			t.Errorf("weight %d during the promotion: not converged: %s", w, r.Message)
		}
	}
	if err := s.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	if p := partition(getWeb(t, cl)); p != 0 {
		t.Errorf("scale-down during the promotion: partition %d, want 0", p)
	}
	_, primary, _ := s.Observe(ctx, c)
	if primary.Ready || primary.Fingerprint != tgt.Fingerprint {
		t.Errorf("primary %+v with 3 of 5 pods updated: want revision %s, not ready", primary, tgt.Fingerprint)
	}
	if canaryPods, primaryPods, _ := s.Pods(ctx, c); canaryPods != noPod || primaryPods != "^web-(0|1|2|3|4)$" {
		t.Errorf("pods during the promotion: canary %s, primary %s; want none and all", canaryPods, primaryPods)
	}

	rollWeb(t, cl, 5)
	if _, primary, _ := s.Observe(ctx, c); !primary.Ready {
		t.Errorf("primary not ready with every pod updated: %s", primary.Message)
	}
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	if p := partition(getWeb(t, cl)); p != 5 {
		t.Errorf("partition %d once the promotion finished, want 5 so that the next template waits", p)
	}
	// Until the StatefulSet controller observes the raised partition its status is of the spec
	// before: the partition stays raised all the same.
	mutateWeb(t, cl, func(sts *appsv1.StatefulSet) { sts.Generation, sts.Status.ObservedGeneration = 4, 3 })
	for _, w := range []int32{0, 60} {
		if err := s.ApplyShare(ctx, c, canary.DesiredRoute{CanaryWeight: w, PrimaryWeight: 100 - w}); err != nil {
			t.Fatal(err)
		}
		if err := s.ScaleDown(ctx, c); err != nil {
			t.Fatal(err)
		}
		if p := partition(getWeb(t, cl)); p != 5 {
			t.Errorf("weight %d before the raised partition was observed: partition %d, want 5", w, p)
		}
	}
	// Promoting the same revision again does not release the next template.
	if err := s.Promote(ctx, c, tgt.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if p := partition(getWeb(t, cl)); p != 5 {
		t.Errorf("partition %d after promoting the promoted revision again, want 5", p)
	}
}

// webPod is pod web-<ordinal> of the given revision.
func webPod(ordinal int, revision string, app string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: fmt.Sprintf("%s-%d", app, ordinal), Namespace: ns,
		Labels: map[string]string{"app": app, appsv1.ControllerRevisionHashLabelKey: revision},
	}}
}

func TestStatefulSetRollbackDeletesExactlyTheUpdatedPods(t *testing.T) {
	pods := []client.Object{
		webPod(0, revOld, "web"), webPod(1, revOld, "web"), webPod(2, revOld, "web"),
		webPod(3, revNew, "web"), webPod(4, revNew, "web"),
		// Another app's pod that happens to carry the same revision label.
		webPod(0, revNew, "other"),
	}
	s, cl, c := takeOver(t, 5, pods...)
	ctx := context.Background()
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{CanaryWeight: 40, PrimaryWeight: 60}); err != nil {
		t.Fatal(err)
	}
	rollWeb(t, cl, 2)

	// The rollback: weight 0, then, once the route is confirmed, the scale-down.
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	if p := partition(getWeb(t, cl)); p != 5 {
		t.Fatalf("partition %d after the rollback's weight 0, want 5", p)
	}
	r, _ := s.ObserveShare(ctx, c)
	if !r.Converged {
		t.Fatalf("weight 0 with updated pods left below the partition: not converged (%s); ScaleDown would never run", r.Message)
	}
	tgt, _, _ := s.Observe(ctx, c)
	if tgt.Replicas != 2 {
		t.Errorf("target replicas %d with 2 updated pods left, want 2 (so a lost scale-down is done again at rest)", tgt.Replicas)
	}
	// Not before the StatefulSet controller observed the partition: a pod recreated meanwhile
	// would come back on the canary's revision.
	mutateWeb(t, cl, func(sts *appsv1.StatefulSet) { sts.Generation, sts.Status.ObservedGeneration = 3, 2 })
	if err := s.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n := countPods(t, cl); n != 6 {
		t.Fatalf("%d pods left after a scale-down before the partition was observed, want all 6", n)
	}
	mutateWeb(t, cl, func(sts *appsv1.StatefulSet) { sts.Status.ObservedGeneration = 3 })
	if err := s.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	left := &corev1.PodList{}
	if err := cl.List(ctx, left, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range left.Items {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "other-0,web-0,web-1,web-2" {
		t.Errorf("pods left after the rollback: %s, want other-0,web-0,web-1,web-2", got)
	}
	if p := partition(getWeb(t, cl)); p != 5 {
		t.Errorf("partition %d after the rollback, want 5", p)
	}
}

func countPods(t *testing.T, cl client.Client) int {
	t.Helper()
	list := &corev1.PodList{}
	if err := cl.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

func TestStatefulSetPodsNameTheUpdatedOrdinals(t *testing.T) {
	s, cl, c := takeOver(t, 5)
	ctx := context.Background()
	all := []string{"web-0", "web-1", "web-2", "web-3", "web-4"}
	check := func(what string, wantCanary []string) {
		t.Helper()
		canaryPods, primaryPods, err := s.Pods(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		cre, pre := regexp.MustCompile(canaryPods), regexp.MustCompile(primaryPods)
		isCanary := map[string]bool{}
		for _, n := range wantCanary {
			isCanary[n] = true
		}
		for _, n := range all {
			if cre.MatchString(n) != isCanary[n] || pre.MatchString(n) == isCanary[n] {
				t.Errorf("%s: %s matches canary %s: %v, primary %s: %v; want canary %v",
					what, n, canaryPods, cre.MatchString(n), primaryPods, pre.MatchString(n), isCanary[n])
			}
		}
		for _, n := range []string{"", "web-5", "web-10", "web-", "xweb-1", "web-1x", "web-(1|2)"} {
			if cre.MatchString(n) || pre.MatchString(n) {
				t.Errorf("%s: %q matched (canary %s, primary %s)", what, n, canaryPods, primaryPods)
			}
		}
	}
	check("no pod updated", nil)
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{CanaryWeight: 40, PrimaryWeight: 60}); err != nil {
		t.Fatal(err)
	}
	check("partition moved, no pod updated yet", nil)
	rollWeb(t, cl, 1)
	check("one pod of two updated", []string{"web-4"})
	rollWeb(t, cl, 2)
	check("two pods updated", []string{"web-3", "web-4"})
	if canaryPods, primaryPods, _ := s.Pods(ctx, c); canaryPods != "^web-(3|4)$" || primaryPods != "^web-(0|1|2)$" {
		t.Errorf("pods %s and %s, want ^web-(3|4)$ and ^web-(0|1|2)$", canaryPods, primaryPods)
	}
}

func TestStatefulSetPodsQuoteTheName(t *testing.T) {
	if got := podNames("db.v1", 0, 2); got != `^db[.]v1-(0|1)$` {
		t.Errorf("podNames = %s, want the name quoted without a backslash (PromQL strings read it as an escape)", got)
	}
	if strings.Contains(noPod, `\`) {
		t.Errorf("noPod %s has a backslash", noPod)
	}
	for _, name := range []string{"web-0", "web", "0"} {
		if regexp.MustCompile(noPod).MatchString(name) {
			t.Errorf("noPod %s matches %s", noPod, name)
		}
	}
	if regexp.MustCompile(podNames("db.v1", 0, 2)).MatchString("dbxv1-0") {
		t.Error("the dot of the name matched any character")
	}
	if regexp.MustCompile(noPod).MatchString("") {
		t.Error("the regular expression of no pod matches the empty string")
	}
}

func TestStatefulSetRevertRestoresTheUsersPartition(t *testing.T) {
	for _, tc := range []struct {
		name     string
		original *int32
	}{{"partition 2", ptr.To[int32](2)}, {"no partition", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			s, cl := newStatefulSetAdapter(t, newWeb(5, tc.original))
			ctx := context.Background()
			c := webCanary()
			if err := s.EnsurePrimary(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := s.ApplyShare(ctx, c, canary.DesiredRoute{CanaryWeight: 20, PrimaryWeight: 80}); err != nil {
				t.Fatal(err)
			}
			ready, err := s.Revert(ctx, c)
			if err != nil || ready {
				t.Fatalf("first Revert = %v, %v; want not ready yet, no error", ready, err)
			}
			sts := getWeb(t, cl)
			for _, a := range []string{AnnotationPartition, AnnotationPrimaryRevision, AnnotationWeight, AnnotationCanaryRevision} {
				if _, ok := sts.Annotations[a]; ok {
					t.Errorf("annotation %s left after Revert", a)
				}
			}
			if got, want := partitionOf(sts), ptr.Deref(tc.original, -1); got != want {
				t.Errorf("partition after Revert %d, want the user's %d (-1: none)", got, want)
			}
			if ready, err := s.Revert(ctx, c); err != nil || !ready {
				t.Errorf("second Revert = %v, %v; want ready", ready, err)
			}
		})
	}
}

func TestStatefulSetHasNoBaselineAndNoConfigs(t *testing.T) {
	sts, _ := newStatefulSetAdapter(t, newWeb(3, nil))
	s := Kinds{KindStatefulSet: sts}
	ctx := context.Background()
	c := webCanary()
	if err := s.EnsureBaseline(ctx, c); !errors.Is(err, ErrUnsupported) {
		t.Errorf("EnsureBaseline: %v, want ErrUnsupported", err)
	}
	if _, err := s.ObserveBaseline(ctx, c); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ObserveBaseline: %v, want ErrUnsupported", err)
	}
	if configs, err := s.Configs(ctx, c); err != nil || len(configs) != 0 {
		t.Errorf("Configs = %v, %v; want none", configs, err)
	}
	if a, err := s.AdoptPrimary(ctx, c); err != nil || a != (Adoption{}) {
		t.Errorf("AdoptPrimary = %+v, %v; want nothing adopted", a, err)
	}
}

func TestKindsDispatchAStatefulSetToItsAdapter(t *testing.T) {
	cl := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(newWeb(3, nil)).Build()
	k := NewKinds(cl, cl, nil, nil)
	c := webCanary()
	if err := k.EnsurePrimary(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if canaryPods, primaryPods, err := k.Pods(context.Background(), c); err != nil || canaryPods != noPod || primaryPods != "^web-(0|1|2)$" {
		t.Errorf("Pods = %s, %s, %v", canaryPods, primaryPods, err)
	}
}

func TestStatefulSetOfOneReplicaIsNotRolledBackByDeletingItsPod(t *testing.T) {
	// One replica at any weight is every pod: the StatefulSet controller makes the new revision
	// the current one, and a deleted pod would come back on it.
	s, cl, c := takeOver(t, 1, webPod(0, revNew, "web"))
	ctx := context.Background()
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{CanaryWeight: 20, PrimaryWeight: 80}); err != nil {
		t.Fatal(err)
	}
	rollWeb(t, cl, 1)
	if canaryPods, primaryPods, _ := s.Pods(ctx, c); canaryPods != "^web-(0)$" || primaryPods != noPod {
		t.Errorf("pods %s and %s, want the one pod on the canary's side", canaryPods, primaryPods)
	}
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	if err := s.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n := countPods(t, cl); n != 1 {
		t.Errorf("%d pods after the rollback of a one-replica statefulset, want its pod left alone", n)
	}
	if p := partition(getWeb(t, cl)); p != 1 {
		t.Errorf("partition %d after the rollback, want 1", p)
	}
}

func TestStatefulSetTemplateReplacedMidAnalysisLeavesNoPodOnTheAbandonedRevision(t *testing.T) {
	const revThird = "web-7f9c6d5b8"
	pods := []client.Object{
		webPod(0, revOld, "web"), webPod(1, revOld, "web"), webPod(2, revOld, "web"),
		webPod(3, revNew, "web"), webPod(4, revNew, "web"),
	}
	s, cl, c := takeOver(t, 5, pods...)
	ctx := context.Background()
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{CanaryWeight: 40, PrimaryWeight: 60}); err != nil {
		t.Fatal(err)
	}
	rollWeb(t, cl, 2)
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{CanaryWeight: 40, PrimaryWeight: 60}); err != nil {
		t.Fatal(err)
	}
	if got := getWeb(t, cl).Annotations[AnnotationCanaryRevision]; got != revNew {
		t.Fatalf("canary revision %q recorded, want %s", got, revNew)
	}
	// web:3 replaces web:2: the StatefulSet controller leaves web-3 and web-4 on web:2, below
	// the partition the new analysis starts from.
	mutateWeb(t, cl, func(sts *appsv1.StatefulSet) {
		sts.Spec.Template.Spec.Containers[0].Image = "web:3"
		sts.Status.UpdateRevision, sts.Status.UpdatedReplicas = revThird, 0
	})
	// The new analysis starts: weight 0 before the StatefulSet controller observed the new
	// template (nothing to tell yet), then the scale-up, asked for while the canary has no pod.
	mutateWeb(t, cl, func(sts *appsv1.StatefulSet) { sts.Generation, sts.Status.ObservedGeneration = 2, 1 })
	if err := s.ApplyShare(ctx, c, canary.DesiredRoute{PrimaryWeight: 100}); err != nil {
		t.Fatal(err)
	}
	if n := countPods(t, cl); n != 5 {
		t.Errorf("%d pods left before the new template was observed, want 5", n)
	}
	mutateWeb(t, cl, func(sts *appsv1.StatefulSet) { sts.Status.ObservedGeneration = 2 })
	if tgt, _, _ := s.Observe(ctx, c); tgt.Replicas != 0 {
		t.Errorf("target replicas %d, want 0 (the planner asks for a scale-up then)", tgt.Replicas)
	}
	if err := s.ScaleUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n := countPods(t, cl); n != 3 {
		t.Errorf("%d pods left once web:3 replaced web:2, want web:2's two deleted", n)
	}
	sts := getWeb(t, cl)
	if _, ok := sts.Annotations[AnnotationCanaryRevision]; ok || partition(sts) != 5 {
		t.Errorf("annotations %v, partition %d: want the abandoned revision forgotten and partition 5", sts.Annotations, partition(sts))
	}
}
