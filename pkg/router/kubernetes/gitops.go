package kubernetes

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Annotations that tell GitOps tools to leave a Service alone, with the keys and value the
// Flagger model writes. A Service that Flux applies from Git and Siskin points at the primary's
// pods would otherwise be reverted to its Git selector at every Flux reconcile, and Siskin
// would switch it back: kustomize-controller skips objects whose reconcile is disabled, and
// helm-controller leaves them out of its drift detection.
const (
	AnnotationFluxReconcile      = "kustomize.toolkit.fluxcd.io/reconcile"
	AnnotationHelmDriftDetection = "helm.toolkit.fluxcd.io/driftDetection"
	// AnnotationAddedGitOpsKeys lists, comma-separated, the GitOps opt-out annotations Siskin
	// set on an adopted apex Service, so that handing it back removes those and no others.
	AnnotationAddedGitOpsKeys = "siskin.dev/added-gitops-annotations"

	gitOpsDisabled = "disabled"
)

// gitOpsKeys are the opt-out annotations, in a fixed order.
var gitOpsKeys = []string{AnnotationFluxReconcile, AnnotationHelmDriftDetection}

// unmanagedAnnotations are the annotation keys of spec.service.unmanagedMetadata.
func unmanagedAnnotations(c *siskinv1.Canary) []string {
	if u := c.Spec.Service.UnmanagedMetadata; u != nil {
		return u.Annotations
	}
	return nil
}

// setGitOpsOptOut sets the opt-out annotations on annotations, except the unmanaged ones, and
// returns the keys whose value it changed.
func setGitOpsOptOut(annotations map[string]string, unmanaged []string) []string {
	var changed []string
	for _, k := range gitOpsKeys {
		if contains(unmanaged, k) || annotations[k] == gitOpsDisabled {
			continue
		}
		annotations[k] = gitOpsDisabled
		changed = append(changed, k)
	}
	return changed
}

// optOutAdopted sets the opt-out annotations on a user's apex Service that Siskin adopted, and
// records the ones it set. A key the user had set already, or lists in unmanagedMetadata, is
// left as it is and not recorded.
func optOutAdopted(svc *corev1.Service, c *siskinv1.Canary) {
	added := splitKeys(svc.Annotations[AnnotationAddedGitOpsKeys])
	for _, k := range setGitOpsOptOut(svc.Annotations, unmanagedAnnotations(c)) {
		added[k] = true
	}
	if len(added) > 0 {
		svc.Annotations[AnnotationAddedGitOpsKeys] = joinKeys(added)
	}
}

// restoreGitOps removes from a handed-back apex Service the opt-out annotations Siskin added,
// so that its GitOps tool manages it again.
func restoreGitOps(svc *corev1.Service) {
	for k := range splitKeys(svc.Annotations[AnnotationAddedGitOpsKeys]) {
		delete(svc.Annotations, k)
	}
	delete(svc.Annotations, AnnotationAddedGitOpsKeys)
}

// releaseGitOps removes the opt-out annotations from a Service Siskin created and hands over,
// except the unmanaged ones, which were never Siskin's.
func releaseGitOps(svc *corev1.Service, c *siskinv1.Canary) {
	for _, k := range gitOpsKeys {
		if !contains(unmanagedAnnotations(c), k) {
			delete(svc.Annotations, k)
		}
	}
}

func splitKeys(s string) map[string]bool {
	out := map[string]bool{}
	for _, k := range strings.Split(s, ",") {
		if k != "" {
			out[k] = true
		}
	}
	return out
}

func joinKeys(keys map[string]bool) string {
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
