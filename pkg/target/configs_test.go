package target

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func ref(name string) corev1.LocalObjectReference { return corev1.LocalObjectReference{Name: name} }

// everyRefKind is a pod spec that reads one config through each kind of reference.
func everyRefKind() *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Volumes: []corev1.Volume{
			{Name: "v1", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: ref("cm-volume")}}},
			{Name: "v2", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "secret-volume"}}},
			{Name: "v3", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: ref("cm-projected")}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: ref("secret-projected")}},
			}}}},
		},
		InitContainers: []corev1.Container{{
			Name:    "init",
			EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: ref("cm-init")}}},
		}},
		Containers: []corev1.Container{{
			Name:    "app",
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: ref("secret-envfrom")}}},
			Env: []corev1.EnvVar{
				{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: ref("cm-env"), Key: "a"}}},
				{Name: "B", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: ref("secret-env"), Key: "b"}}},
				{Name: "C", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
		}},
	}}
}

func TestTrackedConfigsFindsEveryKindOfReference(t *testing.T) {
	var objects []client.Object
	for _, n := range []string{"cm-volume", "cm-projected", "cm-init", "cm-env"} {
		objects = append(objects, newConfigMap(n, map[string]string{"a": n}, nil))
	}
	for _, n := range []string{"secret-volume", "secret-projected", "secret-envfrom", "secret-env"} {
		objects = append(objects, newSecret(n, map[string][]byte{"b": []byte(n)}))
	}
	d, _ := newAdapter(t, objects...)

	got, err := d.TrackedConfigs(context.Background(), ns, everyRefKind())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"configmap/cm-env", "configmap/cm-init", "configmap/cm-projected", "configmap/cm-volume",
		"secret/secret-env", "secret/secret-envfrom", "secret/secret-projected", "secret/secret-volume",
	}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, want) {
		t.Fatalf("tracked %v, want %v", keys, want)
	}
}

func TestTrackedConfigs(t *testing.T) {
	optional := func(p *corev1.PodTemplateSpec) { p.Spec.Volumes[0].ConfigMap.Optional = ptr.To(true) }
	tests := []struct {
		name    string
		objects []client.Object
		mutate  func(*corev1.PodTemplateSpec)
		// failGet makes every read of the named object fail with a server timeout.
		failGet string
		want    []string
		wantErr func(error) bool
	}{
		{
			name:    "a config annotated config-tracking disabled is not tracked",
			objects: []client.Object{optOut(newConfigMap("cm", nil, nil)), newSecret("s", nil)},
			want:    []string{"secret/s"},
		},
		{
			name: "a config annotated with Flagger's config-tracking disabled is not tracked",
			objects: []client.Object{newConfigMap("cm", nil, nil), func() client.Object {
				s := newSecret("s", nil)
				s.Annotations = map[string]string{FlaggerConfigTracking: ConfigTrackingDisabled}
				return s
			}()},
			want: []string{"configmap/cm"},
		},
		{
			name: "a service account token secret is not tracked",
			objects: []client.Object{newConfigMap("cm", nil, nil), func() client.Object {
				s := newSecret("s", nil)
				s.Type = corev1.SecretTypeServiceAccountToken
				return s
			}()},
			want: []string{"configmap/cm"},
		},
		{
			name:    "a missing optional config is skipped",
			objects: []client.Object{newSecret("s", nil)},
			mutate:  optional,
			want:    []string{"secret/s"},
		},
		{
			name:    "a missing config is an error",
			objects: []client.Object{newSecret("s", nil)},
			wantErr: apierrors.IsNotFound,
		},
		{
			name: "a config referenced once as optional and once as required is required",
			mutate: func(p *corev1.PodTemplateSpec) {
				optional(p)
				p.Spec.Containers[0].EnvFrom = append(p.Spec.Containers[0].EnvFrom,
					corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: ref("cm")}})
			},
			objects: []client.Object{newSecret("s", nil)},
			wantErr: apierrors.IsNotFound,
		},
		{
			name:    "an optional config that cannot be read is an error, not a missing config",
			objects: []client.Object{newConfigMap("cm", nil, nil), newSecret("s", nil)},
			mutate:  optional,
			failGet: "cm",
			wantErr: apierrors.IsServerTimeout,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: ref("cm")}}}},
				Containers: []corev1.Container{{
					Name:    "app",
					EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: ref("s")}}},
				}},
			}}
			if tt.mutate != nil {
				tt.mutate(tmpl)
			}
			var d *Deployment
			if tt.failGet != "" {
				d = newFailingAdapter(t, tt.failGet, apierrors.NewServerTimeout(schema.GroupResource{Resource: "configmaps"}, "get", 1), tt.objects...)
			} else {
				d, _ = newAdapter(t, tt.objects...)
			}
			got, err := d.TrackedConfigs(context.Background(), ns, tmpl)
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("error = %v, want a matching error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, tt.want) {
				t.Fatalf("tracked %v, want %v", keys, tt.want)
			}
		})
	}
}

