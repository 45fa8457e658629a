package controller

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/target"
)

// webReplicas is the size of the StatefulSet of these tests.
const webReplicas = 5

// webStatefulSet is a StatefulSet of webReplicas pods labelled app=web.
func webStatefulSet(ns, image string) *appsv1.StatefulSet {
	labels := map[string]string{"app": "web"}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](webReplicas),
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: image,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}},
				}}},
			},
		},
	}
}

// statefulSetCanary is a Canary of the web StatefulSet (provider replicas by default, no
// Service) that gives the canary 20, 40 and 60 percent of the pods, a step an interval.
func statefulSetCanary(ns string, hooks ...siskinv1.CanaryWebhook) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: siskinv1.CanarySpec{
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: target.KindStatefulSet, Name: "web"},
			Analysis: &siskinv1.CanaryAnalysis{
				Interval:    analysisInterval.String(),
				Threshold:   2,
				StepWeights: []int32{20, 40, 60},
				Webhooks:    hooks,
			},
		},
	}
}

// fakeStatefulSets stands in for the StatefulSet controller, which envtest does not run. Every
// StatefulSet of its namespace gets real pods <name>-<ordinal>, labelled with the
// controller-revision-hash of the template they were made from; pods are ready as soon as they
// exist. As the real controller does with a RollingUpdate partition, a missing pod is created
// on the update revision if its ordinal is at or above the partition, else on the current one;
// the highest ordinal at or above the partition not on the update revision is deleted, one pod
// a tick; and once every pod is updated and ready the update revision becomes the current one.
// Pods below the partition are never touched, so only a deletion by someone else (Siskin's
// rollback) brings them back to the current revision. It records each StatefulSet's partitions
// as it sees them.
type fakeStatefulSets struct {
	mu         sync.Mutex
	partitions map[string][]int32
}

func runStatefulSetController(t *testing.T, ns string) *fakeStatefulSets {
	t.Helper()
	f := &fakeStatefulSets{partitions: map[string][]int32{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for {
			list := &appsv1.StatefulSetList{}
			if err := k8sClient.List(ctx, list, client.InNamespace(ns)); err == nil {
				for i := range list.Items {
					f.sync(ctx, &list.Items[i])
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return f
}

// revisionName is the name the StatefulSet controller gives the revision of sts's template.
func revisionName(sts *appsv1.StatefulSet) string {
	fp, err := target.Fingerprint(sts.Spec.Template, nil)
	if err != nil {
		panic(err)
	}
	return sts.Name + "-" + fp[:10]
}

func (f *fakeStatefulSets) sync(ctx context.Context, sts *appsv1.StatefulSet) {
	n := ptr.Deref(sts.Spec.Replicas, 1)
	partition := int32(0)
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		partition = ptr.Deref(ru.Partition, 0)
	}
	f.mu.Lock()
	if seen := f.partitions[sts.Name]; len(seen) == 0 || seen[len(seen)-1] != partition {
		f.partitions[sts.Name] = append(seen, partition)
	}
	f.mu.Unlock()

	update, current := revisionName(sts), sts.Status.CurrentRevision
	if current == "" {
		current = update
	}
	pods, err := podsOf(ctx, sts)
	if err != nil {
		return
	}
	rolled := false
	for ord := n - 1; ord >= 0; ord-- {
		p, ok := pods[ord]
		switch {
		case !ok:
			rev := update
			if ord < partition {
				rev = current
			}
			if err := k8sClient.Create(ctx, newStatefulSetPod(sts, ord, rev)); err != nil && !apierrors.IsAlreadyExists(err) {
				return
			}
			pods[ord] = rev
		case ord >= partition && p != update && !rolled:
			// One pod at a time, from the highest ordinal down.
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: sts.Namespace, Name: fmt.Sprintf("%s-%d", sts.Name, ord)}}
			if err := k8sClient.Delete(ctx, pod); client.IgnoreNotFound(err) != nil {
				return
			}
			delete(pods, ord)
			rolled = true
		}
	}
	st := appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, CurrentRevision: current, UpdateRevision: update}
	for _, rev := range pods {
		st.Replicas++
		if rev == update {
			st.UpdatedReplicas++
		}
		if rev == current {
			st.CurrentReplicas++
		}
	}
	st.ReadyReplicas, st.AvailableReplicas = st.Replicas, st.Replicas
	if st.UpdatedReplicas == n && st.ReadyReplicas == n {
		st.CurrentRevision, st.CurrentReplicas = update, n
	}
	if equality.Semantic.DeepEqual(sts.Status, st) {
		return
	}
	sts.Status = st
	_ = k8sClient.Status().Update(ctx, sts)
}

// podsOf returns the revision of each pod of sts, by ordinal.
func podsOf(ctx context.Context, sts *appsv1.StatefulSet) (map[int32]string, error) {
	list := &corev1.PodList{}
	if err := k8sClient.List(ctx, list, client.InNamespace(sts.Namespace), client.MatchingLabels(sts.Spec.Selector.MatchLabels)); err != nil {
		return nil, err
	}
	pods := map[int32]string{}
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		ord, err := strconv.Atoi(strings.TrimPrefix(p.Name, sts.Name+"-"))
		if err != nil {
			continue
		}
		pods[int32(ord)] = p.Labels[appsv1.ControllerRevisionHashLabelKey]
	}
	return pods, nil
}

