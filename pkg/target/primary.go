package target

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// ErrRevisionChanged is returned by Promote when the target no longer has the revision the
// caller decided to promote: promoting it would ship a revision nobody analysed.
var ErrRevisionChanged = errors.New("target revision changed")

func targetKey(c *siskinv1.Canary) client.ObjectKey {
	return client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.TargetRef.Name}
}

func primaryKey(c *siskinv1.Canary) client.ObjectKey {
	return client.ObjectKey{Namespace: c.Namespace, Name: PrimaryName(c.Spec.TargetRef.Name)}
}

func (d *Deployment) getTarget(ctx context.Context, c *siskinv1.Canary) (*appsv1.Deployment, error) {
	dep := &appsv1.Deployment{}
	if err := d.reader.Get(ctx, targetKey(c), dep); err != nil {
		return nil, fmt.Errorf("get target deployment %s: %w", targetKey(c), err)
	}
	return dep, nil
}

// getPrimary returns the primary, or nil when it does not exist.
func (d *Deployment) getPrimary(ctx context.Context, c *siskinv1.Canary) (*appsv1.Deployment, error) {
	return d.getCopy(ctx, "primary", primaryKey(c))
}

// getCopy returns the Deployment at key, a copy Siskin makes (role names it in errors), or nil
// when it does not exist.
func (d *Deployment) getCopy(ctx context.Context, role string, key client.ObjectKey) (*appsv1.Deployment, error) {
	dep := &appsv1.Deployment{}
	err := d.reader.Get(ctx, key, dep)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s deployment %s: %w", role, key, err)
	}
	return dep, nil
}

// EnsurePrimary creates <target>-primary, and the primary copies of the target's tracked
// configs, when the primary does not exist. An existing primary is left as it is (Promote
// updates it), except that an orphaned one is adopted.
func (d *Deployment) EnsurePrimary(ctx context.Context, c *siskinv1.Canary) error {
	target, err := d.getTarget(ctx, c)
	if err != nil {
		return err
	}
	cur, err := d.getPrimary(ctx, c)
	if err != nil {
		return err
	}
	if cur != nil {
		want := cur.DeepCopy()
		if err := claim(want, c, "deployment"); err != nil {
			return err
		}
		return d.patchPrimary(ctx, cur, want)
	}
	want, tracked, err := d.desiredPrimary(ctx, c, target)
	if err != nil {
		return err
	}
	if err := d.ensureConfigCopies(ctx, c, tracked); err != nil {
		return err
	}
	if err := d.client.Create(ctx, want); err != nil {
		return fmt.Errorf("create primary deployment %s: %w", primaryKey(c), err)
	}
	return nil
}

// Promote copies the target's revision to the primary: its tracked configs to their primary
// copies, then its pod template, strategy, minReadySeconds, revisionHistoryLimit,
// progressDeadlineSeconds, workload labels and annotations, and its replicas when no autoscaler
// drives them. Nothing is written when the primary already matches, and the primary's pod
// template changes only when the target's template or a tracked config did, so a no-op
// promotion never restarts the primary's pods.
//
// revision, when not empty, is the fingerprint the caller decided to promote; if the target
// has moved on, Promote returns ErrRevisionChanged and changes nothing.
func (d *Deployment) Promote(ctx context.Context, c *siskinv1.Canary, revision string) error {
	target, err := d.getTarget(ctx, c)
	if err != nil {
		return err
	}
	desired, tracked, err := d.desiredPrimary(ctx, c, target)
	if err != nil {
		return err
	}
	if got := desired.Annotations[AnnotationRevision]; revision != "" && got != revision {
		return fmt.Errorf("promote %s: analysed revision %s, target now has %s: %w",
			targetKey(c), revision, got, ErrRevisionChanged)
	}
	cur, err := d.getPrimary(ctx, c)
	if err != nil {
		return err
	}
	if err := d.ensureConfigCopies(ctx, c, tracked); err != nil {
		return err
	}
	want, err := d.createOrClaim(ctx, c, "primary", cur, desired)
	if err != nil || want == nil {
		return err
	}
	if c.Spec.AutoscalerRef == nil {
		want.Spec.Replicas = desired.Spec.Replicas
	}
	return d.patchPrimary(ctx, cur, want)
}

// createOrClaim creates desired, a copy Siskin makes (role names it in errors), when cur is
// nil, and returns nil. Otherwise it returns cur claimed for c with desired's revision set on it
// (copyRevision), for the caller to finish and patch.
func (d *Deployment) createOrClaim(ctx context.Context, c *siskinv1.Canary, role string, cur, desired *appsv1.Deployment) (*appsv1.Deployment, error) {
	if cur == nil {
		if err := d.client.Create(ctx, desired); err != nil {
			return nil, fmt.Errorf("create %s deployment %s/%s: %w", role, desired.Namespace, desired.Name, err)
		}
		return nil, nil
	}
	want := cur.DeepCopy()
	if err := claim(want, c, "deployment"); err != nil {
		return nil, err
	}
	copyRevision(want, desired)
	return want, nil
}

