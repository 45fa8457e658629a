package target

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// PrimaryName is the name of the primary copy of the object named name.
func PrimaryName(name string) string {
	return name + PrimarySuffix
}

// BaselineName is the name of the baseline copy of the object named name (see
// Deployment.EnsureBaseline).
func BaselineName(name string) string {
	return name + BaselineSuffix
}

// SelectorLabel returns the first of keys found in the Deployment's spec.selector.matchLabels
// and its value there. The primary's pods carry the same key with the value suffixed by
// PrimarySuffix.
func SelectorLabel(dep *appsv1.Deployment, keys []string) (key, value string, err error) {
	if dep.Spec.Selector != nil {
		for _, k := range keys {
			if v, ok := dep.Spec.Selector.MatchLabels[k]; ok && v != "" {
				return k, v, nil
			}
		}
	}
	return "", "", fmt.Errorf("deployment %s/%s: spec.selector.matchLabels has none of the selector labels %s",
		dep.Namespace, dep.Name, strings.Join(keys, ", "))
}

// copyableMetadata returns the labels or annotations of a user's object that belong on its
// primary copy. Keys that tie an object to the tool that applied it are dropped: a GitOps
// tool that found them on the copy would prune or overwrite it as its own. So are Siskin's own
// keys and the Deployment controller's revision.
func copyableMetadata(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if !copyableKey(k) {
			continue
		}
		out[k] = v
	}
	return out
}

func copyableKey(k string) bool {
	switch k {
	case "kubectl.kubernetes.io/last-applied-configuration",
		"deployment.kubernetes.io/revision",
		"argocd.argoproj.io/tracking-id":
		return false
	}
	prefix, _, found := strings.Cut(k, "/")
	if !found {
		return true
	}
	if prefix == "toolkit.fluxcd.io" || strings.HasSuffix(prefix, ".toolkit.fluxcd.io") {
		return false
	}
	return prefix != "siskin.dev"
}

// ownerRef is the controller reference to the Canary set on every object Siskin creates.
func ownerRef(c *siskinv1.Canary) metav1.OwnerReference {
	return *metav1.NewControllerRef(c, siskinv1.GroupVersion.WithKind(siskinv1.CanaryKind))
}

// claim checks that obj may be managed for c. An object controlled by c is; an orphan that
// carries c's AnnotationCanary is adopted (its controller reference is set on obj); so is an
// object Flagger made for the Flagger Canary of c's name, when c opted in (AdoptsFlagger), in
// place of Flagger's owner reference and finalizer. Anything else is ErrNotOwned.
func claim(obj client.Object, c *siskinv1.Canary, kind string) error {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		if ref.UID == c.UID {
			return nil
		}
		if FlaggerMade(obj, c) {
			if !AdoptsFlagger(c) {
				return fmt.Errorf("%s %s/%s was made by Flagger for its canary %s; annotate the canary %s=%s to take it over: %w",
					kind, obj.GetNamespace(), obj.GetName(), ref.Name, AnnotationAdopt, AdoptFlagger, ErrNotOwned)
			}
			TakeOver(obj, c)
			return nil
		}
		return fmt.Errorf("%s %s/%s is controlled by %s %s: %w",
			kind, obj.GetNamespace(), obj.GetName(), ref.Kind, ref.Name, ErrNotOwned)
	}
	if obj.GetAnnotations()[AnnotationCanary] != c.Name {
		return fmt.Errorf("%s %s/%s was not created by siskin for canary %s: %w",
			kind, obj.GetNamespace(), obj.GetName(), c.Name, ErrNotOwned)
	}
	refs := append([]metav1.OwnerReference(nil), obj.GetOwnerReferences()...)
	obj.SetOwnerReferences(append(refs, ownerRef(c)))
	return nil
}

// mergeMetadata returns base with every key of over set.
func mergeMetadata(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}
