package target

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Ownership is decided here for every object Siskin makes or manages for a Canary — the
// primary and baseline workloads, their config copies, autoscalers and ScaledObjects, the
// generated Services and the routers' objects — with one set of adoption rules.

// Ownership tells whether obj, a routing object of the given kind, is c's: it is when c is its
// controller. An object without a controller that carries AnnotationCanary naming c was
// made by Siskin for c (and orphaned, or handed back by Finalize), and so was one controlled by
// a deleted Canary of the same name: adopt is true and it may be claimed. When c opted in to
// taking over from Flagger (AdoptsFlagger), so may an object Flagger made for its
// Canary of c's name (FlaggerMade), and a pre-existing object that no controller owns
// and no other Canary's annotation names.
// Anything else is an error wrapping ErrNotOwned that tells the user how to hand the object
// over.
func Ownership(kind string, obj client.Object, c *siskinv1.Canary) (adopt bool, err error) {
	key := client.ObjectKeyFromObject(obj)
	takeOver := AdoptsFlagger(c)
	if ref := metav1.GetControllerOf(obj); ref != nil {
		switch {
		case ref.UID == c.UID:
			return false, nil
		case staleOwner(ref, c):
			return true, nil
		case FlaggerMade(obj, c) && takeOver:
			return true, nil
		case FlaggerMade(obj, c):
			return false, fmt.Errorf("%s %s was made by Flagger for its Canary %s; annotate the Canary %s=%s to let Siskin take it over: %w",
				kind, key, ref.Name, AnnotationAdopt, AdoptFlagger, ErrNotOwned)
		}
		return false, fmt.Errorf("%s %s is controlled by %s %s, not by Canary %s; delete it or change its owner: %w",
			kind, key, ref.Kind, ref.Name, c.Name, ErrNotOwned)
	}
	switch owner, annotated := obj.GetAnnotations()[AnnotationCanary]; {
	case owner == c.Name:
		return true, nil
	case takeOver && !annotated:
		// A pre-existing object; one handed back by another Canary stays that Canary's.
		return true, nil
	}
	return false, fmt.Errorf("%s %s exists and is not managed by Canary %s; delete it or annotate it %s=%s to let Siskin manage it (or annotate the Canary %s=%s to take over what exists): %w",
		kind, key, c.Name, AnnotationCanary, c.Name, AnnotationAdopt, AdoptFlagger, ErrNotOwned)
}

// Claim makes obj c's in memory (see Ownership): it gets c as its controller, in place of a
// deleted Canary of the same name or of Flagger's Canary (whose finalizer goes too), and the
// AnnotationCanary annotation. It fails like Ownership, before changing anything, when
// obj is not Siskin's.
func Claim(kind string, obj client.Object, c *siskinv1.Canary) error {
	adopt, err := Ownership(kind, obj, c)
	if err != nil {
		return err
	}
	if adopt {
		var refs []metav1.OwnerReference
		for _, o := range obj.GetOwnerReferences() {
			if !staleOwner(&o, c) {
				refs = append(refs, o)
			}
		}
		obj.SetOwnerReferences(refs)
		// Flagger's references and finalizer go, c becomes the controller.
		TakeOver(obj, c)
	}
	if obj.GetAnnotations()[AnnotationCanary] != c.Name {
		a := obj.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[AnnotationCanary] = c.Name
		obj.SetAnnotations(a)
	}
	return nil
}

// Release drops c's owner references from obj, so the garbage collector keeps it when c goes.
// The annotation stays, so a Canary of the same name adopts obj again.
func Release(obj client.Object, c *siskinv1.Canary) {
	var refs []metav1.OwnerReference
	for _, o := range obj.GetOwnerReferences() {
		if o.UID != c.UID {
			refs = append(refs, o)
		}
	}
	obj.SetOwnerReferences(refs)
}

// NewMeta returns the metadata of a routing object that c creates at key: controlled by c and
// annotated with its name.
func NewMeta(c *siskinv1.Canary, key client.ObjectKey) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            key.Name,
		Namespace:       key.Namespace,
		Annotations:     map[string]string{AnnotationCanary: c.Name},
		OwnerReferences: []metav1.OwnerReference{ownerRef(c)},
	}
}

// SameMeta reports whether a and b have the same owner references and annotations, the
// metadata routers manage.
func SameMeta(a, b client.Object) bool {
	return equality.Semantic.DeepEqual(a.GetOwnerReferences(), b.GetOwnerReferences()) &&
		equality.Semantic.DeepEqual(a.GetAnnotations(), b.GetAnnotations())
}

// staleOwner reports whether ref names an earlier Canary of c's name: only one Canary of a name
// exists at a time, so that one is gone and the garbage collector has not caught up yet.
func staleOwner(ref *metav1.OwnerReference, c *siskinv1.Canary) bool {
	return ref.Kind == siskinv1.CanaryKind && ref.Name == c.Name && ref.UID != c.UID &&
		strings.HasPrefix(ref.APIVersion, siskinv1.GroupVersion.Group+"/")
}
