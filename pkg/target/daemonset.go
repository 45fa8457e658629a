package target

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// A DaemonSet has no replicas to scale: it runs a pod on every node its pod template may be
// scheduled to. The target DaemonSet is "scaled to zero" at rest by a node selector that no
// node matches, and scaled up by taking that selector away again, as Flagger does with its own
// key (flagger.app/scale-to-zero).
const (
	// ScaleToZeroKey is the node selector key set, with ScaleToZeroValue, on the pod template
	// of a target DaemonSet at rest. No node carries the label, so no pod is scheduled. It is
	// no part of the revision: the fingerprint and the primary's copy leave it out.
	ScaleToZeroKey = "siskin.dev/scale-to-zero"
	// ScaleToZeroValue is the value of ScaleToZeroKey.
	ScaleToZeroValue = "true"
)

// DaemonSet is the adapter for a target of kind DaemonSet. Its primary <name>-primary is a
// DaemonSet cloned from the target, whose pods carry the selector label's value suffixed by
// PrimarySuffix. There is no baseline and no autoscaler for a DaemonSet: those operations
// return ErrUnsupported.
type DaemonSet struct {
	reader         client.Reader
	client         client.Client
	selectorLabels []string
	memo           memo
	// configs tracks and copies the configs the pods read, which is the same for every kind,
	// and holds the take-over settings (AdoptFlaggerIn).
	configs *Deployment
}

// NewDaemonSet returns a DaemonSet adapter that reads through reader (the informer cache)
// and writes through c. selectorLabels overrides DefaultSelectorLabels when not empty.
func NewDaemonSet(reader client.Reader, c client.Client, selectorLabels []string) *DaemonSet {
	configs := NewDeployment(reader, c, selectorLabels)
	return &DaemonSet{reader: reader, client: c, selectorLabels: configs.selectorLabels, configs: configs}
}

// AdoptFlaggerIn is Deployment.AdoptFlaggerIn.
func (d *DaemonSet) AdoptFlaggerIn(namespaces []string) { d.configs.AdoptFlaggerIn(namespaces) }

// MarkAdoption is Deployment.MarkAdoption: the opt-in is the Canary's, whatever its kind.
func (d *DaemonSet) MarkAdoption(c *siskinv1.Canary) { d.configs.MarkAdoption(c) }

func (d *DaemonSet) getTarget(ctx context.Context, c *siskinv1.Canary) (*appsv1.DaemonSet, error) {
	ds := &appsv1.DaemonSet{}
	if err := d.reader.Get(ctx, targetKey(c), ds); err != nil {
		return nil, fmt.Errorf("get target daemonset %s: %w", targetKey(c), err)
	}
	return ds, nil
}

// getPrimary returns the primary, or nil when it does not exist.
func (d *DaemonSet) getPrimary(ctx context.Context, c *siskinv1.Canary) (*appsv1.DaemonSet, error) {
	ds := &appsv1.DaemonSet{}
	err := d.reader.Get(ctx, primaryKey(c), ds)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get primary daemonset %s: %w", primaryKey(c), err)
	}
	return ds, nil
}

// Observe reports the target and the primary as the planner sees them, as Deployment.Observe
// does. A DaemonSet's Replicas is 0 while it is scaled to zero, else the number of nodes it
// should run on (at least 1: it means to run); Ready compares its available pods with its
// updated ones, with canaryReadyThreshold or primaryReadyThreshold applied.
func (d *DaemonSet) Observe(ctx context.Context, c *siskinv1.Canary) (target, primary canary.Workload, err error) {
	ds, err := d.getTarget(ctx, c)
	switch {
	case apierrors.IsNotFound(err):
		target.Message = fmt.Sprintf("daemonset %s not found", targetKey(c))
	case err != nil:
		return target, primary, err
	default:
		tmpl := revisionTemplate(ds)
		configs, err := d.configs.TrackedConfigs(ctx, ds.Namespace, tmpl)
		missing := ""
		if apierrors.IsNotFound(err) {
			missing = err.Error()
			configs, err = d.configs.presentConfigs(ctx, ds.Namespace, tmpl)
		}
		if err != nil {
			return target, primary, fmt.Errorf("track configs of daemonset %s: %w", targetKey(c), err)
		}
		fp, err := d.fingerprint(ds, configs)
		if err != nil {
			return target, primary, fmt.Errorf("fingerprint daemonset %s: %w", targetKey(c), err)
		}
		target = daemonSetWorkload(ds, fp, readyThreshold(c, true))
		if missing != "" {
			target.Ready, target.Message = false, "a config it needs is missing: "+missing
		}
	}

	p, err := d.getPrimary(ctx, c)
	switch {
	case err != nil:
		return target, primary, err
	case p == nil:
		primary.Message = fmt.Sprintf("daemonset %s not found", primaryKey(c))
	default:
		primary = daemonSetWorkload(p, p.Annotations[AnnotationRevision], readyThreshold(c, false))
	}
	return target, primary, nil
}

