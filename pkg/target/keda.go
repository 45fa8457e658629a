package target

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The values of spec.autoscalerRef.kind.
const (
	KindHorizontalPodAutoscaler = "HorizontalPodAutoscaler"
	KindScaledObject            = "ScaledObject"
)

const (
	// AnnotationKEDAPausedReplicas on a KEDA ScaledObject holds its target at that many
	// replicas and stops its scaling. Siskin sets it to "0" on the target's ScaledObject while
	// the target is at rest, so that KEDA does not scale the canary up between analyses.
	AnnotationKEDAPausedReplicas = "autoscaling.keda.sh/paused-replicas"

	// AnnotationKEDAPaused on a KEDA ScaledObject stops its scaling where it is. It is not
	// copied to the primary's ScaledObject, like AnnotationKEDAPausedReplicas.
	AnnotationKEDAPaused = "autoscaling.keda.sh/paused"

	// AnnotationUserPausedReplicas on the target's ScaledObject remembers the value of
	// AnnotationKEDAPausedReplicas the user had set before Siskin paused it ("" for none), so
	// that resuming puts it back as it was.
	AnnotationUserPausedReplicas = "siskin.dev/user-paused-replicas"
)

// ScaledObjectGVK is the group, version and kind of a KEDA ScaledObject.
var ScaledObjectGVK = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: KindScaledObject}

// ErrKEDANotInstalled is returned for a Canary whose autoscalerRef names a ScaledObject in a
// cluster that does not serve KEDA's ScaledObject kind.
var ErrKEDANotInstalled = errors.New("keda.sh/v1alpha1 ScaledObject is not served by the cluster: install KEDA or use a HorizontalPodAutoscaler")

// usesScaledObject reports whether the Canary's autoscaler is a KEDA ScaledObject.
func usesScaledObject(c *siskinv1.Canary) bool {
	return c.Spec.AutoscalerRef != nil && c.Spec.AutoscalerRef.Kind == KindScaledObject
}

func newScaledObject() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(ScaledObjectGVK)
	return u
}

// getScaledObject reads a ScaledObject; a cluster without KEDA's CRD is ErrKEDANotInstalled.
func (d *Deployment) getScaledObject(ctx context.Context, key client.ObjectKey) (*unstructured.Unstructured, error) {
	u := newScaledObject()
	if err := d.reader.Get(ctx, key, u); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("get scaledobject %s: %w", key, ErrKEDANotInstalled)
		}
		return nil, fmt.Errorf("get scaledobject %s: %w", key, err)
	}
	return u, nil
}

// syncPrimaryScaledObject keeps <so>-primary equal to the target's ScaledObject, aimed at the
// primary, with primaryScalerReplicas and primaryScalerQueries applied (PrimaryScaledObjectSpec);
// then it holds the target's own ScaledObject paused while the target is at rest (scaled to
// zero) and resumed while it runs, so that KEDA never scales the canary up between analyses;
// a worker canary's stays paused at the canary's share while it runs.
func (d *Deployment) syncPrimaryScaledObject(ctx context.Context, c *siskinv1.Canary) error {
	ref := c.Spec.AutoscalerRef
	srcKey := client.ObjectKey{Namespace: c.Namespace, Name: ref.Name}
	src, err := d.getScaledObject(ctx, srcKey)
	if err != nil {
		return err
	}
	spec, err := PrimaryScaledObjectSpec(c, src)
	if err != nil {
		return err
	}
	labels, annotations := copyMeta(c, src.GetLabels(), src.GetAnnotations())
	for _, k := range []string{AnnotationKEDAPausedReplicas, AnnotationKEDAPaused, AnnotationUserPausedReplicas} {
		delete(annotations, k)
	}

	key := client.ObjectKey{Namespace: c.Namespace, Name: PrimaryName(ref.Name)}
	cur := newScaledObject()
	err = d.reader.Get(ctx, key, cur)
	switch {
	case apierrors.IsNotFound(err):
		so := newScaledObject()
		so.SetName(key.Name)
		so.SetNamespace(key.Namespace)
		so.SetLabels(labels)
		so.SetAnnotations(annotations)
		so.SetOwnerReferences(append(so.GetOwnerReferences(), ownerRef(c)))
		so.Object["spec"] = spec
		if err := d.client.Create(ctx, so); err != nil {
			return fmt.Errorf("create scaledobject %s: %w", key, err)
		}
	case err != nil:
		return fmt.Errorf("get scaledobject %s: %w", key, err)
	default:
		want := cur.DeepCopy()
		if err := claim(want, c, "scaledobject"); err != nil {
			return err
		}
		want.Object["spec"] = spec
		want.SetLabels(labels)
		want.SetAnnotations(annotations)
		if !equality.Semantic.DeepEqual(cur.Object, want.Object) {
			if err := d.client.Patch(ctx, want, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{})); err != nil {
				return fmt.Errorf("patch scaledobject %s: %w", key, err)
			}
		}
	}

	target, err := d.getTarget(ctx, c)
	if err != nil {
		return err
	}
	switch n := ptr.Deref(target.Spec.Replicas, 1); {
	case n == 0:
		return d.pauseScaledObject(ctx, src, 0)
	case sharesPods(c):
		// A worker canary runs its share of the primary's replicas, not what KEDA would
		// scale it to: its ScaledObject holds it there until the analysis ends.
		return d.pauseScaledObject(ctx, src, n)
	}
	return d.resumeScaledObject(ctx, src)
}

