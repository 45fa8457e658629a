package target

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestMemoFingerprint(t *testing.T) {
	dep := func(gen int64, image string) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "podinfo", UID: "u1", Generation: gen, ResourceVersion: "7"}}
		d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: image}}
		return d
	}
	want := func(d *appsv1.Deployment, configs map[string]string) string {
		fp, err := Fingerprint(d.Spec.Template, configs)
		if err != nil {
			t.Fatal(err)
		}
		return fp
	}
	var m memo
	v1 := dep(1, "podinfo:1.0")
	got, err := m.fingerprint(v1, nil)
	if err != nil || got != want(v1, nil) {
		t.Fatalf("first fingerprint = %q, %v; want %q", got, err, want(v1, nil))
	}
	// Same generation: the memo answers without looking at the template again (a changed
	// template under the same generation cannot happen on a real API server).
	if got, _ := m.fingerprint(dep(1, "podinfo:other"), nil); got != want(v1, nil) {
		t.Fatalf("same generation: fingerprint %q was recomputed", got)
	}
	v2 := dep(2, "podinfo:2.0")
	if got, _ := m.fingerprint(v2, nil); got != want(v2, nil) {
		t.Fatalf("new generation: fingerprint %q, want %q", got, want(v2, nil))
	}
	configs := map[string]string{"configmap/settings": "abc"}
	if got, _ := m.fingerprint(v2, configs); got != want(v2, configs) {
		t.Fatalf("new config checksum: fingerprint %q, want %q", got, want(v2, configs))
	}
	noGen := dep(0, "podinfo:3.0")
	if got, _ := m.fingerprint(noGen, nil); got != want(noGen, nil) {
		t.Fatalf("no generation: fingerprint %q, want %q", got, want(noGen, nil))
	}
	noGen.ResourceVersion = "8"
	noGen.Spec.Template.Spec.Containers[0].Image = "podinfo:3.1"
	if got, _ := m.fingerprint(noGen, nil); got != want(noGen, nil) {
		t.Fatalf("no generation, new resourceVersion: fingerprint %q, want %q", got, want(noGen, nil))
	}
}

func TestMemoChecksum(t *testing.T) {
	var m memo
	calls := 0
	sum := func(s string) func() (string, error) {
		return func() (string, error) { calls++; return s, nil }
	}
	key := configKey{kindConfigMap, "ns", "settings"}
	for i, tc := range []struct {
		uid, rv, sum, want string
		calls              int
	}{
		{"u1", "10", "a", "a", 1},
		{"u1", "10", "b", "a", 1}, // same version: memoized
		{"u1", "11", "b", "b", 2}, // changed
		{"u2", "11", "c", "c", 3}, // recreated with another UID
		{"u2", "", "d", "d", 4},   // no version: never memoized
		{"u2", "", "e", "e", 5},
	} {
		got, err := m.checksum(key, types.UID(tc.uid), tc.rv, sum(tc.sum))
		if err != nil || got != tc.want || calls != tc.calls {
			t.Fatalf("case %d: checksum = %q, %v after %d computations; want %q after %d", i, got, err, calls, tc.want, tc.calls)
		}
	}
}