func newStatefulSetPod(sts *appsv1.StatefulSet, ordinal int32, revision string) *corev1.Pod {
	name := fmt.Sprintf("%s-%d", sts.Name, ordinal)
	labels := map[string]string{appsv1.ControllerRevisionHashLabelKey: revision, appsv1.StatefulSetPodNameLabel: name}
	for k, v := range sts.Spec.Template.Labels {
		labels[k] = v
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sts.Namespace, Labels: labels},
		Spec:       *sts.Spec.Template.Spec.DeepCopy(),
	}
}

// seen returns the partitions of the StatefulSet the fake controller saw, in order.
func (f *fakeStatefulSets) seen(name string) []int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int32(nil), f.partitions[name]...)
}

// podRevisions returns the revision of each pod of the web StatefulSet, by ordinal, and each
// pod's UID.
func podRevisions(t *testing.T, ns string) (revisions map[int32]string, uids map[int32]types.UID) {
	t.Helper()
	list := &corev1.PodList{}
	if err := k8sClient.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{"app": "web"}); err != nil {
		t.Fatal(err)
	}
	revisions, uids = map[int32]string{}, map[int32]types.UID{}
	for _, p := range list.Items {
		ord, err := strconv.Atoi(strings.TrimPrefix(p.Name, "web-"))
		if err != nil || p.DeletionTimestamp != nil {
			continue
		}
		revisions[int32(ord)], uids[int32(ord)] = p.Labels[appsv1.ControllerRevisionHashLabelKey], p.UID
	}
	return revisions, uids
}

// waitForPods waits until the web StatefulSet's pods run the revisions of want (by ordinal).
func waitForPods(t *testing.T, ns string, what string, want func(ordinal int32) string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, _ := podRevisions(t, ns)
		ok := len(got) == webReplicas
		for ord := int32(0); ord < webReplicas && ok; ord++ {
			ok = got[ord] == want(ord)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods of web never reached %s: revisions %v", what, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getStatefulSet(t *testing.T, ns, name string) *appsv1.StatefulSet {
	t.Helper()
	sts := &appsv1.StatefulSet{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sts); err != nil {
		t.Fatal(err)
	}
	return sts
}

func stsPartition(sts *appsv1.StatefulSet) int32 {
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		return *ru.Partition
	}
	return -1
}

