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
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Taking over what Flagger made. Flagger (flagger.app/v1beta1) creates, for a Canary, the
// <target>-primary Deployment, <hpa>-primary, the <config>-primary ConfigMaps and Secrets, the
// <svc>, <svc>-primary and <svc>-canary Services and the VirtualService, DestinationRules or
// HTTPRoute, each with a controller reference to its Canary. A Siskin Canary of the same name
// takes them over only when the user opts in; without it they stay ErrNotOwned.
const (
	// AnnotationAdopt on a Canary, set to AdoptFlagger, lets it take over the objects Flagger
	// made for the Flagger Canary of the same name, and a pre-existing VirtualService or
	// HTTPRoute that no controller owns. The controller flag --adopt-flagger-namespaces does
	// the same for every Canary of the namespaces it names.
	AnnotationAdopt = "siskin.dev/adopt"

	// AdoptFlagger is the value of AnnotationAdopt that opts in.
	AdoptFlagger = "flagger"

	// AnnotationAdopted on a primary Deployment records that Siskin took it over from Flagger
	// (value AdoptFlagger). Until the Canary is initialized, it tells the controller that the
	// primary's revision, not the target's, is the promoted one.
	AnnotationAdopted = "siskin.dev/adopted-from"

	// FlaggerGroup is the API group of Flagger's Canary.
	FlaggerGroup = "flagger.app"

	// FlaggerFinalizer is the finalizer Flagger puts on its Canaries (revertOnDeletion). It is
	// dropped from any object Siskin takes over: nothing would remove it once Flagger is gone.
	FlaggerFinalizer = "finalizer.flagger.app"

	// FlaggerPodID is the annotation Flagger puts on the primary's pod template with a fresh
	// random value at every promotion; it is no part of the revision.
	FlaggerPodID = "flagger-id"
)

// AdoptsFlagger reports whether c opted in to taking over Flagger's objects (AnnotationAdopt).
func AdoptsFlagger(c *siskinv1.Canary) bool {
	return c.Annotations[AnnotationAdopt] == AdoptFlagger
}

// FlaggerMade reports whether obj is what Flagger made for the Flagger Canary named like c:
// its controller reference is a Canary of group flagger.app with c's name. The UID is not
// compared: Flagger's Canary may already be gone.
func FlaggerMade(obj client.Object, c *siskinv1.Canary) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && isFlaggerCanary(ref, c.Name)
}

func isFlaggerCanary(ref *metav1.OwnerReference, name string) bool {
	group, _, _ := strings.Cut(ref.APIVersion, "/")
	return group == FlaggerGroup && ref.Kind == "Canary" && ref.Name == name
}

// TakeOver makes obj c's in memory: Flagger's references to its Canary of c's name and
// Flagger's finalizer are dropped, c becomes the controller, and AnnotationCanary names c.
// Other owners and finalizers stay. Call it only on an object FlaggerMade for c, or on one
// the user let c take over.
func TakeOver(obj client.Object, c *siskinv1.Canary) {
	var refs []metav1.OwnerReference
	owned := false
	for _, o := range obj.GetOwnerReferences() {
		switch {
		case isFlaggerCanary(&o, c.Name):
			continue
		case o.UID == c.UID:
			owned = true
		}
		refs = append(refs, o)
	}
	if !owned {
		refs = append(refs, ownerRef(c))
	}
	obj.SetOwnerReferences(refs)

	var finalizers []string
	for _, f := range obj.GetFinalizers() {
		if f != FlaggerFinalizer {
			finalizers = append(finalizers, f)
		}
	}
	obj.SetFinalizers(finalizers)

	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationCanary] = c.Name
	obj.SetAnnotations(a)
}

// Adoption is what AdoptPrimary found.
type Adoption struct {
	// Adopted is true when the primary is one Siskin took over from Flagger, in this call or
	// an earlier one.
	Adopted bool
	// Revision is the revision the adopted primary runs: the target's revision when the
	// primary runs the target's pod template and configs (as Flagger leaves them after a
	// promotion), otherwise a fingerprint of the primary's own pod template.
	Revision string
	// Target is the target's revision.
	Target string
	// Wrote is true when this call took the primary over (and wrote it).
	Wrote bool
}