// Configs returns the checksums of the configs the target DaemonSet reads.
func (d *DaemonSet) Configs(ctx context.Context, c *siskinv1.Canary) (map[string]string, error) {
	ds, err := d.getTarget(ctx, c)
	if err != nil {
		return nil, err
	}
	return d.configs.TrackedConfigs(ctx, ds.Namespace, revisionTemplate(ds))
}

// fingerprint is the memoized Fingerprint of the target's pod template without
// ScaleToZeroKey, so that scaling the target neither makes nor hides a revision.
func (d *DaemonSet) fingerprint(ds *appsv1.DaemonSet, configs map[string]string) (string, error) {
	// The memo keys on the object's identity and version; only the template is hashed.
	as := &appsv1.Deployment{ObjectMeta: ds.ObjectMeta, Spec: appsv1.DeploymentSpec{Template: *revisionTemplate(ds)}}
	return d.memo.fingerprint(as, configs)
}

// revisionTemplate returns a copy of the DaemonSet's pod template without ScaleToZeroKey.
func revisionTemplate(ds *appsv1.DaemonSet) *corev1.PodTemplateSpec {
	tmpl := ds.Spec.Template.DeepCopy()
	delete(tmpl.Spec.NodeSelector, ScaleToZeroKey)
	if len(tmpl.Spec.NodeSelector) == 0 {
		tmpl.Spec.NodeSelector = nil
	}
	return tmpl
}

// atRest reports whether the DaemonSet's pods are kept off every node by ScaleToZeroKey.
func atRest(ds *appsv1.DaemonSet) bool {
	_, ok := ds.Spec.Template.Spec.NodeSelector[ScaleToZeroKey]
	return ok
}

func daemonSetWorkload(ds *appsv1.DaemonSet, fingerprint string, threshold int32) canary.Workload {
	ready, msg := daemonSetReadiness(ds, threshold)
	w := canary.Workload{
		Exists:      true,
		Fingerprint: fingerprint,
		Ready:       ready,
		Message:     msg,
		Replicas:    max(ds.Status.DesiredNumberScheduled, 1),
		Available:   ds.Status.NumberAvailable,
	}
	if atRest(ds) {
		w.Replicas, w.Available = 0, 0
	}
	return w
}

