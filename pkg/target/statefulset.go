package target

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// Annotations Siskin writes on a target StatefulSet it has taken over. They are all removed
// when the Canary is deleted (StatefulSet.Revert).
const (
	// AnnotationPrimaryRevision is the fingerprint of the pod template that the StatefulSet's
	// "primary", its pods outside the analysis, runs: recorded when Siskin takes the
	// StatefulSet over and at each promotion. Its presence marks the StatefulSet as taken over.
	AnnotationPrimaryRevision = "siskin.dev/primary-revision"
	// AnnotationPartition is the user's spec.updateStrategy.rollingUpdate.partition from before
	// the take-over, put back by Revert; PartitionUnset when there was none.
	AnnotationPartition = "siskin.dev/partition"
	// AnnotationWeight is the canary weight ApplyShare last applied, which ObserveShare reports.
	AnnotationWeight = "siskin.dev/weight"
	// AnnotationCanaryRevision is the name of the StatefulSet's update revision (its
	// ControllerRevision) when ApplyShare last gave it pods. If the template is replaced during
	// the analysis, the pods of that revision below the partition would run it until the next
	// promotion: the StatefulSet controller never touches them. ScaleUp, ApplyShare and
	// ScaleDown delete them, by this name, once it is neither the current nor the update
	// revision.
	AnnotationCanaryRevision = "siskin.dev/canary-revision"

	// PartitionUnset is the value of AnnotationPartition for a StatefulSet that had no
	// partition of its own.
	PartitionUnset = "unset"
)

// noPod is a regular expression that matches no pod name, nor the empty string (PromQL's
// pod=~"" would select the series that have no pod label at all): a character after the end
// of the text. Like every regular expression Pods returns, it has no backslash, so a template
// can put it in a PromQL string literal as it is.
const noPod = `^$.`

// StatefulSet is the adapter for a target of kind StatefulSet, whose Canaries are always of
// provider replicas. A StatefulSet is rolled out in place: no primary copy is made. Its
// "primary" is its pods on the revision last promoted (recorded in AnnotationPrimaryRevision),
// its "canary" the pods the analysis moved to the new revision of its pod template, and the
// canary's weight is its share of the pods. The weight is applied by moving
// spec.updateStrategy.rollingUpdate.partition: at weight w the ceil(replicas×w/100) highest
// ordinals run the new revision (below weight 100, at most all but one), and at rest the
// partition is replicas, so that a template change updates no pod until the analysis gives it
// some.
//
// A promotion sets the partition to 0 and keeps it there until every pod runs the promoted
// revision; a rollback sets it back to replicas and deletes the updated pods, which the
// StatefulSet controller recreates on the current revision. That needs a pod left on the
// current revision: once every pod is updated the StatefulSet controller makes the update
// revision the current one, so a StatefulSet of one replica, whose canary is its only pod,
// keeps the new revision after a rollback until its template is set back. Taking a StatefulSet
// over lets an update already in progress finish first (the partition is 0 until every pod is
// updated), and a StatefulSet with updateStrategy OnDelete is refused: it has no partition to
// move.
//
// The revision is the fingerprint of the pod template alone. Config tracking does not start a
// StatefulSet rollout: a ConfigMap or Secret changed without a template change is the same
// object for every pod, and cannot be given to some of them and not to the others; a checksum
// of the config in a pod template annotation rolls it out. There is no baseline and no
// autoscaler to keep in step: a StatefulSet keeps its own.
//
// Everything is read from the StatefulSet's spec and status: which pods run which revision is
// inferred from status.updatedReplicas and the StatefulSet controller's order (highest ordinal
// first), so no pod is watched.
type StatefulSet struct {
	reader client.Reader
	client client.Client
	memo   memo
}

// NewStatefulSet returns a StatefulSet adapter that reads through reader (the informer cache)
// and writes through c.
func NewStatefulSet(reader client.Reader, c client.Client) *StatefulSet {
	return &StatefulSet{reader: reader, client: c}
}

var (
	_ Adapter = (*StatefulSet)(nil)
	_ Sharer  = (*StatefulSet)(nil)
)