// AdoptPrimary takes over the primary Deployment when c opted in (AdoptsFlagger) and Flagger
// made it for the Flagger Canary of c's name. Only its metadata changes: the owner reference,
// Flagger's finalizer, AnnotationCanary, AnnotationAdopted and AnnotationRevision. Its
// selector, labels and pod template stay as they are, so no pod restarts and no request is
// lost. When the primary runs the target's revision, Flagger's copies of the tracked configs
// are taken over too (their data is the target's already). A primary taken over earlier is
// reported again, unchanged; any other primary is left alone and reported as not adopted.
func (d *Deployment) AdoptPrimary(ctx context.Context, c *siskinv1.Canary) (Adoption, error) {
	var a Adoption
	if !AdoptsFlagger(c) {
		return a, nil
	}
	p, err := d.getPrimary(ctx, c)
	if err != nil || p == nil {
		return a, err
	}
	flagger := FlaggerMade(p, c)
	if !flagger && p.Annotations[AnnotationAdopted] != AdoptFlagger {
		return a, nil
	}
	if ref := metav1.GetControllerOf(p); !flagger && (ref == nil || ref.UID != c.UID) {
		return a, nil
	}
	target, err := d.getTarget(ctx, c)
	if err != nil {
		return a, err
	}
	desired, tracked, err := d.desiredPrimary(ctx, c, target)
	if err != nil {
		return a, err
	}
	a.Adopted, a.Target = true, desired.Annotations[AnnotationRevision]
	if !flagger {
		a.Revision = p.Annotations[AnnotationRevision]
		return a, nil
	}
	// A Deployment's selector is immutable: every pod template Siskin promotes must match the
	// one Flagger chose, which it does when both pick the same selector label.
	if sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err != nil || !sel.Matches(labels.Set(desired.Spec.Template.Labels)) {
		return Adoption{}, fmt.Errorf("deployment %s was made by Flagger, but its selector %s does not select the labels Siskin gives the primary's pods (%s); give Siskin Flagger's -selector-labels: %w",
			primaryKey(c), metav1.FormatLabelSelector(p.Spec.Selector), labels.Set(desired.Spec.Template.Labels), ErrNotOwned)
	}

	same, err := d.runsRevision(ctx, p, desired, tracked)
	if err != nil {
		return a, err
	}
	a.Revision = a.Target
	if same {
		if err := d.ensureConfigCopies(ctx, c, tracked); err != nil {
			return a, err
		}
	} else if a.Revision, err = Fingerprint(withoutRevisionNoise(&p.Spec.Template), nil); err != nil {
		return a, fmt.Errorf("fingerprint deployment %s: %w", primaryKey(c), err)
	}
	want := p.DeepCopy()
	TakeOver(want, c)
	want.Annotations[AnnotationRevision] = a.Revision
	want.Annotations[AnnotationAdopted] = AdoptFlagger
	a.Wrote = true
	return a, d.patchPrimary(ctx, p, want)
}

// runsRevision reports whether the primary p runs the revision desired was built from: the
// same pod template (apart from Flagger's random pod ID and Siskin's config checksum, which
// Flagger does not write) and, for every tracked config, a copy with the same data.
func (d *Deployment) runsRevision(ctx context.Context, p, desired *appsv1.Deployment, tracked []trackedConfig) (bool, error) {
	if !equality.Semantic.DeepEqual(withoutRevisionNoise(&p.Spec.Template), withoutRevisionNoise(&desired.Spec.Template)) {
		return false, nil
	}
	for _, t := range tracked {
		key := client.ObjectKey{Namespace: p.Namespace, Name: PrimaryName(t.ref.name)}
		var sum string
		var err error
		if t.ref.kind == kindConfigMap {
			cm := &corev1.ConfigMap{}
			if err = d.reader.Get(ctx, key, cm); err == nil {
				sum, err = configMapChecksum(cm)
			}
		} else {
			s := &corev1.Secret{}
			if err = d.reader.Get(ctx, key, s); err == nil {
				sum, err = secretChecksum(s)
			}
		}
		switch {
		case apierrors.IsNotFound(err):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("get %s %s: %w", t.ref.kind, key, err)
		case sum != t.checksum:
			return false, nil
		}
	}
	return true, nil
}

// withoutRevisionNoise returns a copy of a pod template without the annotations that do not
// tell revisions apart: Flagger's random pod ID and Siskin's config checksum.
func withoutRevisionNoise(tmpl *corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	out := tmpl.DeepCopy()
	delete(out.Annotations, FlaggerPodID)
	delete(out.Annotations, AnnotationConfigChecksum)
	if len(out.Annotations) == 0 {
		out.Annotations = nil
	}
	if len(out.Labels) == 0 {
		out.Labels = nil
	}
	return *out
}