// setupStatefulSetRollout creates the web StatefulSet on web:1 and the Canary, waits until the
// Canary is Initialized with the partition at replicas, and returns the first revision.
func setupStatefulSetRollout(t *testing.T, ns string, c *siskinv1.Canary) string {
	t.Helper()
	ctx := context.Background()
	if err := k8sClient.Create(ctx, webStatefulSet(ns, "web:1")); err != nil {
		t.Fatal(err)
	}
	first := revisionName(getStatefulSet(t, ns, "web"))
	waitForPods(t, ns, "web:1 everywhere", func(int32) string { return first })
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, keyOf(c), "Initialized", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseInitialized
	})
	sts := getStatefulSet(t, ns, "web")
	if p := stsPartition(sts); p != webReplicas {
		t.Fatalf("partition %d after initialization, want %d: the next template would not wait for the analysis", p, webReplicas)
	}
	if sts.Annotations[target.AnnotationPartition] != "0" || sts.Annotations[target.AnnotationPrimaryRevision] == "" {
		t.Errorf("annotations %v: want the user's partition 0 and the primary's revision recorded", sts.Annotations)
	}
	return first
}

// releaseStatefulSet changes the web StatefulSet's image, as a GitOps sync would, and returns
// the new revision's name.
func releaseStatefulSet(t *testing.T, ns, image string) string {
	t.Helper()
	sts := getStatefulSet(t, ns, "web")
	patch := client.MergeFrom(sts.DeepCopy())
	sts.Spec.Template.Spec.Containers[0].Image = image
	if err := k8sClient.Patch(context.Background(), sts, patch); err != nil {
		t.Fatal(err)
	}
	return revisionName(sts)
}

// updatedFrom is the revision of each ordinal when the k highest run next and the others prev.
func updatedFrom(k int32, prev, next string) func(int32) string {
	return func(ord int32) string {
		if ord >= webReplicas-k {
			return next
		}
		return prev
	}
}

