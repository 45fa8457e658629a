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

// claim is Claim with the arguments in the order of this package's callers.
func claim(obj client.Object, c *siskinv1.Canary, kind string) error { return Claim(kind, obj, c) }

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
