package target

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// flaggerOwner is the controller reference Flagger sets on what it makes for its Canary.
func flaggerOwner(name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Name: name, UID: "flagger-uid",
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

func optedIn(c *siskinv1.Canary) {
	c.Annotations = map[string]string{AnnotationAdopt: AdoptFlagger}
}

// flaggerPrimary is podinfo-primary as Flagger leaves it after promoting target: its own
// one-label selector, the selector label suffixed, a random flagger-id on the pod template,
// the tracked configs and the pod spreading pointed at the primary's copies and pods.
func flaggerPrimary(target *appsv1.Deployment) *appsv1.Deployment {
	tmpl := target.Spec.Template.DeepCopy()
	tmpl.Labels["app"] = "podinfo-primary"
	tmpl.Annotations = map[string]string{"prometheus.io/scrape": "true", FlaggerPodID: "4a1e6c1e-0d7f-4c55-9d0b-6f0a3e2b9c11"}
	spec := &tmpl.Spec
	spec.Volumes[0].ConfigMap.Name = "podinfo-config-primary"
	spec.Containers[0].EnvFrom[0].SecretRef.Name = "podinfo-env-primary"
	spec.TopologySpreadConstraints[0].LabelSelector.MatchLabels["app"] = "podinfo-primary"
	spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector.MatchExpressions[0].Values = []string{"podinfo-primary", "other"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: "podinfo-primary", Namespace: ns, Generation: 1,
			Labels:          map[string]string{"app": "podinfo-primary"},
			OwnerReferences: []metav1.OwnerReference{flaggerOwner("podinfo")},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo-primary"}},
			Template: *tmpl,
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3},
	}
}

// flaggerConfigs are Flagger's copies of defaultConfigs, with its owner reference.
func flaggerConfigs() []client.Object {
	cm := newConfigMap("podinfo-config-primary", map[string]string{"a": "1"}, map[string][]byte{"blob": {0, 1, 2}})
	s := newSecret("podinfo-env-primary", map[string][]byte{"TOKEN": []byte("s3cr3t")})
	cm.OwnerReferences = []metav1.OwnerReference{flaggerOwner("podinfo")}
	s.OwnerReferences = []metav1.OwnerReference{flaggerOwner("podinfo")}
	return []client.Object{cm, s}
}

// scaledToZero is the target as Flagger leaves it at rest.
func scaledToZero(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](0) }

func TestFlaggersPrimaryIsRefusedWithoutTheOptIn(t *testing.T) {
	primary := flaggerPrimary(newTarget())
	d, cl := newAdapter(t, objs(defaultConfigs(), flaggerConfigs(), []client.Object{newTarget(scaledToZero), primary})...)
	c := newCanary()
	a, err := d.AdoptPrimary(context.Background(), c)
	if err != nil || a.Adopted {
		t.Fatalf("AdoptPrimary without the opt-in = %+v, %v; want nothing adopted", a, err)
	}
	if err := d.Promote(context.Background(), c, ""); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("Promote over Flagger's primary = %v, want ErrNotOwned", err)
	}
	got := get(t, cl, "podinfo-primary", &appsv1.Deployment{})
	if got.Annotations[AnnotationCanary] != "" || metav1.GetControllerOf(got).APIVersion != "flagger.app/v1beta1" {
		t.Fatalf("a refused primary was changed: %+v", got.ObjectMeta)
	}
}

