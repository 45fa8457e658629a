package target

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// object is a routing object stand-in named podinfo, with the given controller and annotation.
func object(controller *metav1.OwnerReference, annotation string) client.Object {
	obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"}}
	if controller != nil {
		obj.OwnerReferences = []metav1.OwnerReference{*controller}
	}
	if annotation != "" {
		obj.Annotations = map[string]string{AnnotationCanary: annotation}
	}
	return obj
}

func canaryRef(uid types.UID) *metav1.OwnerReference {
	return &metav1.OwnerReference{APIVersion: "siskin.dev/v1beta1", Kind: "Canary", Name: "podinfo", UID: uid, Controller: ptr.To(true)}
}

func TestOwnership(t *testing.T) {
	helm := &metav1.OwnerReference{APIVersion: "helm.toolkit.fluxcd.io/v2", Kind: "HelmRelease", Name: "apps", UID: "helm-uid", Controller: ptr.To(true)}
	tests := []struct {
		name    string
		obj     client.Object
		adopt   bool
		message string
	}{
		{name: "an object the Canary controls is its own", obj: object(canaryRef("canary-uid"), "podinfo")},
		{name: "an object of a deleted Canary of the same name is adopted", obj: object(canaryRef("old-uid"), "podinfo"), adopt: true},
		{name: "an orphan annotated for the Canary is adopted", obj: object(nil, "podinfo"), adopt: true},
		{
			name:    "an object controlled by another owner is not the Canary's",
			obj:     object(helm, "podinfo"),
			message: "HTTPRoute test/podinfo is controlled by HelmRelease apps, not by Canary podinfo; delete it or change its owner",
		},
		{
			name:    "a hand-written object is not the Canary's",
			obj:     object(nil, ""),
			message: "HTTPRoute test/podinfo exists and is not managed by Canary podinfo; delete it or annotate it siskin.dev/canary=podinfo",
		},
		{
			name:    "an orphan annotated for another Canary is not the Canary's",
			obj:     object(nil, "other"),
			message: "HTTPRoute test/podinfo exists and is not managed by Canary podinfo",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adopt, err := Ownership("HTTPRoute", tt.obj, newCanary())
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

func TestClaimReplacesADeletedCanaryOfTheSameName(t *testing.T) {
	c := newCanary()
	other := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "keep", UID: "keep-uid"}
	obj := object(canaryRef("old-uid"), "")
	obj.SetOwnerReferences(append(obj.GetOwnerReferences(), other))
	obj.SetAnnotations(map[string]string{AnnotationCanary: "podinfo", "team": "a"})
	if err := Claim("HTTPRoute", obj, c); err != nil {
		t.Fatal(err)
	}
	refs := obj.GetOwnerReferences()
	if len(refs) != 2 || refs[0] != other || refs[1].UID != c.UID || !ptr.Deref(refs[1].Controller, false) {
		t.Fatalf("owner references after Claim: %+v", refs)
	}
	if obj.GetAnnotations()["team"] != "a" {
		t.Fatalf("annotations after Claim: %v", obj.GetAnnotations())
	}
	again := obj.DeepCopyObject().(client.Object)
	if err := Claim("HTTPRoute", again, c); err != nil || !SameMeta(obj, again) {
		t.Fatalf("a second Claim changed the object: %v, %+v", err, again)
	}
}

func TestClaimLeavesForeignObjectsAlone(t *testing.T) {
	obj := object(nil, "")
	if err := Claim("HTTPRoute", obj, newCanary()); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("Claim = %v, want ErrNotOwned", err)
	}
	if len(obj.GetOwnerReferences()) != 0 || len(obj.GetAnnotations()) != 0 {
		t.Fatalf("a refused Claim changed the object: %+v", obj)
	}
}

func TestReleaseKeepsTheObjectForAdoption(t *testing.T) {
	c := newCanary()
	obj := &corev1.ConfigMap{ObjectMeta: NewMeta(c, client.ObjectKey{Namespace: "test", Name: "podinfo"})}
	if adopt, err := Ownership("HTTPRoute", obj, c); err != nil || adopt {
		t.Fatalf("a new object is not the Canary's: %v, %v", adopt, err)
	}
	Release(obj, c)
	if len(obj.OwnerReferences) != 0 {
		t.Fatalf("owner references after Release: %+v", obj.OwnerReferences)
	}
	again := newCanary(func(c *siskinv1.Canary) { c.UID = "new-uid" })
	if adopt, err := Ownership("HTTPRoute", obj, again); err != nil || !adopt {
		t.Fatalf("a released object cannot be adopted: %v, %v", adopt, err)
	}
}