func optOut(cm *corev1.ConfigMap) *corev1.ConfigMap {
	cm.Annotations = map[string]string{AnnotationConfigTracking: ConfigTrackingDisabled}
	return cm
}

func TestPrimaryConfigCopies(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	d, cl := newAdapter(t, objs([]client.Object{newTarget()}, defaultConfigs())...)
	if err := d.EnsurePrimary(ctx, c); err != nil {
		t.Fatal(err)
	}

	t.Run("the configmap copy carries data, binaryData, labels and the canary as owner", func(t *testing.T) {
		cm := get(t, cl, "podinfo-config-primary", &corev1.ConfigMap{})
		if cm.Data["a"] != "1" || string(cm.BinaryData["blob"]) != string([]byte{0, 1, 2}) {
			t.Fatalf("data %v binaryData %v", cm.Data, cm.BinaryData)
		}
		if cm.Labels["team"] != "a" || cm.Annotations[AnnotationCanary] != "podinfo" {
			t.Fatalf("labels %v", cm.Labels)
		}
		assertControlledByCanary(t, cm)
	})
	t.Run("the secret copy carries data and type", func(t *testing.T) {
		s := get(t, cl, "podinfo-env-primary", &corev1.Secret{})
		if string(s.Data["TOKEN"]) != "s3cr3t" || s.Type != corev1.SecretTypeOpaque {
			t.Fatalf("secret copy %+v", s)
		}
		assertControlledByCanary(t, s)
	})
	t.Run("a binaryData change reaches the copy on promotion", func(t *testing.T) {
		cm := get(t, cl, "podinfo-config", &corev1.ConfigMap{})
		cm.BinaryData["blob"] = []byte{9}
		if err := cl.Update(ctx, cm); err != nil {
			t.Fatal(err)
		}
		if err := d.Promote(ctx, c, ""); err != nil {
			t.Fatal(err)
		}
		cp := get(t, cl, "podinfo-config-primary", &corev1.ConfigMap{})
		if string(cp.BinaryData["blob"]) != string([]byte{9}) {
			t.Fatalf("binaryData of copy = %v", cp.BinaryData)
		}
	})
	t.Run("a copy that another controller owns is not overwritten", func(t *testing.T) {
		foreign := newConfigMap("podinfo-config-primary", map[string]string{"mine": "yes"}, nil)
		foreign.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Thing", Name: "x", UID: "other", Controller: ptr.To(true)}}
		d, _ := newAdapter(t, objs([]client.Object{newTarget(), foreign}, defaultConfigs())...)
		if err := d.EnsurePrimary(ctx, c); !errors.Is(err, ErrNotOwned) {
			t.Fatalf("error = %v, want ErrNotOwned", err)
		}
	})
}

func assertControlledByCanary(t *testing.T, obj metav1.Object) {
	t.Helper()
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.UID != "canary-uid" || ref.Kind != "Canary" || ref.APIVersion != "siskin.dev/v1beta1" {
		t.Fatalf("%s: controller reference %+v, want the canary", obj.GetName(), ref)
	}
}
