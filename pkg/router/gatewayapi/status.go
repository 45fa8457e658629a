package gatewayapi

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// parentsMessage returns why a parent of route rt of kind k has not taken its current
// generation, or "" when every parentRef has accepted it (and resolved its backends, where it
// says so).
func parentsMessage(k kind, rt client.Object) string {
	refs, statuses := k.parentsOf(rt)
	for _, p := range refs {
		if msg := parentMessage(k.name(), rt, p, statuses); msg != "" {
			return msg
		}
	}
	return ""
}

func parentMessage(kind string, rt client.Object, p gatewayv1.ParentReference, statuses []gatewayv1.RouteParentStatus) string {
	name := parentName(rt, p)
	route := fmt.Sprintf("%s %s/%s", kind, rt.GetNamespace(), rt.GetName())
	generation := rt.GetGeneration()
	var accepted, stale *metav1.Condition
	var refused, unresolved *metav1.Condition
	reported := false
	for _, s := range statuses {
		if !sameParent(rt.GetNamespace(), p, s.ParentRef) {
			continue
		}
		reported = true
		c := meta.FindStatusCondition(s.Conditions, string(gatewayv1.RouteConditionAccepted))
		switch {
		case c == nil:
		case c.ObservedGeneration != generation:
			stale = c
		case c.Status == metav1.ConditionTrue:
			accepted = c
			r := meta.FindStatusCondition(s.Conditions, string(gatewayv1.RouteConditionResolvedRefs))
			if r != nil && r.ObservedGeneration == generation && r.Status == metav1.ConditionFalse {
				unresolved = r
			}
		default:
			refused = c
		}
	}
	switch {
	case accepted != nil && unresolved != nil:
		return fmt.Sprintf("%s cannot resolve the backends of %s: %s: %s", name, route, unresolved.Reason, unresolved.Message)
	case accepted != nil:
		return ""
	case refused != nil:
		return fmt.Sprintf("%s has not accepted %s: %s: %s", name, route, refused.Reason, refused.Message)
	case stale != nil:
		return fmt.Sprintf("%s has not accepted generation %d of %s yet (last accepted %d)",
			name, generation, route, stale.ObservedGeneration)
	case reported:
		return fmt.Sprintf("%s reports no Accepted condition for %s", name, route)
	}
	return fmt.Sprintf("%s has not reported on %s yet", name, route)
}

// parentName is "<Kind> <namespace>/<name>[/<section>]" for messages.
func parentName(rt client.Object, p gatewayv1.ParentReference) string {
	s := fmt.Sprintf("parent %s %s/%s", ptr.Deref(p.Kind, "Gateway"), ptr.Deref(p.Namespace, gatewayv1.Namespace(rt.GetNamespace())), p.Name)
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