func (s *StatefulSet) getTarget(ctx context.Context, c *siskinv1.Canary) (*appsv1.StatefulSet, error) {
	sts := &appsv1.StatefulSet{}
	if err := s.reader.Get(ctx, targetKey(c), sts); err != nil {
		return nil, fmt.Errorf("get target statefulset %s: %w", targetKey(c), err)
	}
	return sts, nil
}

// fingerprint is the memoized Fingerprint of the StatefulSet's pod template, without configs.
func (s *StatefulSet) fingerprint(sts *appsv1.StatefulSet) (string, error) {
	// The memo keys on the object's identity and version; only the template is hashed.
	as := &appsv1.Deployment{ObjectMeta: sts.ObjectMeta, Spec: appsv1.DeploymentSpec{Template: sts.Spec.Template}}
	return s.memo.fingerprint(as, nil)
}

// stsView is what one read of a StatefulSet says about its two revisions.
type stsView struct {
	sts  *appsv1.StatefulSet
	name string // namespace/name, for messages
	// fp is the fingerprint of the pod template; primaryRev the recorded primary revision
	// ("" before the take-over).
	fp, primaryRev string
	// replicas is spec.replicas; partition the spec's partition (0 when unset).
	replicas, partition int32
	// fresh is true when the StatefulSet controller has observed the latest spec.
	fresh bool
	// split is true when the pods are on two revisions: the update revision differs from
	// the current one.
	split bool
	// atPrimary is true when the template is the primary's revision: there is no canary
	// revision, and every pod is to run the template (after a promotion or a take-over).
	atPrimary bool
	// complete is true when every pod runs the template's revision and is counted as such.
	complete bool
}

func newSTSView(sts *appsv1.StatefulSet, fp string) stsView {
	st := sts.Status
	v := stsView{
		sts:        sts,
		name:       sts.Namespace + "/" + sts.Name,
		fp:         fp,
		primaryRev: sts.Annotations[AnnotationPrimaryRevision],
		replicas:   ptr.Deref(sts.Spec.Replicas, 1),
		fresh:      st.ObservedGeneration >= sts.Generation,
		split:      st.UpdateRevision != "" && st.UpdateRevision != st.CurrentRevision,
	}
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		v.partition = ptr.Deref(ru.Partition, 0)
	}
	v.atPrimary = v.primaryRev != "" && v.fp == v.primaryRev
	v.complete = v.fresh && !v.split && st.UpdatedReplicas >= v.replicas && st.Replicas == v.replicas
	return v
}

// takenOver reports whether Siskin controls the StatefulSet's partition.
func (v stsView) takenOver() bool { return v.primaryRev != "" }

// canaryPods is the number of pods that run the canary's revision now: the updated pods when
// the template is not the primary's. After a rollback they may sit below the partition until
// ScaleDown deletes them. Once every pod is updated the StatefulSet controller makes the update
// revision the current one too; that status describes the canary only if it is of the latest
// template, since before the controller observes a template change the update revision is still
// the primary's.
func (v stsView) canaryPods() int32 {
	if v.atPrimary || !v.takenOver() || (!v.split && !v.fresh) {
		return 0
	}
	return min(max(v.sts.Status.UpdatedReplicas, 0), v.replicas)
}

// wanted is the number of pods the partition gives the update revision.
func (v stsView) wanted() int32 {
	return min(max(v.replicas-v.partition, 0), v.replicas)
}

// sharePartition is the partition that gives the canary weight's share of the pods: replicas
// minus ceil(replicas×weight/100). Below weight 100 at least one pod of a StatefulSet of more
// than one stays on the primary's revision: once every pod is updated the StatefulSet
// controller makes the update revision the current one, and a rollback could no longer
// recreate pods on the previous revision. When the template is the primary's revision there is
// no canary to share with: the partition is 0 until every pod runs it, then replicas, so that
// the next template change waits for the analysis.
func (v stsView) sharePartition(weight int32) int32 {
	if v.atPrimary {
		if v.complete || (!v.fresh && v.partition >= v.replicas) {
			// A partition raised to replicas stays there until the StatefulSet controller has
			// observed it: its status is of the spec before until then, and says nothing of
			// the pods.
			return v.replicas
		}
		return 0
	}
	weight = min(max(weight, 0), 100)
	updated := int32((int64(v.replicas)*int64(weight) + 99) / 100)
	if weight < 100 && v.replicas > 1 {
		updated = min(updated, v.replicas-1)
	}
	return v.replicas - updated
}