// daemonSetReadiness tells whether a DaemonSet has rolled out its current generation to every
// node it should run on, with at least threshold percent (rounded up) of its updated pods
// available. A DaemonSet scaled to zero, or scheduled to no node, is not ready: it serves
// nothing.
func daemonSetReadiness(ds *appsv1.DaemonSet, threshold int32) (bool, string) {
	name := ds.Namespace + "/" + ds.Name
	st := ds.Status
	need := (int64(st.UpdatedNumberScheduled)*int64(threshold) + 99) / 100
	switch {
	case atRest(ds):
		return false, fmt.Sprintf("daemonset %s is scaled to zero (node selector %s)", name, ScaleToZeroKey)
	case st.ObservedGeneration < ds.Generation:
		return false, fmt.Sprintf("daemonset %s: waiting for generation %d to be observed", name, ds.Generation)
	case st.DesiredNumberScheduled == 0:
		return false, fmt.Sprintf("daemonset %s: no node to run on", name)
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return false, fmt.Sprintf("daemonset %s: %d of %d pods updated", name, st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	case int64(st.NumberAvailable) < need:
		return false, fmt.Sprintf("daemonset %s: %d of %d updated pods available, %d needed (%d%%)",
			name, st.NumberAvailable, st.UpdatedNumberScheduled, need, threshold)
	}
	return true, ""
}

// ScaleDown keeps the target's pods off every node by setting ScaleToZeroKey in its pod
// template's node selector. The patch carries the resourceVersion that was read.
func (d *DaemonSet) ScaleDown(ctx context.Context, c *siskinv1.Canary) error {
	ds, err := d.getTarget(ctx, c)
	if err != nil || atRest(ds) {
		return err
	}
	want := ds.DeepCopy()
	want.Spec.Template.Spec.NodeSelector = mergeMetadata(want.Spec.Template.Spec.NodeSelector,
		map[string]string{ScaleToZeroKey: ScaleToZeroValue})
	if err := d.client.Patch(ctx, want, client.MergeFromWithOptions(ds, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("scale daemonset %s to zero: %w", targetKey(c), err)
	}
	return nil
}

// ScaleUp lets the target's pods run again by removing ScaleToZeroKey from its node selector.
// A target already up is left alone.
func (d *DaemonSet) ScaleUp(ctx context.Context, c *siskinv1.Canary) error {
	ds, err := d.getTarget(ctx, c)
	if err != nil {
		return err
	}
	return d.scaleUp(ctx, c, ds)
}

func (d *DaemonSet) scaleUp(ctx context.Context, c *siskinv1.Canary, ds *appsv1.DaemonSet) error {
	if !atRest(ds) {
		return nil
	}
	want := ds.DeepCopy()
	want.Spec.Template = *revisionTemplate(ds)
	if err := d.client.Patch(ctx, want, client.MergeFrom(ds)); err != nil {
		return fmt.Errorf("scale up daemonset %s: %w", targetKey(c), err)
	}
	return nil
}

// Revert gives the target its pods back when the Canary is deleted, and reports whether it is
// ready by primaryReadyThreshold. Waiting, and re-pointing the apex Service only once it is
// ready, are the caller's job.
func (d *DaemonSet) Revert(ctx context.Context, c *siskinv1.Canary) (bool, error) {
	ds, err := d.getTarget(ctx, c)
	if err != nil {
		return false, err
	}
	if atRest(ds) {
		return false, d.scaleUp(ctx, c, ds)
	}
	ready, _ := daemonSetReadiness(ds, readyThreshold(c, false))
	return ready, nil
}

// EnsurePrimary creates <target>-primary, and the primary copies of the target's tracked
// configs, when the primary does not exist. An existing primary is left as it is (Promote
// updates it), except that an orphaned one is adopted.
func (d *DaemonSet) EnsurePrimary(ctx context.Context, c *siskinv1.Canary) error {
	ds, err := d.getTarget(ctx, c)
	if err != nil {
		return err
	}
	cur, err := d.getPrimary(ctx, c)
	if err != nil {
		return err
	}
	if cur != nil {
		want := cur.DeepCopy()
		if err := claim(want, c, "daemonset"); err != nil {
			return err
		}
		return d.patchPrimary(ctx, cur, want)
	}
	want, tracked, err := d.desiredPrimary(ctx, c, ds)
	if err != nil {
		return err
	}
	if err := d.configs.ensureConfigCopies(ctx, c, tracked); err != nil {
		return err
	}
	if err := d.client.Create(ctx, want); err != nil {
		return fmt.Errorf("create primary daemonset %s: %w", primaryKey(c), err)
	}
	return nil
}

// Promote copies the target's revision to the primary: its tracked configs to their primary
// copies, then its pod template (without ScaleToZeroKey), updateStrategy, minReadySeconds,
// revisionHistoryLimit, workload labels and annotations. Nothing is written when the primary
// already matches.
//
// revision, when not empty, is the fingerprint the caller decided to promote; if the target
// has moved on, Promote returns ErrRevisionChanged and changes nothing.
func (d *DaemonSet) Promote(ctx context.Context, c *siskinv1.Canary, revision string) error {
	ds, err := d.getTarget(ctx, c)
	if err != nil {
		return err
	}
	desired, tracked, err := d.desiredPrimary(ctx, c, ds)
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
	if err := d.configs.ensureConfigCopies(ctx, c, tracked); err != nil {
		return err
	}
	if cur == nil {
		if err := d.client.Create(ctx, desired); err != nil {
			return fmt.Errorf("create primary daemonset %s: %w", primaryKey(c), err)
		}
		return nil
	}
	want := cur.DeepCopy()
	if err := claim(want, c, "daemonset"); err != nil {
		return err
	}
	want.Labels = mergeMetadata(want.Labels, desired.Labels)
	want.Annotations = mergeMetadata(want.Annotations, desired.Annotations)
	want.Spec.Template = desired.Spec.Template
	want.Spec.UpdateStrategy = desired.Spec.UpdateStrategy
	want.Spec.MinReadySeconds = desired.Spec.MinReadySeconds
	want.Spec.RevisionHistoryLimit = desired.Spec.RevisionHistoryLimit
	return d.patchPrimary(ctx, cur, want)
}

// patchPrimary writes want over cur unless they are equal.
func (d *DaemonSet) patchPrimary(ctx context.Context, cur, want *appsv1.DaemonSet) error {
	if equality.Semantic.DeepEqual(cur, want) {
		return nil
	}
	if err := d.client.Patch(ctx, want, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch daemonset %s/%s: %w", cur.Namespace, cur.Name, err)
	}
	return nil
}

// desiredPrimary builds the primary DaemonSet for the target's current revision, and returns
// the configs it reads.
func (d *DaemonSet) desiredPrimary(ctx context.Context, c *siskinv1.Canary, ds *appsv1.DaemonSet) (*appsv1.DaemonSet, []trackedConfig, error) {
	key, value, err := daemonSetSelectorLabel(ds, d.selectorLabels)
	if err != nil {
		return nil, nil, err
	}
	tmpl := revisionTemplate(ds)
	tracked, err := d.configs.trackConfigs(ctx, ds.Namespace, &tmpl.Spec, false)
	if err != nil {
		return nil, nil, err
	}
	revision, err := Fingerprint(*tmpl, checksums(tracked))
	if err != nil {
		return nil, nil, fmt.Errorf("fingerprint daemonset %s: %w", targetKey(c), err)
	}
	configSum, err := configsChecksum(tracked)
	if err != nil {
		return nil, nil, err
	}

	tmpl.Labels = mergeMetadata(tmpl.Labels, map[string]string{key: value + PrimarySuffix})
	if configSum != "" {
		tmpl.Annotations = mergeMetadata(tmpl.Annotations, map[string]string{AnnotationConfigChecksum: configSum})
	}
	rewritePodSelectors(&tmpl.Spec, key, value, value+PrimarySuffix)
	rewriteConfigRefs(&tmpl.Spec, tracked)

	selector := ds.Spec.Selector.DeepCopy()
	rewriteSelector(selector, key, value, value+PrimarySuffix)

	labels, annotations := copyMeta(c, ds.Labels, ds.Annotations)
	annotations[AnnotationRevision] = revision

	p := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            PrimaryName(ds.Name),
			Namespace:       ds.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{ownerRef(c)},
		},
		Spec: appsv1.DaemonSetSpec{
			Selector:             selector,
			Template:             *tmpl,
			UpdateStrategy:       ds.Spec.UpdateStrategy,
			MinReadySeconds:      ds.Spec.MinReadySeconds,
			RevisionHistoryLimit: ds.Spec.RevisionHistoryLimit,
		},
	}
	return p, tracked, nil
}