func TestStatefulSetRolloutWalksThePartitionDownAndIsPromoted(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	sim := runStatefulSetController(t, ns)
	url, _, _ := hookServer(t)
	c := statefulSetCanary(ns, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	first := setupStatefulSetRollout(t, ns, c)
	seenAtRest := len(sim.seen("web"))
	t.Logf("initialized after %s", time.Since(start).Round(time.Millisecond))

	second := releaseStatefulSet(t, ns, "web:2")
	waitFor(t, keyOf(c), "Progressing", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing
	})
	// No pod runs the new template before the analysis gives it some.
	time.Sleep(time.Second)
	if revs, _ := podRevisions(t, ns); revs[webReplicas-1] != first {
		t.Fatalf("pods %v at weight 0, want all on %s", revs, first)
	}
	for _, step := range []struct{ weight, pods int32 }{{20, 1}, {40, 2}, {60, 3}} {
		waitForWithin(t, keyOf(c), fmt.Sprintf("weight %d", step.weight), 2*analysisInterval, func(c *siskinv1.Canary) bool {
			return c.Status.CanaryWeight == step.weight
		})
		waitForPods(t, ns, fmt.Sprintf("%d pods on the new revision", step.pods), updatedFrom(step.pods, first, second))
		t.Logf("weight %d with %d pods updated after %s", step.weight, step.pods, time.Since(start).Round(time.Millisecond))
	}
	got := waitForWithin(t, keyOf(c), "Succeeded", 3*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	t.Logf("succeeded after %s", time.Since(start).Round(time.Millisecond))
	waitForPods(t, ns, "every pod on the new revision", func(int32) string { return second })
	sts := getStatefulSet(t, ns, "web")
	if sts.Status.CurrentRevision != second || sts.Status.UpdateRevision != second {
		t.Errorf("revisions current %s, update %s; want both %s", sts.Status.CurrentRevision, sts.Status.UpdateRevision, second)
	}
	if got.Status.LastPromotedSpec != got.Status.LastAppliedSpec || sts.Annotations[target.AnnotationPrimaryRevision] != got.Status.LastPromotedSpec {
		t.Errorf("lastPromotedSpec %s, lastAppliedSpec %s, primary revision %s: want the new revision promoted",
			got.Status.LastPromotedSpec, got.Status.LastAppliedSpec, sts.Annotations[target.AnnotationPrimaryRevision])
	}
	// The partition walked 5, 4, 3, 2, then 0 for the promotion, then back to 5 for the next
	// template.
	deadline := time.Now().Add(5 * time.Second)
	for stsPartition(getStatefulSet(t, ns, "web")) != webReplicas && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	walk := sim.seen("web")[seenAtRest-1:]
	if fmt.Sprint(walk) != "[5 4 3 2 0 5]" {
		t.Errorf("partitions after the release %v, want [5 4 3 2 0 5]", walk)
	}
	time.Sleep(2 * time.Second)
	if again := getCanary(t, keyOf(c)); again.Status.Phase != siskinv1.PhaseSucceeded {
		t.Errorf("phase = %s after the promotion settled, want Succeeded", again.Status.Phase)
	}
}

func TestStatefulSetRollbackDeletesTheUpdatedPods(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runStatefulSetController(t, ns)
	rollbackURL, rollbackCode, _ := hookServer(t)
	rollbackCode.Store(http.StatusNotFound) // closed: no rollback asked for
	c := statefulSetCanary(ns, siskinv1.CanaryWebhook{Name: "rollback-gate", Type: siskinv1.RollbackHook, URL: rollbackURL})
	first := setupStatefulSetRollout(t, ns, c)

	second := releaseStatefulSet(t, ns, "web:2-broken")
	waitForWithin(t, keyOf(c), "weight 40", 3*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.CanaryWeight == 40
	})
	waitForPods(t, ns, "2 pods on the new revision", updatedFrom(2, first, second))
	_, before := podRevisions(t, ns)
	rollbackCode.Store(http.StatusOK)

	got := waitForWithin(t, keyOf(c), "Failed", 2*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseFailed
	})
	t.Logf("rolled back after %s", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(conditions(got), siskinv1.ReasonRolledBack) && !strings.Contains(conditions(got), "rolled back") {
		t.Errorf("conditions %s, want the rollback reported", conditions(got))
	}
	// Below the partition the fake controller touches no pod: only Siskin's deletion of the
	// updated pods brings them back on the previous revision.
	waitForPods(t, ns, "every pod back on the previous revision", func(int32) string { return first })
	t.Logf("pods back on the previous revision after %s", time.Since(start).Round(time.Millisecond))
	_, after := podRevisions(t, ns)
	for ord := int32(0); ord < webReplicas; ord++ {
		if replaced := after[ord] != before[ord]; replaced != (ord >= webReplicas-2) {
			t.Errorf("pod web-%d replaced: %v; want only the two updated pods (web-3, web-4) replaced", ord, replaced)
		}
	}
	sts := getStatefulSet(t, ns, "web")
	if p := stsPartition(sts); p != webReplicas {
		t.Errorf("partition %d after the rollback, want %d", p, webReplicas)
	}
	if sts.Spec.Template.Spec.Containers[0].Image != "web:2-broken" {
		t.Errorf("template image %s: the rollback must leave the template (Git's) alone", sts.Spec.Template.Spec.Containers[0].Image)
	}
	time.Sleep(2 * time.Second)
	if again := getCanary(t, keyOf(c)); again.Status.Phase != siskinv1.PhaseFailed {
		t.Errorf("phase = %s after the rollback settled, want Failed", again.Status.Phase)
	}
	if revs, _ := podRevisions(t, ns); revs[webReplicas-1] != first {
		t.Errorf("pods %v after the rollback settled, want all on %s", revs, first)
	}
}