// canaryOrdinals is the number of highest ordinals that run the canary's revision now: those at
// or above the partition that the StatefulSet controller has updated (it goes from the highest
// ordinal down).
func (v stsView) canaryOrdinals() int32 {
	return min(v.canaryPods(), v.wanted())
}

// notReady is the number of pods wanted that are not ready (missing ones included).
func (v stsView) notReady() int32 {
	return max(v.replicas-v.sts.Status.ReadyReplicas, 0)
}

// percentOf is ceil(n×threshold/100).
func percentOf(n, threshold int32) int32 {
	return int32((int64(n)*int64(threshold) + 99) / 100)
}

// Observe reports the target and the primary as the planner sees them. The target is the
// StatefulSet's update revision: its Fingerprint the template's, its Replicas the pods the
// partition gives it (or that still run it), Ready when they are updated and ready with
// canaryReadyThreshold applied and the other pods ready. The primary exists once the
// StatefulSet is taken over: its Fingerprint is AnnotationPrimaryRevision, and it is ready when
// its pods are (primaryReadyThreshold applied), which after a promotion means every pod updated,
// ready and counted as the current revision at the latest generation.
func (s *StatefulSet) Observe(ctx context.Context, c *siskinv1.Canary) (target, primary canary.Workload, err error) {
	sts, err := s.getTarget(ctx, c)
	switch {
	case apierrors.IsNotFound(err):
		target.Message = fmt.Sprintf("statefulset %s not found", targetKey(c))
		primary.Message = target.Message
		return target, primary, nil
	case err != nil:
		return target, primary, err
	}
	fp, err := s.fingerprint(sts)
	if err != nil {
		return target, primary, fmt.Errorf("fingerprint statefulset %s: %w", targetKey(c), err)
	}
	v := newSTSView(sts, fp)
	target = v.canaryWorkload(readyThreshold(c, true))
	if !v.takenOver() {
		primary.Message = fmt.Sprintf("statefulset %s is not under siskin's control yet", v.name)
		return target, primary, nil
	}
	primary = v.primaryWorkload(readyThreshold(c, false))
	return target, primary, nil
}

func (v stsView) canaryWorkload(threshold int32) canary.Workload {
	st := v.sts.Status
	w := canary.Workload{Exists: true, Fingerprint: v.fp, Replicas: max(v.wanted(), v.canaryPods())}
	wanted := v.wanted()
	if v.atPrimary {
		wanted = v.replicas
	}
	if n := v.canaryPods(); n > 0 {
		// Pods that are not available are counted as the canary's first: the pods that changed.
		w.Available = max(min(n, n-max(v.replicas-st.AvailableReplicas, 0)), 0)
	} else if v.atPrimary {
		w.Available = st.AvailableReplicas
	}
	need := percentOf(wanted, threshold)
	switch {
	case v.replicas == 0:
		w.Message = fmt.Sprintf("statefulset %s is scaled to zero", v.name)
	case !v.fresh:
		w.Message = fmt.Sprintf("statefulset %s: waiting for generation %d to be observed", v.name, v.sts.Generation)
	case st.UpdatedReplicas < wanted:
		w.Message = fmt.Sprintf("statefulset %s: %d of %d pods updated", v.name, st.UpdatedReplicas, wanted)
	case v.notReady() > wanted-need:
		w.Message = fmt.Sprintf("statefulset %s: %d of %d pods ready, %d of the %d updated needed (%d%%)",
			v.name, st.ReadyReplicas, v.replicas, need, wanted, threshold)
	default:
		w.Ready = true
	}
	return w
}

