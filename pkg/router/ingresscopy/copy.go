package ingresscopy

import (
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// lastApplied is kubectl's copy of the user's manifest, which must not be copied: kubectl
// apply would read it as the canary Ingress's own.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Annotations are the user's Ingress annotations that the copy carries: all but kubectl's
// last-applied configuration, Siskin's own, and those for which own reports true (the
// controller's annotations that the copy sets itself).
func Annotations(user map[string]string, own func(key string) bool) map[string]string {
	out := map[string]string{}
	for k, v := range user {
		if k != lastApplied && !strings.HasPrefix(k, siskinv1.GroupVersion.Group+"/") && !own(k) {
			out[k] = v
		}
	}
	return out
}

// Rules are the user's rules with each path whose backend is the Service apex replaced by the
// paths that copy makes of it (a copy of the path, its backend still apex); paths to other
// Services are left out, and so are the rules left without a path.
func Rules(user []networkingv1.IngressRule, apex string, copy func(p networkingv1.HTTPIngressPath) []networkingv1.HTTPIngressPath) []networkingv1.IngressRule {
	var out []networkingv1.IngressRule
	for _, rule := range user {
		if rule.HTTP == nil {
			continue
		}
		var paths []networkingv1.HTTPIngressPath
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service != nil && p.Backend.Service.Name == apex {
				paths = append(paths, copy(*p.DeepCopy())...)
			}
		}
		if len(paths) > 0 {
			rule = *rule.DeepCopy()
			rule.HTTP.Paths = paths
			out = append(out, rule)
		}
	}
	return out
}

// To is the path p sent to the Service name instead.
func To(p networkingv1.HTTPIngressPath, name string) networkingv1.HTTPIngressPath {
	p = *p.DeepCopy()
	p.Backend.Service.Name = name
	return p
}
