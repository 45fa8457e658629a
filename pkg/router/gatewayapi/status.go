package gatewayapi

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// parentsMessage returns why a parent of rt has not taken its current generation, or "" when
// every parentRef has accepted it (and resolved its backends, where it says so).
func parentsMessage(rt *gatewayv1.HTTPRoute) string {
	for _, p := range rt.Spec.ParentRefs {
		if msg := parentMessage(rt, p); msg != "" {
			return msg
		}
	}
	return ""
}

func parentMessage(rt *gatewayv1.HTTPRoute, p gatewayv1.ParentReference) string {
	name := parentName(rt, p)
	var accepted, stale *metav1.Condition
	var refused, unresolved *metav1.Condition
	reported := false
	for _, s := range rt.Status.Parents {
		if !sameParent(rt.Namespace, p, s.ParentRef) {
			continue
		}
		reported = true
		c := meta.FindStatusCondition(s.Conditions, string(gatewayv1.RouteConditionAccepted))
		switch {
		case c == nil:
		case c.ObservedGeneration != rt.Generation:
			stale = c
		case c.Status == metav1.ConditionTrue:
			accepted = c
			r := meta.FindStatusCondition(s.Conditions, string(gatewayv1.RouteConditionResolvedRefs))
			if r != nil && r.ObservedGeneration == rt.Generation && r.Status == metav1.ConditionFalse {
				unresolved = r
			}
		default:
			refused = c
		}
	}
	switch {
	case accepted != nil && unresolved != nil:
		return fmt.Sprintf("%s cannot resolve the backends of HTTPRoute %s/%s: %s: %s", name, rt.Namespace, rt.Name, unresolved.Reason, unresolved.Message)
	case accepted != nil:
		return ""
	case refused != nil:
		return fmt.Sprintf("%s has not accepted HTTPRoute %s/%s: %s: %s", name, rt.Namespace, rt.Name, refused.Reason, refused.Message)
	case stale != nil:
		return fmt.Sprintf("%s has not accepted generation %d of HTTPRoute %s/%s yet (last accepted %d)",
			name, rt.Generation, rt.Namespace, rt.Name, stale.ObservedGeneration)
	case reported:
		return fmt.Sprintf("%s reports no Accepted condition for HTTPRoute %s/%s", name, rt.Namespace, rt.Name)
	}
	return fmt.Sprintf("%s has not reported on HTTPRoute %s/%s yet", name, rt.Namespace, rt.Name)
}

// parentName is "<Kind> <namespace>/<name>[/<section>]" for messages.
func parentName(rt *gatewayv1.HTTPRoute, p gatewayv1.ParentReference) string {
	s := fmt.Sprintf("parent %s %s/%s", ptr.Deref(p.Kind, "Gateway"), ptr.Deref(p.Namespace, gatewayv1.Namespace(rt.Namespace)), p.Name)
	if p.SectionName != nil {
		s += "/" + string(*p.SectionName)
	}
	if p.Port != nil {
		s += fmt.Sprintf(":%d", *p.Port)
	}
	return s
}

// sameParent compares parent references with their defaults applied.
func sameParent(routeNamespace string, a, b gatewayv1.ParentReference) bool {
	ns := gatewayv1.Namespace(routeNamespace)
	return ptr.Deref(a.Group, gatewayv1.GroupName) == ptr.Deref(b.Group, gatewayv1.GroupName) &&
		ptr.Deref(a.Kind, "Gateway") == ptr.Deref(b.Kind, "Gateway") &&
		ptr.Deref(a.Namespace, ns) == ptr.Deref(b.Namespace, ns) &&
		a.Name == b.Name &&
		ptr.Deref(a.SectionName, "") == ptr.Deref(b.SectionName, "") &&
		ptr.Deref(a.Port, 0) == ptr.Deref(b.Port, 0)
}