func (v stsView) primaryWorkload(threshold int32) canary.Workload {
	st := v.sts.Status
	w := canary.Workload{Exists: true, Fingerprint: v.primaryRev, Replicas: v.replicas}
	if v.atPrimary {
		w.Available = st.AvailableReplicas
		need := percentOf(v.replicas, threshold)
		switch {
		case v.replicas == 0:
			w.Message = fmt.Sprintf("statefulset %s is scaled to zero", v.name)
		case !v.fresh:
			w.Message = fmt.Sprintf("statefulset %s: waiting for generation %d to be observed", v.name, v.sts.Generation)
		case !v.complete:
			w.Message = fmt.Sprintf("statefulset %s: %d of %d pods on revision %s (update revision %s, current %s)",
				v.name, st.UpdatedReplicas, v.replicas, short(v.fp), st.UpdateRevision, st.CurrentRevision)
		case st.ReadyReplicas < need:
			w.Message = fmt.Sprintf("statefulset %s: %d of %d pods ready, %d needed (%d%%)", v.name, st.ReadyReplicas, v.replicas, need, threshold)
		default:
			w.Ready = true
		}
		return w
	}
	// The primary's pods are those not on the canary's revision. Pods that are not ready are
	// counted as the canary's first: the canary's pods are the ones that just changed.
	canaryPods := v.canaryPods()
	pods := v.replicas - canaryPods
	ready := pods - max(v.notReady()-canaryPods, 0)
	w.Available = max(pods-max(v.replicas-st.AvailableReplicas-canaryPods, 0), 0)
	need := percentOf(pods, threshold)
	switch {
	case v.replicas == 0:
		w.Message = fmt.Sprintf("statefulset %s is scaled to zero", v.name)
	case !v.fresh:
		w.Message = fmt.Sprintf("statefulset %s: waiting for generation %d to be observed", v.name, v.sts.Generation)
	case ready < need:
		w.Message = fmt.Sprintf("statefulset %s: %d of the %d pods on revision %s ready, %d needed (%d%%)",
			v.name, ready, pods, short(v.primaryRev), need, threshold)
	default:
		w.Ready = true
	}
	return w
}

// short abbreviates a fingerprint for messages.
func short(fp string) string {
	if len(fp) > 8 {
		return fp[:8]
	}
	return fp
}

// Configs returns no configs: a StatefulSet's revision is its pod template alone (see
// StatefulSet), so no ConfigMap or Secret is tracked or watched for it.
func (s *StatefulSet) Configs(context.Context, *siskinv1.Canary) (map[string]string, error) {
	return map[string]string{}, nil
}

// errOnDelete is the refusal of a StatefulSet whose pods are only updated when deleted.
func errOnDelete(sts *appsv1.StatefulSet) error {
	return fmt.Errorf("statefulset %s/%s has updateStrategy %s, which has no partition to roll out a share of the pods with: set spec.updateStrategy.type to %s: %w",
		sts.Namespace, sts.Name, appsv1.OnDeleteStatefulSetStrategyType, appsv1.RollingUpdateStatefulSetStrategyType, ErrUnsupported)
}

// EnsurePrimary takes the StatefulSet over: it records the user's partition
// (AnnotationPartition) and the template's fingerprint as the primary's revision, and moves the
// partition to replicas, so that the next template change waits for the analysis. An update in
// progress is let finish first: the partition is 0 until every pod runs the template (and
// ApplyShare or ScaleDown raise it then). A StatefulSet taken over already is left alone; one
// with updateStrategy OnDelete is refused.
func (s *StatefulSet) EnsurePrimary(ctx context.Context, c *siskinv1.Canary) error {
	sts, err := s.getTarget(ctx, c)
	if err != nil {
		return err
	}
	if sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return errOnDelete(sts)
	}
	if sts.Annotations[AnnotationPrimaryRevision] != "" {
		return nil
	}
	fp, err := s.fingerprint(sts)
	if err != nil {
		return fmt.Errorf("fingerprint statefulset %s: %w", targetKey(c), err)
	}
	original := PartitionUnset
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		original = strconv.Itoa(int(*ru.Partition))
	}
	want := sts.DeepCopy()
	want.Annotations = mergeMetadata(want.Annotations, map[string]string{
		AnnotationPrimaryRevision: fp,
		AnnotationPartition:       original,
	})
	setPartition(want, heldPartition(newSTSView(want, fp)))
	if err := s.client.Patch(ctx, want, client.MergeFromWithOptions(sts, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("take over statefulset %s: %w", targetKey(c), err)
	}
	return nil
}

