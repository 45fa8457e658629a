package controller

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/siskin-dev/siskin/pkg/target"
)

// annotationLastApplied is kubectl's copy of the whole object as last applied.
const annotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// TrimForCache is the informer cache's transform: it drops what the controller never reads
// before an object is stored, which is most of the memory of a large fleet. Gone are managed
// fields, kubectl's last-applied copy of the object, and the data of Secrets that cannot be
// tracked configs (service-account and bootstrap tokens, Helm release records). The controller
// writes only with patches computed against cached objects, so nothing dropped here is ever
// written back as missing.
func TrimForCache(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a != nil {
			if _, ok := a[annotationLastApplied]; ok {
				delete(a, annotationLastApplied)
				m.SetAnnotations(a)
			}
		}
	}
	if s, ok := obj.(*corev1.Secret); ok && !target.Tracked(s.Type) {
		s.Data, s.StringData = nil, nil
	}
	return obj, nil
}
