package target

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Config kinds, as they appear in tracked-config keys ("configmap/<name>", "secret/<name>").
const (
	kindConfigMap = "configmap"
	kindSecret    = "secret"
)

// untrackedSecretTypes are Secrets that belong to the cluster rather than to the application;
// copying them would hand a token to an object nobody rotates.
// Helm's release records are Secrets too, large ones, and no pod reads them.
var untrackedSecretTypes = map[corev1.SecretType]bool{
	corev1.SecretTypeServiceAccountToken: true,
	corev1.SecretTypeBootstrapToken:      true,
	"helm.sh/release.v1":                 true,
}

// Tracked reports whether Secrets of type t can be tracked configs: the controller needs
// their data.
func Tracked(t corev1.SecretType) bool { return !untrackedSecretTypes[t] }

type configRef struct {
	kind string
	name string
}

func (r configRef) key() string { return r.kind + "/" + r.name }

// trackedConfig is a config the target reads and Siskin copies for the primary.
type trackedConfig struct {
	ref       configRef
	checksum  string
	configMap *corev1.ConfigMap
	secret    *corev1.Secret
}

// visitConfigRefs calls fn for every ConfigMap and Secret reference of a pod spec: volumes,
// projected volumes, env valueFrom and envFrom of containers and init containers. fn may change
// the name.
func visitConfigRefs(spec *corev1.PodSpec, fn func(kind string, name *string, optional *bool)) {
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		if v.ConfigMap != nil {
			fn(kindConfigMap, &v.ConfigMap.Name, v.ConfigMap.Optional)
		}
		if v.Secret != nil {
			fn(kindSecret, &v.Secret.SecretName, v.Secret.Optional)
		}
		if v.Projected != nil {
			for j := range v.Projected.Sources {
				s := &v.Projected.Sources[j]
				if s.ConfigMap != nil {
					fn(kindConfigMap, &s.ConfigMap.Name, s.ConfigMap.Optional)
				}
				if s.Secret != nil {
					fn(kindSecret, &s.Secret.Name, s.Secret.Optional)
				}
			}
		}
	}
	visit := func(containers []corev1.Container) {
		for i := range containers {
			c := &containers[i]
			for j := range c.EnvFrom {
				e := &c.EnvFrom[j]
				if e.ConfigMapRef != nil {
					fn(kindConfigMap, &e.ConfigMapRef.Name, e.ConfigMapRef.Optional)
				}
				if e.SecretRef != nil {
					fn(kindSecret, &e.SecretRef.Name, e.SecretRef.Optional)
				}
			}
			for j := range c.Env {
				from := c.Env[j].ValueFrom
				if from == nil {
					continue
				}
				if from.ConfigMapKeyRef != nil {
					fn(kindConfigMap, &from.ConfigMapKeyRef.Name, from.ConfigMapKeyRef.Optional)
				}
				if from.SecretKeyRef != nil {
					fn(kindSecret, &from.SecretKeyRef.Name, from.SecretKeyRef.Optional)
				}
			}
		}
	}
	visit(spec.InitContainers)
	visit(spec.Containers)
}

// configRefs returns the configs a pod spec references, each with whether every reference to
// it is optional.
func configRefs(spec *corev1.PodSpec) map[configRef]bool {
	refs := map[configRef]bool{}
	visitConfigRefs(spec, func(kind string, name *string, optional *bool) {
		if *name == "" {
			return
		}
		r := configRef{kind: kind, name: *name}
		opt := ptr.Deref(optional, false)
		if prev, seen := refs[r]; seen {
			opt = prev && opt
		}
		refs[r] = opt
	})
	return refs
}

// TrackedConfigs returns the checksums of the ConfigMaps and Secrets a pod template reads,
// keyed "configmap/<name>" and "secret/<name>". Objects annotated with
// AnnotationConfigTracking (or Flagger's FlaggerConfigTracking): disabled are left out, and so is a missing object whose every
// reference is optional. Any other read error is returned: a config that could not be read
// must not look like a config that changed.
func (d *Deployment) TrackedConfigs(ctx context.Context, namespace string, tmpl *corev1.PodTemplateSpec) (map[string]string, error) {
	tracked, err := d.trackConfigs(ctx, namespace, &tmpl.Spec, false)
	if err != nil {
		return nil, err
	}
	return checksums(tracked), nil
}