// heldPartition is the partition of a StatefulSet whose template has just become the primary's
// revision (v.atPrimary): 0 until every pod runs it, replicas if every pod does already.
func heldPartition(v stsView) int32 {
	if v.complete {
		return v.replicas
	}
	return 0
}

// setPartition sets a RollingUpdate partition on sts.
func setPartition(sts *appsv1.StatefulSet, partition int32) {
	sts.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
	if sts.Spec.UpdateStrategy.RollingUpdate == nil {
		sts.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
	}
	sts.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To(partition)
}

// patchShare writes the partition and, when they are not nil, AnnotationWeight and
// AnnotationCanaryRevision (removed when empty), if anything changes. The patch carries the
// resourceVersion that was read: the partition is computed from the replicas and the template
// read, and a template changed since must not be released to pods by a partition meant for the
// one before.
func (s *StatefulSet) patchShare(ctx context.Context, sts *appsv1.StatefulSet, partition int32, weight *int32, canaryRevision *string) error {
	want := sts.DeepCopy()
	setPartition(want, partition)
	if weight != nil {
		want.Annotations = mergeMetadata(want.Annotations, map[string]string{AnnotationWeight: strconv.Itoa(int(*weight))})
	}
	if canaryRevision != nil && *canaryRevision != "" {
		want.Annotations = mergeMetadata(want.Annotations, map[string]string{AnnotationCanaryRevision: *canaryRevision})
	} else if canaryRevision != nil {
		delete(want.Annotations, AnnotationCanaryRevision)
	}
	if partitionOf(sts) == partition && sts.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		equality.Semantic.DeepEqual(sts.Annotations, want.Annotations) {
		return nil
	}
	if err := s.client.Patch(ctx, want, client.MergeFromWithOptions(sts, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("set partition %d on statefulset %s/%s: %w", partition, sts.Namespace, sts.Name, err)
	}
	return nil
}

// partitionOf is the StatefulSet's partition, or -1 when it has none.
func partitionOf(sts *appsv1.StatefulSet) int32 {
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		return *ru.Partition
	}
	return -1
}

// appliedWeight is the weight ApplyShare last applied.
func appliedWeight(sts *appsv1.StatefulSet) int32 {
	w, err := strconv.ParseInt(sts.Annotations[AnnotationWeight], 10, 32)
	if err != nil {
		return 0
	}
	return min(max(int32(w), 0), 100)
}

// ObserveShare reports the weight last applied as the route. It has converged when the
// partition is the one of that weight and the StatefulSet controller has updated at least the
// pods the partition gives the canary. Fewer updated pods than that never converge; more (the
// updated pods a rollback left below the partition) do: ScaleDown deletes them once the
// route is confirmed.
func (s *StatefulSet) ObserveShare(ctx context.Context, c *siskinv1.Canary) (canary.Route, error) {
	sts, err := s.getTarget(ctx, c)
	if err != nil {
		return canary.Route{}, err
	}
	fp, err := s.fingerprint(sts)
	if err != nil {
		return canary.Route{}, fmt.Errorf("fingerprint statefulset %s: %w", targetKey(c), err)
	}
	v := newSTSView(sts, fp)
	weight := appliedWeight(sts)
	r := canary.Route{CanaryWeight: weight, PrimaryWeight: 100 - weight}
	want := v.sharePartition(weight)
	switch {
	case sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType:
		r.Message = errOnDelete(sts).Error()
	case !v.takenOver():
		r.Message = fmt.Sprintf("statefulset %s is not under siskin's control yet", v.name)
	case partitionOf(sts) != want:
		r.Message = fmt.Sprintf("statefulset %s has partition %d, weight %d needs %d", v.name, partitionOf(sts), weight, want)
	case !v.fresh:
		r.Message = fmt.Sprintf("statefulset %s: waiting for generation %d to be observed", v.name, sts.Generation)
	case !v.atPrimary && v.canaryPods() < v.wanted():
		r.Message = fmt.Sprintf("statefulset %s: %d of %d pods updated for weight %d", v.name, v.canaryPods(), v.wanted(), weight)
	default:
		r.Converged = true
	}
	return r, nil
}

