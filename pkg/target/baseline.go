package target

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// BaselineSuffix is appended to the target's name for its baseline Deployment, and to the
// selector label value of the baseline's pods.
//
// The baseline is a third workload that runs during an analysis compared with control
// baseline (analysis.comparison): the primary's revision, started with the canary and given
// the same weight, so that the canary is compared with pods as young as its own.
const BaselineSuffix = "-baseline"

func baselineKey(c *siskinv1.Canary) client.ObjectKey {
	return client.ObjectKey{Namespace: c.Namespace, Name: BaselineName(c.Spec.TargetRef.Name)}
}

// getBaseline returns the baseline, or nil when it does not exist.
func (d *Deployment) getBaseline(ctx context.Context, c *siskinv1.Canary) (*appsv1.Deployment, error) {
	return d.getCopy(ctx, "baseline", baselineKey(c))
}

// EnsureBaseline creates <target>-baseline: the primary's pod template, strategy and workload
// metadata as they are now, with its pods labelled by the selector label's value suffixed by
// BaselineSuffix instead of PrimarySuffix (and its selector and its pods' spread and affinity
// selectors rewritten to match), the primary's revision in AnnotationRevision, and as many
// replicas as the canary runs, or scales up to when it is at zero. Its pods read the primary's
// copies of the tracked configs, so it runs the primary's revision whole. A baseline that
// exists is adopted like the primary, brought back to the primary's template if that changed,
// and scaled up if it is at zero; one that matches is not written. The primary must exist.
func (d *Deployment) EnsureBaseline(ctx context.Context, c *siskinv1.Canary) error {
	target, err := d.getTarget(ctx, c)
	if err != nil {
		return err
	}
	primary, err := d.getPrimary(ctx, c)
	if err != nil {
		return err
	}
	if primary == nil {
		return fmt.Errorf("create baseline deployment %s: primary deployment %s not found", baselineKey(c), primaryKey(c))
	}
	desired, err := d.desiredBaseline(ctx, c, target, primary)
	if err != nil {
		return err
	}
	cur, err := d.getBaseline(ctx, c)
	if err != nil {
		return err
	}
	want, err := d.createOrClaim(ctx, c, "baseline", cur, desired)
	if err != nil || want == nil {
		return err
	}
	if ptr.Deref(cur.Spec.Replicas, 1) == 0 {
		want.Spec.Replicas = desired.Spec.Replicas
	}
	return d.patchPrimary(ctx, cur, want)
}

// desiredBaseline builds the baseline Deployment from the primary as it is now, sized like
// the canary.
func (d *Deployment) desiredBaseline(ctx context.Context, c *siskinv1.Canary, target, primary *appsv1.Deployment) (*appsv1.Deployment, error) {
	key, value, err := SelectorLabel(target, d.selectorLabels)
	if err != nil {
		return nil, err
	}
	n := ptr.Deref(target.Spec.Replicas, 1)
	if n == 0 {
		if n, err = d.upReplicas(ctx, c, target); err != nil {
			return nil, err
		}
	}
	labelSet, annotations := copyMeta(c, primary.Labels, primary.Annotations)
	annotations[AnnotationRevision] = primary.Annotations[AnnotationRevision]
	b := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:            BaselineName(target.Name),
			Namespace:       target.Namespace,
			Labels:          labelSet,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{ownerRef(c)},
		},
		Spec: *primary.Spec.DeepCopy(),
	}
	b.Spec.Replicas = ptr.To(n)
	b.Spec.Paused = false
	from, to := value+PrimarySuffix, value+BaselineSuffix
	tmpl := &b.Spec.Template
	tmpl.Labels = mergeMetadata(tmpl.Labels, map[string]string{key: to})
	rewritePodSelectors(&tmpl.Spec, key, from, to)
	rewriteSelector(b.Spec.Selector, key, from, to)

	// Two Deployments whose selectors overlap fight over each other's pods: refuse a baseline
	// that the primary's selector would take for its own, or whose pods its selector misses.
	sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(tmpl.Labels)) || sel.Matches(labels.Set(primary.Spec.Template.Labels)) {
		return nil, fmt.Errorf("deployment %s: its selector %s does not tell its pods from the primary's by the selector label %s=%s",
			baselineKey(c), metav1.FormatLabelSelector(primary.Spec.Selector), key, from)
	}
	return b, nil
}

// ObserveBaseline reports <target>-baseline as the planner sees it. Its Fingerprint is the
// primary revision it was copied from (AnnotationRevision); Ready applies canaryReadyThreshold,
// since it serves beside the canary and is judged with it. A Deployment of that name that is
// not this Canary's is reported as missing, with a message that says whose it is: it is
// neither a baseline to route to nor one to remove.
func (d *Deployment) ObserveBaseline(ctx context.Context, c *siskinv1.Canary) (canary.Workload, error) {
	var w canary.Workload
	dep, err := d.getBaseline(ctx, c)
	if err != nil {
		return w, err
	}
	if dep == nil {
		w.Message = fmt.Sprintf("deployment %s not found", baselineKey(c))
		return w, nil
	}
	if err := claim(dep.DeepCopy(), c, "deployment"); err != nil {
		w.Message = err.Error()
		return w, nil
	}
	return workload(dep, dep.Annotations[AnnotationRevision], readyThreshold(c, true)), nil
}

// RemoveBaseline deletes <target>-baseline, and with it its pods. A baseline that does not
// exist, or a Deployment of that name that is not this Canary's, is left as it is.
func (d *Deployment) RemoveBaseline(ctx context.Context, c *siskinv1.Canary) error {
	dep, err := d.getBaseline(ctx, c)
	if err != nil || dep == nil {
		return err
	}
	if claim(dep.DeepCopy(), c, "deployment") != nil {
		return nil
	}
	err = d.client.Delete(ctx, dep, client.Preconditions{UID: &dep.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete baseline deployment %s: %w", baselineKey(c), err)
	}
	return nil
}