func TestAdoptPrimaryKeepsFlaggersPrimaryAsItRuns(t *testing.T) {
	primary := flaggerPrimary(newTarget())
	primary.Finalizers = []string{FlaggerFinalizer}
	d, cl := newAdapter(t, objs(defaultConfigs(), flaggerConfigs(), []client.Object{newTarget(scaledToZero), primary})...)
	c := newCanary(optedIn)
	a, err := d.AdoptPrimary(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Adopted || !a.Wrote || a.Target == "" || a.Revision != a.Target {
		t.Fatalf("AdoptPrimary = %+v, want the target's revision as the primary's", a)
	}
	got := get(t, cl, "podinfo-primary", &appsv1.Deployment{})
	if !equality.Semantic.DeepEqual(got.Spec, primary.Spec) || !equality.Semantic.DeepEqual(got.Labels, primary.Labels) {
		t.Fatalf("the adopted primary's spec or labels changed:\n%+v\nwant\n%+v", got.Spec, primary.Spec)
	}
	if ref := metav1.GetControllerOf(got); ref == nil || ref.UID != c.UID || len(got.OwnerReferences) != 1 {
		t.Fatalf("owner references after adoption: %+v", got.OwnerReferences)
	}
	if len(got.Finalizers) != 0 {
		t.Fatalf("Flagger's finalizer stayed: %v", got.Finalizers)
	}
	if got.Annotations[AnnotationRevision] != a.Target || got.Annotations[AnnotationAdopted] != AdoptFlagger || got.Annotations[AnnotationCanary] != "podinfo" {
		t.Fatalf("annotations after adoption: %v", got.Annotations)
	}
	for name, obj := range map[string]client.Object{"podinfo-config-primary": &corev1.ConfigMap{}, "podinfo-env-primary": &corev1.Secret{}} {
		cp := get(t, cl, name, obj)
		if ref := metav1.GetControllerOf(cp); ref == nil || ref.UID != c.UID {
			t.Fatalf("%s was not taken over: %+v", name, cp.GetOwnerReferences())
		}
	}
	target, primaryW, err := d.Observe(context.Background(), c)
	if err != nil || primaryW.Fingerprint != target.Fingerprint {
		t.Fatalf("after adoption the primary runs %q, the target %q (%v)", primaryW.Fingerprint, target.Fingerprint, err)
	}

	again, err := d.AdoptPrimary(context.Background(), c)
	if a.Wrote = false; err != nil || again != a {
		t.Fatalf("a second AdoptPrimary = %+v, %v; want %+v", again, err, a)
	}
	if after := get(t, cl, "podinfo-primary", &appsv1.Deployment{}); after.ResourceVersion != got.ResourceVersion {
		t.Fatal("a second AdoptPrimary wrote the primary")
	}
}

func TestAdoptPrimaryOfARolloutInFlightKeepsThePrimarysRevision(t *testing.T) {
	tests := []struct {
		name    string
		target  func(*appsv1.Deployment)
		configs []client.Object
	}{
		{
			name: "the target runs a new image",
			target: func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.Containers[0].Image = "ghcr.io/stefanprodan/podinfo:6.0.1"
			},
			configs: defaultConfigs(),
		},
		{
			name:   "the target reads a changed config",
			target: func(*appsv1.Deployment) {},
			configs: []client.Object{
				newConfigMap("podinfo-config", map[string]string{"a": "2"}, map[string][]byte{"blob": {0, 1, 2}}),
				newSecret("podinfo-env", map[string][]byte{"TOKEN": []byte("s3cr3t")}),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			primary := flaggerPrimary(newTarget())
			d, cl := newAdapter(t, objs(tt.configs, flaggerConfigs(), []client.Object{newTarget(tt.target), primary})...)
			c := newCanary(optedIn)
			a, err := d.AdoptPrimary(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if !a.Adopted || a.Revision == "" || a.Revision == a.Target {
				t.Fatalf("AdoptPrimary = %+v, want a primary revision of its own", a)
			}
			got := get(t, cl, "podinfo-primary", &appsv1.Deployment{})
			if !equality.Semantic.DeepEqual(got.Spec, primary.Spec) {
				t.Fatalf("the adopted primary's spec changed")
			}
			cm := get(t, cl, "podinfo-config-primary", &corev1.ConfigMap{})
			if cm.Data["a"] != "1" || metav1.GetControllerOf(cm).UID != "flagger-uid" {
				t.Fatalf("the primary's config copy was changed before any analysis: %+v", cm)
			}
		})
	}
}

func TestAdoptPrimaryLeavesOtherPrimariesAlone(t *testing.T) {
	other := flaggerPrimary(newTarget())
	other.OwnerReferences = []metav1.OwnerReference{flaggerOwner("another")}
	d, cl := newAdapter(t, objs(defaultConfigs(), []client.Object{newTarget(), other})...)
	a, err := d.AdoptPrimary(context.Background(), newCanary(optedIn))
	if err != nil || a.Adopted {
		t.Fatalf("AdoptPrimary of another Flagger Canary's primary = %+v, %v", a, err)
	}
	if err := d.EnsurePrimary(context.Background(), newCanary(optedIn)); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("EnsurePrimary over another Canary's primary = %v, want ErrNotOwned", err)
	}
	if got := get(t, cl, "podinfo-primary", &appsv1.Deployment{}); metav1.GetControllerOf(got).Name != "another" || got.Annotations[AnnotationCanary] != "" {
		t.Fatalf("another Canary's primary was changed: %+v", got.OwnerReferences)
	}
}

func TestFlaggersAutoscalerIsTakenOverOnlyWithTheOptIn(t *testing.T) {
	hpa := newHPA("podinfo-primary", "podinfo-primary", 2, 4)
	hpa.OwnerReferences = []metav1.OwnerReference{flaggerOwner("podinfo")}
	d, cl := newAdapter(t, newTarget(), newHPA("podinfo", "podinfo", 2, 4), hpa)
	if err := d.SyncPrimaryHPA(context.Background(), newCanary(withHPA(nil, nil))); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("SyncPrimaryHPA without the opt-in = %v, want ErrNotOwned", err)
	}
	c := newCanary(withHPA(nil, nil), optedIn)
	if err := d.SyncPrimaryHPA(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	got := get(t, cl, "podinfo-primary", hpa.DeepCopy())
	if ref := metav1.GetControllerOf(got); ref == nil || ref.UID != c.UID || len(got.OwnerReferences) != 1 {
		t.Fatalf("owner references after the take-over: %+v", got.OwnerReferences)
	}
}