// ApplyShare moves the partition so that the canary gets ceil(replicas×weight/100) pods, the
// highest ordinals, and records the weight. Weight 0 sets the partition to replicas, which
// updates no more pods but leaves the updated ones running: ScaleDown deletes them. Once the
// template is the primary's revision (a promotion), the partition stays 0 until every pod runs
// it, whatever the weight.
func (s *StatefulSet) ApplyShare(ctx context.Context, c *siskinv1.Canary, desired canary.DesiredRoute) error {
	sts, err := s.getTarget(ctx, c)
	if err != nil {
		return err
	}
	if sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return errOnDelete(sts)
	}
	fp, err := s.fingerprint(sts)
	if err != nil {
		return fmt.Errorf("fingerprint statefulset %s: %w", targetKey(c), err)
	}
	v := newSTSView(sts, fp)
	if !v.takenOver() {
		return fmt.Errorf("give statefulset %s's canary weight %d: it is not under siskin's control yet", v.name, desired.CanaryWeight)
	}
	weight := min(max(desired.CanaryWeight, 0), 100)
	canaryRevision, err := s.deleteAbandoned(ctx, v)
	if err != nil {
		return err
	}
	if weight > 0 && v.fresh && v.split && !v.atPrimary {
		canaryRevision = ptr.To(sts.Status.UpdateRevision)
	}
	return s.patchShare(ctx, sts, v.sharePartition(weight), &weight, canaryRevision)
}

// abandoned returns the revision recorded in AnnotationCanaryRevision if it is neither the
// current nor the update revision any more, else "".
func (v stsView) abandoned() string {
	rev, st := v.sts.Annotations[AnnotationCanaryRevision], v.sts.Status
	if rev == "" || !v.fresh || rev == st.UpdateRevision || rev == st.CurrentRevision {
		return ""
	}
	return rev
}

// deleteAbandoned deletes the pods of an abandoned canary revision (see
// AnnotationCanaryRevision), which the StatefulSet controller recreates on the revision of
// their ordinal, and returns the annotation's new value for patchShare: nil to keep it.
func (s *StatefulSet) deleteAbandoned(ctx context.Context, v stsView) (*string, error) {
	rev := v.abandoned()
	if rev == "" {
		return nil, nil
	}
	if err := s.deletePods(ctx, v.sts, rev); err != nil {
		return nil, err
	}
	return ptr.To(""), nil
}

// managed reads the target and its view when Siskin has taken it over and can move its
// partition; a nil StatefulSet otherwise (not taken over yet, or OnDelete), with nothing to do.
func (s *StatefulSet) managed(ctx context.Context, c *siskinv1.Canary) (*appsv1.StatefulSet, stsView, error) {
	sts, err := s.getTarget(ctx, c)
	if err != nil {
		return nil, stsView{}, err
	}
	fp, err := s.fingerprint(sts)
	if err != nil {
		return nil, stsView{}, fmt.Errorf("fingerprint statefulset %s: %w", targetKey(c), err)
	}
	v := newSTSView(sts, fp)
	if !v.takenOver() || sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return nil, stsView{}, nil
	}
	return sts, v, nil
}

// ScaleUp gives the canary no pod: ApplyShare does, a share at a time. An analysis starts with
// it, and it is asked for again while the canary has no pod, so it is where the pods of a
// canary revision that a new template abandoned are deleted (see AnnotationCanaryRevision):
// the new analysis does not count them as the primary's.
func (s *StatefulSet) ScaleUp(ctx context.Context, c *siskinv1.Canary) error {
	sts, v, err := s.managed(ctx, c)
	if err != nil || sts == nil {
		return err
	}
	canaryRevision, err := s.deleteAbandoned(ctx, v)
	if err != nil || canaryRevision == nil {
		return err
	}
	return s.patchShare(ctx, sts, v.partition, nil, canaryRevision)
}