func TestStatefulSetRestartMidRolloutContinuesAtTheNextStep(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ns := newNamespace(t)
	stop := startController(t, ns, controllerOptions{})
	runStatefulSetController(t, ns)
	url, _, calls := hookServer(t)
	c := statefulSetCanary(ns, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	first := setupStatefulSetRollout(t, ns, c)

	second := releaseStatefulSet(t, ns, "web:2")
	atTwenty := waitForWithin(t, keyOf(c), "weight 20", 2*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.CanaryWeight == 20
	})
	waitForPods(t, ns, "1 pod on the new revision", updatedFrom(1, first, second))
	restartBetweenSteps(t, ns, c, stop, calls, atTwenty, "the step to weight 40", func(c *siskinv1.Canary) bool {
		return c.Status.CanaryWeight == 40
	})
	waitForPods(t, ns, "2 pods on the new revision", updatedFrom(2, first, second))
	waitForWithin(t, keyOf(c), "Succeeded", 4*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	waitForPods(t, ns, "every pod on the new revision", func(int32) string { return second })
	t.Logf("succeeded after %s", time.Since(start).Round(time.Millisecond))
}

func TestStatefulSetCanaryDeletionRestoresTheUsersPartition(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runStatefulSetController(t, ns)
	c := statefulSetCanary(ns)
	setupStatefulSetRollout(t, ns, c)

	ctx := context.Background()
	if err := k8sClient.Delete(ctx, getCanary(t, keyOf(c))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := k8sClient.Get(ctx, keyOf(c), &siskinv1.Canary{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("canary still exists 20s after deletion: %+v", getCanary(t, keyOf(c)).Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sts := getStatefulSet(t, ns, "web")
	if p := stsPartition(sts); p != 0 {
		t.Errorf("partition %d after the Canary was deleted, want the user's 0", p)
	}
	for _, a := range []string{target.AnnotationPartition, target.AnnotationPrimaryRevision, target.AnnotationWeight, target.AnnotationCanaryRevision} {
		if _, ok := sts.Annotations[a]; ok {
			t.Errorf("annotation %s left on the statefulset after the Canary was deleted", a)
		}
	}
}

func TestStatefulSetTemplateReplacedMidAnalysisLeavesNoPodOnTheAbandonedRevision(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runStatefulSetController(t, ns)
	url, _, _ := hookServer(t)
	c := statefulSetCanary(ns, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	first := setupStatefulSetRollout(t, ns, c)

	second := releaseStatefulSet(t, ns, "web:2")
	waitForWithin(t, keyOf(c), "weight 40", 3*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.CanaryWeight == 40
	})
	waitForPods(t, ns, "2 pods on web:2", updatedFrom(2, first, second))
	// The StatefulSet controller never touches pods below the partition: without Siskin, web-3
	// and web-4 would run web:2 beside the primary's pods until the next promotion.
	third := releaseStatefulSet(t, ns, "web:3")
	waitForPods(t, ns, "web:2's pods back on the previous revision", func(int32) string { return first })
	t.Logf("web:2's pods back on the previous revision after %s", time.Since(start).Round(time.Millisecond))
	waitForWithin(t, keyOf(c), "weight 20 of web:3", 2*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.CanaryWeight == 20
	})
	waitForPods(t, ns, "1 pod on web:3", updatedFrom(1, first, third))
	t.Logf("web:3 at weight 20 after %s", time.Since(start).Round(time.Millisecond))
}

func TestStatefulSetOnDeleteIsRefusedWithAMessage(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runStatefulSetController(t, ns)
	ctx := context.Background()
	sts := webStatefulSet(ns, "web:1")
	sts.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	if err := k8sClient.Create(ctx, sts); err != nil {
		t.Fatal(err)
	}
	c := statefulSetCanary(ns)
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitForEvent(t, c, siskinv1.ReasonReconcileError, "set spec.updateStrategy.type to RollingUpdate")
	got := getStatefulSet(t, ns, "web")
	if got.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType || got.Annotations[target.AnnotationPrimaryRevision] != "" {
		t.Errorf("refused statefulset changed: strategy %s, annotations %v", got.Spec.UpdateStrategy.Type, got.Annotations)
	}
	if phase := getCanary(t, keyOf(c)).Status.Phase; phase != siskinv1.PhaseInitializing && phase != "" {
		t.Errorf("phase %s, want the Canary left initializing", phase)
	}
}