// PrimaryScaledObjectSpec returns the spec of the primary's ScaledObject made from the
// target's, src: scaleTargetRef.name is the primary; primaryScalerReplicas set minReplicaCount
// and maxReplicaCount; and primaryScalerQueries, by trigger name (spec.triggers[].name), set
// the metadata.query of those triggers. Without primaryScalerQueries the query of every trigger
// is guessed as Flagger does: the target's name, and <target>-canary, become <target>-primary.
func PrimaryScaledObjectSpec(c *siskinv1.Canary, src *unstructured.Unstructured) (map[string]any, error) {
	ref := c.Spec.AutoscalerRef
	spec, ok, err := unstructured.NestedMap(src.Object, "spec")
	if err != nil || !ok {
		return nil, fmt.Errorf("scaledobject %s/%s has no spec", src.GetNamespace(), src.GetName())
	}
	target, primary := c.Spec.TargetRef.Name, PrimaryName(c.Spec.TargetRef.Name)
	if err := unstructured.SetNestedField(spec, primary, "scaleTargetRef", "name"); err != nil {
		return nil, fmt.Errorf("scaledobject %s/%s: %w", src.GetNamespace(), src.GetName(), err)
	}
	if o := ref.PrimaryScalerReplicas; o != nil {
		if o.MinReplicas != nil {
			spec["minReplicaCount"] = int64(*o.MinReplicas)
		}
		if o.MaxReplicas != nil {
			spec["maxReplicaCount"] = int64(*o.MaxReplicas)
		}
	}
	triggers, _, err := unstructured.NestedSlice(spec, "triggers")
	if err != nil {
		return nil, fmt.Errorf("scaledobject %s/%s triggers: %w", src.GetNamespace(), src.GetName(), err)
	}
	// <target>-primary first, so that a query already about the primary stays as it is.
	guess := strings.NewReplacer(primary, primary, target+"-canary", primary, target, primary)
	for i, t := range triggers {
		trigger, ok := t.(map[string]any)
		if !ok {
			continue
		}
		md, _ := trigger["metadata"].(map[string]any)
		name, _ := trigger["name"].(string)
		switch {
		case len(ref.PrimaryScalerQueries) > 0:
			q, ok := ref.PrimaryScalerQueries[name]
			if !ok || name == "" {
				continue
			}
			if md == nil {
				md = map[string]any{}
			}
			md["query"] = q
		case md != nil:
			if q, ok := md["query"].(string); ok {
				md["query"] = guess.Replace(q)
			}
		}
		if md != nil {
			trigger["metadata"] = md
		}
		triggers[i] = trigger
	}
	if triggers != nil {
		spec["triggers"] = triggers
	}
	return spec, nil
}

// pauseScaledObject holds the target's ScaledObject at n replicas (zero at rest; a worker
// canary's share during its analysis), remembering the user's own paused-replicas value the
// first time.
func (d *Deployment) pauseScaledObject(ctx context.Context, so *unstructured.Unstructured, n int32) error {
	ann := so.GetAnnotations()
	held := strconv.Itoa(int(n))
	if _, paused := ann[AnnotationUserPausedReplicas]; paused && ann[AnnotationKEDAPausedReplicas] == held {
		return nil
	}
	want := so.DeepCopy()
	a := mergeMetadata(ann, nil)
	if _, paused := ann[AnnotationUserPausedReplicas]; !paused {
		a[AnnotationUserPausedReplicas] = ann[AnnotationKEDAPausedReplicas]
	}
	a[AnnotationKEDAPausedReplicas] = held
	want.SetAnnotations(a)
	if err := d.client.Patch(ctx, want, client.MergeFromWithOptions(so, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("pause scaledobject %s/%s: %w", so.GetNamespace(), so.GetName(), err)
	}
	return nil
}

// resumeScaledObject puts the target's ScaledObject back as the user had it: their own
// paused-replicas value, or none. A ScaledObject Siskin did not pause is left alone.
func (d *Deployment) resumeScaledObject(ctx context.Context, so *unstructured.Unstructured) error {
	ann := so.GetAnnotations()
	user, paused := ann[AnnotationUserPausedReplicas]
	if !paused {
		return nil
	}
	want := so.DeepCopy()
	a := mergeMetadata(ann, nil)
	delete(a, AnnotationUserPausedReplicas)
	if user == "" {
		delete(a, AnnotationKEDAPausedReplicas)
	} else {
		a[AnnotationKEDAPausedReplicas] = user
	}
	want.SetAnnotations(a)
	if err := d.client.Patch(ctx, want, client.MergeFrom(so)); err != nil {
		return fmt.Errorf("resume scaledobject %s/%s: %w", so.GetNamespace(), so.GetName(), err)
	}
	return nil
}

// ResumeScaler resumes the target's ScaledObject of a Canary whose autoscalerRef names one,
// before its target is scaled up: for an analysis, or for good when the Canary is deleted. It
// does nothing when the ScaledObject is not there, for a HorizontalPodAutoscaler or without
// an autoscalerRef.
func (d *Deployment) ResumeScaler(ctx context.Context, c *siskinv1.Canary) error {
	if !usesScaledObject(c) {
		return nil
	}
	so, err := d.getScaledObject(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.AutoscalerRef.Name})
	if err != nil {
		// A ScaledObject that is not there scales nothing.
		return client.IgnoreNotFound(err)
	}
	return d.resumeScaledObject(ctx, so)
}

// PauseScaler pauses the target's ScaledObject of a Canary whose autoscalerRef names one, once
// its target is scaled to zero. It does nothing when the ScaledObject is not there, for a
// HorizontalPodAutoscaler or without an autoscalerRef.
func (d *Deployment) PauseScaler(ctx context.Context, c *siskinv1.Canary) error {
	if !usesScaledObject(c) {
		return nil
	}
	so, err := d.getScaledObject(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.AutoscalerRef.Name})
	if err != nil {
		// A ScaledObject that is not there scales nothing.
		return client.IgnoreNotFound(err)
	}
	return d.pauseScaledObject(ctx, so, 0)
}