// ScaleDown takes the canary's pods away: the partition goes back to replicas (or stays 0
// while a promotion finishes), and once the StatefulSet controller has observed it, the pods
// still on the canary's revision are deleted with one deletecollection by their
// controller-revision-hash. The StatefulSet controller recreates them on the current revision,
// since their ordinals are below the partition. A round that only moved the partition leaves
// the deletion to the next ScaleDown (the target still reports the pods as Replicas).
func (s *StatefulSet) ScaleDown(ctx context.Context, c *siskinv1.Canary) error {
	sts, v, err := s.managed(ctx, c)
	if err != nil || sts == nil {
		return err
	}
	canaryRevision, err := s.deleteAbandoned(ctx, v)
	if err != nil {
		return err
	}
	if want := v.sharePartition(0); partitionOf(sts) != want || canaryRevision != nil {
		return s.patchShare(ctx, sts, want, nil, canaryRevision)
	}
	if v.atPrimary || !v.fresh || !v.split || v.canaryPods() == 0 || v.partition < v.replicas {
		// Without a current revision apart from the update one (every pod was updated, see
		// sharePartition), deleted pods would come back on the canary's revision.
		return nil
	}
	return s.deletePods(ctx, sts, sts.Status.UpdateRevision)
}

// deletePods deletes the StatefulSet's pods of a revision, with one deletecollection of the
// pods its selector picks that carry the revision's controller-revision-hash.
func (s *StatefulSet) deletePods(ctx context.Context, sts *appsv1.StatefulSet, revision string) error {
	sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil {
		return fmt.Errorf("selector of statefulset %s/%s: %w", sts.Namespace, sts.Name, err)
	}
	rev, err := labels.NewRequirement(appsv1.ControllerRevisionHashLabelKey, selection.Equals, []string{revision})
	if err != nil {
		return fmt.Errorf("revision %q of statefulset %s/%s: %w", revision, sts.Namespace, sts.Name, err)
	}
	err = s.client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(sts.Namespace),
		client.MatchingLabelsSelector{Selector: sel.Add(*rev)})
	if err != nil {
		return fmt.Errorf("delete the pods of revision %s of statefulset %s/%s: %w", revision, sts.Namespace, sts.Name, err)
	}
	return nil
}

// Promote makes revision the primary's: the partition goes to 0, so that every pod is
// updated to it, and revision is recorded in AnnotationPrimaryRevision. If the template's
// fingerprint is not revision (the StatefulSet changed since the analysis), Promote returns
// ErrRevisionChanged and changes nothing; the patch carries the resourceVersion that was
// read, so a template changed meanwhile is a conflict, never a promotion of an unanalysed one.
// An empty revision promotes the template as it is.
func (s *StatefulSet) Promote(ctx context.Context, c *siskinv1.Canary, revision string) error {
	sts, err := s.getTarget(ctx, c)
	if err != nil {
		return err
	}
	if sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return errOnDelete(sts)
	}
	fp, err := s.fingerprint(sts)
	if err != nil {
		return fmt.Errorf("fingerprint statefulset %s: %w", targetKey(c), err)
	}
	if revision != "" && fp != revision {
		return fmt.Errorf("promote %s: analysed revision %s, target now has %s: %w", targetKey(c), revision, fp, ErrRevisionChanged)
	}
	want := sts.DeepCopy()
	want.Annotations = mergeMetadata(want.Annotations, map[string]string{AnnotationPrimaryRevision: fp})
	if _, ok := want.Annotations[AnnotationPartition]; !ok {
		// Promoted before it was taken over (a primary repaired by hand): keep the user's
		// partition for Revert all the same.
		want.Annotations[AnnotationPartition] = PartitionUnset
		if p := partitionOf(sts); p >= 0 {
			want.Annotations[AnnotationPartition] = strconv.Itoa(int(p))
		}
	}
	if sts.Annotations[AnnotationPrimaryRevision] == fp {
		setPartition(want, newSTSView(want, fp).sharePartition(0))
	} else {
		setPartition(want, heldPartition(newSTSView(want, fp)))
	}
	if partitionOf(sts) == partitionOf(want) && sts.Annotations[AnnotationPrimaryRevision] == fp &&
		sts.Annotations[AnnotationPartition] == want.Annotations[AnnotationPartition] {
		return nil
	}
	if err := s.client.Patch(ctx, want, client.MergeFromWithOptions(sts, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("promote revision %s of statefulset %s: %w", fp, targetKey(c), err)
	}
	return nil
}