// presentConfigs is TrackedConfigs for a template whose required config is missing: the
// checksums of the configs that exist, with every missing one left out.
func (d *Deployment) presentConfigs(ctx context.Context, namespace string, tmpl *corev1.PodTemplateSpec) (map[string]string, error) {
	tracked, err := d.trackConfigs(ctx, namespace, &tmpl.Spec, true)
	if err != nil {
		return nil, err
	}
	return checksums(tracked), nil
}

func checksums(tracked []trackedConfig) map[string]string {
	out := make(map[string]string, len(tracked))
	for _, t := range tracked {
		out[t.ref.key()] = t.checksum
	}
	return out
}

func (d *Deployment) trackConfigs(ctx context.Context, namespace string, spec *corev1.PodSpec, skipMissing bool) ([]trackedConfig, error) {
	refs := configRefs(spec)
	sorted := make([]configRef, 0, len(refs))
	for r := range refs {
		sorted = append(sorted, r)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].key() < sorted[j].key() })

	var out []trackedConfig
	for _, r := range sorted {
		t, err := d.trackConfig(ctx, namespace, r)
		switch {
		case apierrors.IsNotFound(err) && (refs[r] || skipMissing):
			continue
		case err != nil:
			return nil, err
		case t != nil:
			out = append(out, *t)
		}
	}
	return out, nil
}

// FlaggerConfigTracking is Flagger's key for AnnotationConfigTracking. Configs that opted out
// of Flagger's tracking stay out of Siskin's, so that a migration does not turn their changes
// into new revisions.
const FlaggerConfigTracking = "flagger.app/config-tracking"

// trackingDisabled reports whether a config's annotations opt it out of tracking, with
// Siskin's key or Flagger's.
func trackingDisabled(a map[string]string) bool {
	return a[AnnotationConfigTracking] == ConfigTrackingDisabled || a[FlaggerConfigTracking] == ConfigTrackingDisabled
}

// trackConfig reads one config; it returns nil when the config is not tracked.
func (d *Deployment) trackConfig(ctx context.Context, namespace string, r configRef) (*trackedConfig, error) {
	key := client.ObjectKey{Namespace: namespace, Name: r.name}
	if r.kind == kindConfigMap {
		cm := &corev1.ConfigMap{}
		if err := d.reader.Get(ctx, key, cm); err != nil {
			return nil, fmt.Errorf("get configmap %s: %w", key, err)
		}
		if trackingDisabled(cm.Annotations) {
			return nil, nil
		}
		sum, err := d.memo.checksum(configKey{kindConfigMap, namespace, r.name}, cm.UID, cm.ResourceVersion, func() (string, error) { return configMapChecksum(cm) })
		if err != nil {
			return nil, fmt.Errorf("checksum configmap %s: %w", key, err)
		}
		return &trackedConfig{ref: r, checksum: sum, configMap: cm}, nil
	}
	s := &corev1.Secret{}
	if err := d.reader.Get(ctx, key, s); err != nil {
		return nil, fmt.Errorf("get secret %s: %w", key, err)
	}
	if trackingDisabled(s.Annotations) || untrackedSecretTypes[s.Type] {
		return nil, nil
	}
	sum, err := d.memo.checksum(configKey{kindSecret, namespace, r.name}, s.UID, s.ResourceVersion, func() (string, error) { return secretChecksum(s) })
	if err != nil {
		return nil, fmt.Errorf("checksum secret %s: %w", key, err)
	}
	return &trackedConfig{ref: r, checksum: sum, secret: s}, nil
}

// rewriteConfigRefs points every reference to a tracked config at its primary copy.
func rewriteConfigRefs(spec *corev1.PodSpec, tracked []trackedConfig) {
	names := make(map[configRef]bool, len(tracked))
	for _, t := range tracked {
		names[t.ref] = true
	}
	visitConfigRefs(spec, func(kind string, name *string, _ *bool) {
		if names[configRef{kind: kind, name: *name}] {
			*name = PrimaryName(*name)
		}
	})
}