// daemonSetSelectorLabel is SelectorLabel for a DaemonSet.
func daemonSetSelectorLabel(ds *appsv1.DaemonSet, keys []string) (key, value string, err error) {
	if ds.Spec.Selector != nil {
		for _, k := range keys {
			if v, ok := ds.Spec.Selector.MatchLabels[k]; ok && v != "" {
				return k, v, nil
			}
		}
	}
	return "", "", fmt.Errorf("daemonset %s/%s: spec.selector.matchLabels has none of the selector labels %s",
		ds.Namespace, ds.Name, strings.Join(keys, ", "))
}

// AdoptPrimary reports nothing adopted, except when c opted in and the primary DaemonSet is
// one Flagger made: taking that over is not done yet, and is ErrUnsupported rather than a
// silent rewrite of its pods.
func (d *DaemonSet) AdoptPrimary(ctx context.Context, c *siskinv1.Canary) (Adoption, error) {
	if !AdoptsFlagger(c) {
		return Adoption{}, nil
	}
	p, err := d.getPrimary(ctx, c)
	if err != nil || p == nil || !FlaggerMade(p, c) {
		return Adoption{}, err
	}
	return Adoption{}, fmt.Errorf("daemonset %s was made by Flagger; taking over a primary daemonset: %w", primaryKey(c), ErrUnsupported)
}