// Revert hands the StatefulSet back when the Canary is deleted: the user's partition is put
// back (or removed when there was none) and Siskin's annotations go. It reports whether the
// StatefulSet is ready: the latest generation observed, the pods above the partition updated,
// and primaryReadyThreshold of its pods ready.
func (s *StatefulSet) Revert(ctx context.Context, c *siskinv1.Canary) (bool, error) {
	sts, err := s.getTarget(ctx, c)
	if err != nil {
		return false, err
	}
	original, taken := sts.Annotations[AnnotationPartition]
	_, recorded := sts.Annotations[AnnotationPrimaryRevision]
	_, weighed := sts.Annotations[AnnotationWeight]
	_, shared := sts.Annotations[AnnotationCanaryRevision]
	if taken || recorded || weighed || shared {
		want := sts.DeepCopy()
		delete(want.Annotations, AnnotationPartition)
		delete(want.Annotations, AnnotationPrimaryRevision)
		delete(want.Annotations, AnnotationWeight)
		delete(want.Annotations, AnnotationCanaryRevision)
		if taken && want.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
			if p, err := strconv.ParseInt(original, 10, 32); err == nil {
				setPartition(want, int32(p))
			} else if want.Spec.UpdateStrategy.RollingUpdate != nil {
				want.Spec.UpdateStrategy.RollingUpdate.Partition = nil
			}
		}
		if err := s.client.Patch(ctx, want, client.MergeFromWithOptions(sts, client.MergeFromWithOptimisticLock{})); err != nil {
			return false, fmt.Errorf("hand statefulset %s back: %w", targetKey(c), err)
		}
		return false, nil
	}
	st := sts.Status
	n := ptr.Deref(sts.Spec.Replicas, 1)
	partition := max(partitionOf(sts), 0)
	ready := st.ObservedGeneration >= sts.Generation && st.UpdatedReplicas >= n-partition &&
		st.ReadyReplicas >= percentOf(n, readyThreshold(c, false))
	return ready, nil
}

// Pods returns the anchored regular expressions of the names of the canary's pods (the
// ordinals at or above the partition that the StatefulSet controller has updated) and of the
// primary's (the others), such as ^web-(3|4)$ and ^web-(0|1|2)$. A side without pods gets a
// regular expression that matches no pod. None has a backslash (see quoteName).
func (s *StatefulSet) Pods(ctx context.Context, c *siskinv1.Canary) (canaryPods, primaryPods string, err error) {
	sts, err := s.getTarget(ctx, c)
	if err != nil {
		return "", "", err
	}
	fp, err := s.fingerprint(sts)
	if err != nil {
		return "", "", fmt.Errorf("fingerprint statefulset %s: %w", targetKey(c), err)
	}
	v := newSTSView(sts, fp)
	first := v.replicas - v.canaryOrdinals()
	return podNames(sts.Name, first, v.replicas), podNames(sts.Name, 0, first), nil
}

// podNames is the anchored regular expression of the names of the pods of ordinals from to
// to-1 of StatefulSet name.
func podNames(name string, from, to int32) string {
	if from >= to {
		return noPod
	}
	ordinals := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		ordinals = append(ordinals, strconv.Itoa(int(i)))
	}
	return "^" + quoteName(name) + "-(" + strings.Join(ordinals, "|") + ")$"
}