func TestMarkAdoption(t *testing.T) {
	d, _ := newAdapter(t)
	d.AdoptFlaggerIn([]string{ns})
	c := newCanary()
	d.MarkAdoption(c)
	if !AdoptsFlagger(c) {
		t.Fatal("a Canary of an adopting namespace does not adopt")
	}
	out := newCanary(func(c *siskinv1.Canary) { c.Annotations = map[string]string{AnnotationAdopt: "none"} })
	d.MarkAdoption(out)
	if AdoptsFlagger(out) {
		t.Fatal("a Canary that opted out adopts")
	}
	elsewhere := newCanary(func(c *siskinv1.Canary) { c.Namespace = "other" })
	d.MarkAdoption(elsewhere)
	if AdoptsFlagger(elsewhere) {
		t.Fatal("a Canary of another namespace adopts")
	}
	d.AdoptFlaggerIn([]string{"*"})
	d.MarkAdoption(elsewhere)
	if !AdoptsFlagger(elsewhere) {
		t.Fatal("* does not cover every namespace")
	}
}

// Flagger selects the primary's pods by the one label <app>-primary, whatever else the
// target's selector holds; Siskin would copy the whole selector. A Deployment's selector is
// immutable, so the adopted primary keeps Flagger's, and every promotion's pod template must
// still match it.
func TestPromoteKeepsTheSelectorOfAnAdoptedPrimary(t *testing.T) {
	twoLabels := func(d *appsv1.Deployment) {
		d.Spec.Selector.MatchLabels["tier"] = "web"
		d.Spec.Template.Labels["tier"] = "web"
	}
	primary := flaggerPrimary(newTarget(twoLabels))
	d, cl := newAdapter(t, objs(defaultConfigs(), flaggerConfigs(), []client.Object{newTarget(twoLabels, scaledToZero), primary})...)
	c := newCanary(optedIn)
	if _, err := d.AdoptPrimary(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	updateTarget(t, cl, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "ghcr.io/stefanprodan/podinfo:6.0.1"
	})
	if err := d.Promote(context.Background(), c, ""); err != nil {
		t.Fatal(err)
	}
	got := get(t, cl, "podinfo-primary", &appsv1.Deployment{})
	if !equality.Semantic.DeepEqual(got.Spec.Selector, primary.Spec.Selector) {
		t.Fatalf("selector after promotion %v, want Flagger's %v", got.Spec.Selector, primary.Spec.Selector)
	}
	sel, err := metav1.LabelSelectorAsSelector(got.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(got.Spec.Template.Labels)) || got.Spec.Template.Labels["tier"] != "web" {
		t.Fatalf("promoted pod template labels %v do not match the selector %v", got.Spec.Template.Labels, sel)
	}
	if image := got.Spec.Template.Spec.Containers[0].Image; image != "ghcr.io/stefanprodan/podinfo:6.0.1" {
		t.Fatalf("primary runs %s after the promotion", image)
	}
}

// Flagger run with -selector-labels=name picks another label than Siskin's default order does:
// the primary's immutable selector would not select the pods Siskin promotes.
func TestAdoptPrimaryRefusesAPrimaryItsPromotionsWouldNotMatch(t *testing.T) {
	byName := func(d *appsv1.Deployment) {
		d.Spec.Selector.MatchLabels["name"] = "podinfo"
		d.Spec.Template.Labels["name"] = "podinfo"
	}
	primary := flaggerPrimary(newTarget(byName))
	primary.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"name": "podinfo-primary"}}
	primary.Spec.Template.Labels = map[string]string{"app": "podinfo", "name": "podinfo-primary", "version": "v1"}
	d, cl := newAdapter(t, objs(defaultConfigs(), flaggerConfigs(), []client.Object{newTarget(byName, scaledToZero), primary})...)
	_, err := d.AdoptPrimary(context.Background(), newCanary(optedIn))
	if !errors.Is(err, ErrNotOwned) || !strings.Contains(err.Error(), "selector-labels") {
		t.Fatalf("AdoptPrimary = %v, want ErrNotOwned naming the selector labels", err)
	}
	if got := get(t, cl, "podinfo-primary", &appsv1.Deployment{}); metav1.GetControllerOf(got).UID != "flagger-uid" {
		t.Fatalf("a refused primary was taken over: %+v", got.OwnerReferences)
	}
}