// configsChecksum sums the checksums of all tracked configs, for the primary's pod template.
func configsChecksum(tracked []trackedConfig) (string, error) {
	if len(tracked) == 0 {
		return "", nil
	}
	return checksum(checksums(tracked))
}

// ensureConfigCopies creates or updates <name>-primary for every tracked config. A copy that
// already matches is not written.
func (d *Deployment) ensureConfigCopies(ctx context.Context, c *siskinv1.Canary, tracked []trackedConfig) error {
	for _, t := range tracked {
		var err error
		if t.configMap != nil {
			err = d.ensureConfigMapCopy(ctx, c, t.configMap)
		} else {
			err = d.ensureSecretCopy(ctx, c, t.secret)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func copyMeta(c *siskinv1.Canary, srcLabels, srcAnnotations map[string]string) (labels, annotations map[string]string) {
	annotations = copyableMetadata(srcAnnotations)
	annotations[AnnotationCanary] = c.Name
	return copyableMetadata(srcLabels), annotations
}

func (d *Deployment) ensureConfigMapCopy(ctx context.Context, c *siskinv1.Canary, src *corev1.ConfigMap) error {
	key := client.ObjectKey{Namespace: src.Namespace, Name: PrimaryName(src.Name)}
	labels, annotations := copyMeta(c, src.Labels, src.Annotations)
	cur := &corev1.ConfigMap{}
	err := d.reader.Get(ctx, key, cur)
	if apierrors.IsNotFound(err) {
		cp := &corev1.ConfigMap{Data: src.Data, BinaryData: src.BinaryData}
		cp.Name, cp.Namespace = key.Name, key.Namespace
		cp.Labels, cp.Annotations = labels, annotations
		cp.OwnerReferences = append(cp.OwnerReferences, ownerRef(c))
		if err := d.client.Create(ctx, cp); err != nil {
			return fmt.Errorf("create configmap %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get configmap %s: %w", key, err)
	}
	want := cur.DeepCopy()
	if err := claim(want, c, "configmap"); err != nil {
		return err
	}
	want.Data, want.BinaryData = src.Data, src.BinaryData
	want.Labels, want.Annotations = labels, annotations
	if equality.Semantic.DeepEqual(cur, want) {
		return nil
	}
	if err := d.client.Patch(ctx, want, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch configmap %s: %w", key, err)
	}
	return nil
}

func (d *Deployment) ensureSecretCopy(ctx context.Context, c *siskinv1.Canary, src *corev1.Secret) error {
	key := client.ObjectKey{Namespace: src.Namespace, Name: PrimaryName(src.Name)}
	labels, annotations := copyMeta(c, src.Labels, src.Annotations)
	cur := &corev1.Secret{}
	err := d.reader.Get(ctx, key, cur)
	if apierrors.IsNotFound(err) {
		cp := &corev1.Secret{Type: src.Type, Data: src.Data}
		cp.Name, cp.Namespace = key.Name, key.Namespace
		cp.Labels, cp.Annotations = labels, annotations
		cp.OwnerReferences = append(cp.OwnerReferences, ownerRef(c))
		if err := d.client.Create(ctx, cp); err != nil {
			return fmt.Errorf("create secret %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get secret %s: %w", key, err)
	}
	want := cur.DeepCopy()
	if err := claim(want, c, "secret"); err != nil {
		return err
	}
	if secretType(cur.Type) != secretType(src.Type) {
		return fmt.Errorf("secret %s has type %s but its source has type %s; delete the copy to recreate it",
			key, cur.Type, src.Type)
	}
	want.Data = src.Data
	want.Labels, want.Annotations = labels, annotations
	if equality.Semantic.DeepEqual(cur, want) {
		return nil
	}
	if err := d.client.Patch(ctx, want, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch secret %s: %w", key, err)
	}
	return nil
}

// secretType is t with the API server's default applied.
func secretType(t corev1.SecretType) corev1.SecretType {
	if t == "" {
		return corev1.SecretTypeOpaque
	}
	return t
}