// copyRevision sets on want, a live copy Siskin manages, what it takes from desired: workload
// labels and annotations (added to its own), pod template, strategy, minReadySeconds,
// revisionHistoryLimit and progressDeadlineSeconds.
func copyRevision(want, desired *appsv1.Deployment) {
	want.Labels = mergeMetadata(want.Labels, desired.Labels)
	want.Annotations = mergeMetadata(want.Annotations, desired.Annotations)
	want.Spec.Template = desired.Spec.Template
	want.Spec.Strategy = desired.Spec.Strategy
	want.Spec.MinReadySeconds = desired.Spec.MinReadySeconds
	want.Spec.RevisionHistoryLimit = desired.Spec.RevisionHistoryLimit
	want.Spec.ProgressDeadlineSeconds = desired.Spec.ProgressDeadlineSeconds
}

// patchPrimary writes want over cur, a copy Siskin manages (the primary, or the baseline
// cloned from it), unless they are equal.
func (d *Deployment) patchPrimary(ctx context.Context, cur, want *appsv1.Deployment) error {
	if equality.Semantic.DeepEqual(cur, want) {
		return nil
	}
	if err := d.client.Patch(ctx, want, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch deployment %s/%s: %w", cur.Namespace, cur.Name, err)
	}
	return nil
}

// desiredPrimary builds the primary Deployment for the target's current revision, and
// returns the configs it reads.
func (d *Deployment) desiredPrimary(ctx context.Context, c *siskinv1.Canary, target *appsv1.Deployment) (*appsv1.Deployment, []trackedConfig, error) {
	key, value, err := SelectorLabel(target, d.selectorLabels)
	if err != nil {
		return nil, nil, err
	}
	tracked, err := d.trackConfigs(ctx, target.Namespace, &target.Spec.Template.Spec, false)
	if err != nil {
		return nil, nil, err
	}
	revision, err := Fingerprint(target.Spec.Template, checksums(tracked))
	if err != nil {
		return nil, nil, fmt.Errorf("fingerprint deployment %s: %w", targetKey(c), err)
	}
	configSum, err := configsChecksum(tracked)
	if err != nil {
		return nil, nil, err
	}

	tmpl := target.Spec.Template.DeepCopy()
	tmpl.Labels = mergeMetadata(tmpl.Labels, map[string]string{key: value + PrimarySuffix})
	if configSum != "" {
		tmpl.Annotations = mergeMetadata(tmpl.Annotations, map[string]string{AnnotationConfigChecksum: configSum})
	}
	rewritePodSelectors(&tmpl.Spec, key, value, value+PrimarySuffix)
	rewriteConfigRefs(&tmpl.Spec, tracked)

	selector := target.Spec.Selector.DeepCopy()
	rewriteSelector(selector, key, value, value+PrimarySuffix)

	labels, annotations := copyMeta(c, target.Labels, target.Annotations)
	annotations[AnnotationRevision] = revision

	p := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:            PrimaryName(target.Name),
			Namespace:       target.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{ownerRef(c)},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr.To(desiredReplicas(c, target)),
			Selector:                selector,
			Template:                *tmpl,
			Strategy:                target.Spec.Strategy,
			MinReadySeconds:         target.Spec.MinReadySeconds,
			RevisionHistoryLimit:    target.Spec.RevisionHistoryLimit,
			ProgressDeadlineSeconds: target.Spec.ProgressDeadlineSeconds,
		},
	}
	return p, tracked, nil
}

// desiredReplicas is what the target runs when it is up: its replicas, or those remembered
// while it is scaled to zero, or 1. A worker canary's running replicas are a share of the
// primary's, never a count for the primary: the remembered ones come first, and the replicas
// only when none are remembered (before the first scale-up, when they are the user's).
func desiredReplicas(c *siskinv1.Canary, target *appsv1.Deployment) int32 {
	if n := rememberedReplicas(target); n > 0 && sharesPods(c) {
		return n
	}
	if n := ptr.Deref(target.Spec.Replicas, 1); n > 0 {
		return n
	}
	if n := rememberedReplicas(target); n > 0 {
		return n
	}
	return 1
}

func rememberedReplicas(target *appsv1.Deployment) int32 {
	n, err := strconv.ParseInt(target.Annotations[AnnotationReplicas], 10, 32)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}

// rewriteSelector points a label selector that picks the pods labelled key=from at those
// labelled key=to: the target's pods at the primary's, or the primary's at the baseline's.
func rewriteSelector(sel *metav1.LabelSelector, key, from, to string) {
	if sel == nil {
		return
	}
	if sel.MatchLabels[key] == from {
		sel.MatchLabels[key] = to
	}
	for i := range sel.MatchExpressions {
		e := &sel.MatchExpressions[i]
		if e.Key != key {
			continue
		}
		for j := range e.Values {
			if e.Values[j] == from {
				e.Values[j] = to
			}
		}
	}
}

// rewritePodSelectors rewrites the pod (anti-)affinity and topology spread selectors that
// refer to the copied workload's own pods (key=from), so that the copy spreads over its own
// pods (key=to).
func rewritePodSelectors(spec *corev1.PodSpec, key, from, to string) {
	terms := func(required []corev1.PodAffinityTerm, preferred []corev1.WeightedPodAffinityTerm) {
		for i := range required {
			rewriteSelector(required[i].LabelSelector, key, from, to)
		}
		for i := range preferred {
			rewriteSelector(preferred[i].PodAffinityTerm.LabelSelector, key, from, to)
		}
	}
	if a := spec.Affinity; a != nil {
		if a.PodAffinity != nil {
			terms(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
				a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		}
		if a.PodAntiAffinity != nil {
			terms(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
				a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	for i := range spec.TopologySpreadConstraints {
		rewriteSelector(spec.TopologySpreadConstraints[i].LabelSelector, key, from, to)
	}
}
