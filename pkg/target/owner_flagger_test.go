package target

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// flaggerRef is the controller reference Flagger sets on what it makes for its Canary name.
func flaggerRef(name string) *metav1.OwnerReference {
	return &metav1.OwnerReference{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: name, UID: "flagger-uid",
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

func adopting(c *siskinv1.Canary) {
	c.Annotations = map[string]string{AnnotationAdopt: AdoptFlagger}
}

func TestOwnershipOfFlaggersObjects(t *testing.T) {
	helm := &metav1.OwnerReference{APIVersion: "helm.toolkit.fluxcd.io/v2", Kind: "HelmRelease", Name: "apps", UID: "helm-uid", Controller: ptr.To(true)}
	tests := []struct {
		name    string
		obj     client.Object
		canary  *siskinv1.Canary
		adopt   bool
		message string
	}{
		{
			name:    "Flagger's route is refused without the opt-in, saying how to opt in",
			obj:     object(flaggerRef("podinfo"), ""),
			canary:  newCanary(),
			message: "VirtualService test/podinfo was made by Flagger for its Canary podinfo; annotate the Canary siskin.dev/adopt=flagger",
		},
		{name: "Flagger's route is taken over with the opt-in", obj: object(flaggerRef("podinfo"), ""), canary: newCanary(adopting), adopt: true},
		{
			name:    "a route Flagger made for another Canary is refused even with the opt-in",
			obj:     object(flaggerRef("other"), ""),
			canary:  newCanary(adopting),
			message: "VirtualService test/podinfo is controlled by Canary other, not by Canary podinfo",
		},
		{
			name:    "a route of another controller is refused even with the opt-in",
			obj:     object(helm, ""),
			canary:  newCanary(adopting),
			message: "is controlled by HelmRelease apps",
		},
		{name: "a pre-existing route no controller owns is taken over with the opt-in", obj: object(nil, ""), canary: newCanary(adopting), adopt: true},
		{
			name:    "a pre-existing route no controller owns is refused without the opt-in",
			obj:     object(nil, ""),
			canary:  newCanary(),
			message: "or annotate the Canary siskin.dev/adopt=flagger to take over what exists",
		},
		{
			name:    "an object another Canary handed back stays that Canary's even with the opt-in",
			obj:     object(nil, "other"),
			canary:  newCanary(adopting),
			message: "exists and is not managed by Canary podinfo",
		},
		{
			name:    "another opt-in value is no opt-in",
			obj:     object(flaggerRef("podinfo"), ""),
			canary:  newCanary(func(c *siskinv1.Canary) { c.Annotations = map[string]string{AnnotationAdopt: "none"} }),
			message: "was made by Flagger",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adopt, err := Ownership("VirtualService", tt.obj, tt.canary)
			if tt.message == "" {
				if err != nil || adopt != tt.adopt {
					t.Fatalf("Ownership = %v, %v; want %v, nil", adopt, err, tt.adopt)
				}
				return
			}
			if !errors.Is(err, ErrNotOwned) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("Ownership error = %v, want ErrNotOwned with %q", err, tt.message)
			}
		})
	}
}

func TestClaimReplacesFlaggersOwnerAndFinalizer(t *testing.T) {
	c := newCanary(adopting)
	other := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "keep", UID: "keep-uid"}
	obj := object(flaggerRef("podinfo"), "")
	obj.SetOwnerReferences(append(obj.GetOwnerReferences(), other))
	obj.SetFinalizers([]string{FlaggerFinalizer, "example.com/keep"})
	obj.SetLabels(map[string]string{"app": "podinfo"})
	if err := Claim("VirtualService", obj, c); err != nil {
		t.Fatal(err)
	}
	refs := obj.GetOwnerReferences()
	if len(refs) != 2 || refs[0] != other || refs[1].UID != c.UID || refs[1].APIVersion != "siskin.dev/v1beta1" || !ptr.Deref(refs[1].Controller, false) {
		t.Fatalf("owner references after Claim: %+v", refs)
	}
	if f := obj.GetFinalizers(); len(f) != 1 || f[0] != "example.com/keep" {
		t.Fatalf("finalizers after Claim: %v", f)
	}
	if obj.GetAnnotations()[AnnotationCanary] != "podinfo" || obj.GetLabels()["app"] != "podinfo" {
		t.Fatalf("metadata after Claim: %v %v", obj.GetAnnotations(), obj.GetLabels())
	}
	if adopt, err := Ownership("VirtualService", obj, newCanary()); err != nil || adopt {
		t.Fatalf("a claimed route is the Canary's without the opt-in: %v, %v", adopt, err)
	}
}

func TestClaimLeavesFlaggersObjectsAloneWithoutTheOptIn(t *testing.T) {
	obj := object(flaggerRef("podinfo"), "")
	before := obj.DeepCopyObject().(client.Object)
	if err := Claim("VirtualService", obj, newCanary()); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("Claim = %v, want ErrNotOwned", err)
	}
	if !SameMeta(before, obj) {
		t.Fatalf("a refused Claim changed the object: %+v", obj)
	}
}
