package target

import (
	"context"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// newDaemonSetAdapter returns a DaemonSet adapter whose reader and writer are the same fake
// client.
func newDaemonSetAdapter(t *testing.T, objs ...client.Object) (*DaemonSet, client.Client) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build()
	return NewDaemonSet(c, c, nil), c
}

// newTargetDaemonSet is a DaemonSet with newTarget's pod template (configs, spread, affinity)
// and a node selector of its own, running on four nodes.
func newTargetDaemonSet(mods ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	dep := newTarget()
	ds := &appsv1.DaemonSet{
		ObjectMeta: dep.ObjectMeta,
		Spec: appsv1.DaemonSetSpec{
			Selector:             dep.Spec.Selector,
			Template:             dep.Spec.Template,
			MinReadySeconds:      5,
			RevisionHistoryLimit: ptr.To[int32](4),
			UpdateStrategy:       appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
		},
		Status: appsv1.DaemonSetStatus{
			ObservedGeneration: 1, DesiredNumberScheduled: 4, CurrentNumberScheduled: 4,
			UpdatedNumberScheduled: 4, NumberReady: 4, NumberAvailable: 4,
		},
	}
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	for _, m := range mods {
		m(ds)
	}
	return ds
}

func daemonSetCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	c := newCanary(mods...)
	c.Spec.TargetRef.Kind = KindDaemonSet
	return c
}

func atRestDaemonSet(ds *appsv1.DaemonSet) {
	ds.Spec.Template.Spec.NodeSelector[ScaleToZeroKey] = ScaleToZeroValue
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: 1}
}

func TestDaemonSetPrimaryIsAClonePointedAtItsOwnPodsAndConfigCopies(t *testing.T) {
	d, cl := newDaemonSetAdapter(t, objs(defaultConfigs(), []client.Object{newTargetDaemonSet(atRestDaemonSet)})...)
	ctx := context.Background()
	c := daemonSetCanary()
	if err := d.EnsurePrimary(ctx, c); err != nil {
		t.Fatal(err)
	}
	p := get(t, cl, "podinfo-primary", &appsv1.DaemonSet{})
	if got := p.Spec.Selector.MatchLabels["app"]; got != "podinfo-primary" {
		t.Errorf("primary selector app=%s, want podinfo-primary", got)
	}
	tmpl := p.Spec.Template
	if tmpl.Labels["app"] != "podinfo-primary" || tmpl.Labels["version"] != "v1" {
		t.Errorf("primary pod labels %v, want app=podinfo-primary and the target's others", tmpl.Labels)
	}
	if _, ok := tmpl.Spec.NodeSelector[ScaleToZeroKey]; ok || tmpl.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("primary node selector %v, want the target's own without %s", tmpl.Spec.NodeSelector, ScaleToZeroKey)
	}
	if got := tmpl.Spec.Volumes[0].ConfigMap.Name; got != "podinfo-config-primary" {
		t.Errorf("primary reads configmap %s, want podinfo-config-primary", got)
	}
	if got := tmpl.Spec.Containers[0].EnvFrom[0].SecretRef.Name; got != "podinfo-env-primary" {
		t.Errorf("primary reads secret %s, want podinfo-env-primary", got)
	}
	if got := tmpl.Spec.TopologySpreadConstraints[0].LabelSelector.MatchLabels["app"]; got != "podinfo-primary" {
		t.Errorf("primary spreads over app=%s, want podinfo-primary", got)
	}
	if p.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType || p.Spec.MinReadySeconds != 5 {
		t.Errorf("primary update strategy %v, minReadySeconds %d: want the target's", p.Spec.UpdateStrategy.Type, p.Spec.MinReadySeconds)
	}
	if !metav1.IsControlledBy(p, c) || p.Annotations[AnnotationCanary] != c.Name {
		t.Errorf("primary owners %v, annotations %v: want the canary", p.OwnerReferences, p.Annotations)
	}
	get(t, cl, "podinfo-config-primary", &corev1.ConfigMap{})
	get(t, cl, "podinfo-env-primary", &corev1.Secret{})

	tgt, _, err := d.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if p.Annotations[AnnotationRevision] != tgt.Fingerprint || tgt.Fingerprint == "" {
		t.Errorf("primary revision %q, target fingerprint %q: want the same", p.Annotations[AnnotationRevision], tgt.Fingerprint)
	}
}

func TestDaemonSetScalesToZeroByANodeSelectorThatIsNoPartOfTheRevision(t *testing.T) {
	d, cl := newDaemonSetAdapter(t, objs(defaultConfigs(), []client.Object{newTargetDaemonSet()})...)
	ctx := context.Background()
	c := daemonSetCanary()
	up, _, err := d.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !up.Ready || up.Replicas != 4 || up.Available != 4 {
		t.Fatalf("running target = %+v, want ready with 4 pods", up)
	}

	if err := d.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	ds := get(t, cl, "podinfo", &appsv1.DaemonSet{})
	if ds.Spec.Template.Spec.NodeSelector[ScaleToZeroKey] != ScaleToZeroValue || ds.Spec.Template.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Fatalf("node selector after ScaleDown = %v, want %s=%s beside the target's own", ds.Spec.Template.Spec.NodeSelector, ScaleToZeroKey, ScaleToZeroValue)
	}
	down, _, err := d.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if down.Ready || down.Replicas != 0 || down.Available != 0 {
		t.Errorf("target at rest = %+v, want not ready with 0 replicas", down)
	}
	if down.Fingerprint != up.Fingerprint {
		t.Errorf("fingerprint %s at rest, %s running: scaling must not make a revision", down.Fingerprint, up.Fingerprint)
	}

	if err := d.ScaleUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	ds = get(t, cl, "podinfo", &appsv1.DaemonSet{})
	if _, ok := ds.Spec.Template.Spec.NodeSelector[ScaleToZeroKey]; ok || ds.Spec.Template.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("node selector after ScaleUp = %v, want the target's own only", ds.Spec.Template.Spec.NodeSelector)
	}
}

func TestDaemonSetReadinessAppliesTheReadyThresholds(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     appsv1.DaemonSetStatus
		generation int64
		threshold  *int32
		ready      bool
	}{
		{"every updated pod available", appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberAvailable: 4}, 1, nil, true},
		{"one of four unavailable at the default 100%", appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberAvailable: 3}, 1, nil, false},
		{"one of four unavailable at 75%", appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberAvailable: 3}, 1, ptr.To[int32](75), true},
		{"a node not updated yet", appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 4, UpdatedNumberScheduled: 3, NumberAvailable: 4}, 1, ptr.To[int32](50), false},
		{"a generation not observed yet", appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberAvailable: 4}, 2, nil, false},
		{"no node to run on", appsv1.DaemonSetStatus{ObservedGeneration: 1}, 1, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := newTargetDaemonSet(func(ds *appsv1.DaemonSet) { ds.Status, ds.Generation = tc.status, tc.generation })
			d, _ := newDaemonSetAdapter(t, objs(defaultConfigs(), []client.Object{ds})...)
			c := daemonSetCanary(func(c *siskinv1.Canary) { c.Spec.Analysis.CanaryReadyThreshold = tc.threshold })
			tgt, _, err := d.Observe(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if tgt.Ready != tc.ready || (!tc.ready && tgt.Message == "") {
				t.Errorf("Ready = %v (%q), want %v", tgt.Ready, tgt.Message, tc.ready)
			}
		})
	}
}

func TestDaemonSetPromoteCopiesOnlyTheAnalysedRevision(t *testing.T) {
	d, cl := newDaemonSetAdapter(t, objs(defaultConfigs(), []client.Object{newTargetDaemonSet()})...)
	ctx := context.Background()
	c := daemonSetCanary()
	if err := d.EnsurePrimary(ctx, c); err != nil {
		t.Fatal(err)
	}
	before := get(t, cl, "podinfo-primary", &appsv1.DaemonSet{})

	ds := get(t, cl, "podinfo", &appsv1.DaemonSet{})
	ds.Spec.Template.Spec.Containers[0].Image = "ghcr.io/stefanprodan/podinfo:6.1.0"
	ds.Spec.Template.Spec.NodeSelector[ScaleToZeroKey] = ScaleToZeroValue // promoted at rest, as after Finalising
	if err := cl.Update(ctx, ds); err != nil {
		t.Fatal(err)
	}
	tgt, _, err := d.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}

	if err := d.Promote(ctx, c, "0123456789abcdef"); !errors.Is(err, ErrRevisionChanged) {
		t.Fatalf("Promote of a revision the target no longer holds = %v, want ErrRevisionChanged", err)
	}
	if got := get(t, cl, "podinfo-primary", &appsv1.DaemonSet{}); got.ResourceVersion != before.ResourceVersion {
		t.Error("a refused promotion wrote the primary")
	}

	if err := d.Promote(ctx, c, tgt.Fingerprint); err != nil {
		t.Fatal(err)
	}
	p := get(t, cl, "podinfo-primary", &appsv1.DaemonSet{})
	if img := p.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/stefanprodan/podinfo:6.1.0" {
		t.Errorf("primary runs %s after promotion, want 6.1.0", img)
	}
	if _, ok := p.Spec.Template.Spec.NodeSelector[ScaleToZeroKey]; ok {
		t.Errorf("promotion copied %s to the primary: its pods would leave every node", ScaleToZeroKey)
	}
	if p.Spec.Template.Labels["app"] != "podinfo-primary" || p.Annotations[AnnotationRevision] != tgt.Fingerprint {
		t.Errorf("primary labels %v, revision %q; want app=podinfo-primary and %q", p.Spec.Template.Labels, p.Annotations[AnnotationRevision], tgt.Fingerprint)
	}
	_, primary, err := d.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if primary.Fingerprint != tgt.Fingerprint {
		t.Errorf("primary fingerprint %q after promotion, want %q", primary.Fingerprint, tgt.Fingerprint)
	}

	rv := p.ResourceVersion
	if err := d.Promote(ctx, c, tgt.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if got := get(t, cl, "podinfo-primary", &appsv1.DaemonSet{}); got.ResourceVersion != rv {
		t.Error("a promotion of the revision the primary already runs wrote it again")
	}
}

func TestDaemonSetTrackedConfigChangeIsANewRevision(t *testing.T) {
	d, cl := newDaemonSetAdapter(t, objs(defaultConfigs(), []client.Object{newTargetDaemonSet()})...)
	ctx := context.Background()
	c := daemonSetCanary()
	before, _, err := d.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	cm := get(t, cl, "podinfo-config", &corev1.ConfigMap{})
	cm.Data["a"] = "2"
	if err := cl.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	after, _, err := d.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if before.Fingerprint == after.Fingerprint {
		t.Error("a changed tracked ConfigMap left the fingerprint as it was")
	}
	configs, err := d.Configs(ctx, c)
	if err != nil || configs["configmap/podinfo-config"] == "" || configs["secret/podinfo-env"] == "" {
		t.Errorf("Configs = %v, %v; want both tracked configs", configs, err)
	}
}

func TestDaemonSetRevertGivesTheTargetItsPodsBack(t *testing.T) {
	d, cl := newDaemonSetAdapter(t, objs(defaultConfigs(), []client.Object{newTargetDaemonSet(atRestDaemonSet)})...)
	ctx := context.Background()
	c := daemonSetCanary()
	ready, err := d.Revert(ctx, c)
	if err != nil || ready {
		t.Fatalf("Revert of a target at rest = %v, %v; want not ready yet", ready, err)
	}
	ds := get(t, cl, "podinfo", &appsv1.DaemonSet{})
	if _, ok := ds.Spec.Template.Spec.NodeSelector[ScaleToZeroKey]; ok {
		t.Fatalf("node selector after Revert = %v, want %s gone", ds.Spec.Template.Spec.NodeSelector, ScaleToZeroKey)
	}
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberAvailable: 2}
	if err := cl.Status().Update(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if ready, err := d.Revert(ctx, c); err != nil || !ready {
		t.Errorf("Revert of a running target = %v, %v; want ready", ready, err)
	}
}

func TestDaemonSetHasNoBaselineNorAutoscaler(t *testing.T) {
	ds, _ := newDaemonSetAdapter(t, objs(defaultConfigs(), []client.Object{newTargetDaemonSet()})...)
	d := Kinds{KindDaemonSet: ds}
	ctx := context.Background()
	c := daemonSetCanary()
	if err := d.EnsureBaseline(ctx, c); !errors.Is(err, ErrUnsupported) {
		t.Errorf("EnsureBaseline = %v, want ErrUnsupported", err)
	}
	if _, err := d.ObserveBaseline(ctx, c); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ObserveBaseline = %v, want ErrUnsupported", err)
	}
	if err := d.RemoveBaseline(ctx, c); err != nil {
		t.Errorf("RemoveBaseline = %v, want nothing to remove", err)
	}
	if err := d.SyncPrimaryHPA(ctx, c); err != nil {
		t.Errorf("SyncPrimaryHPA without an autoscalerRef = %v, want nil", err)
	}
	if err := d.SyncPrimaryHPA(ctx, daemonSetCanary(withHPA(nil, nil))); !errors.Is(err, ErrUnsupported) {
		t.Errorf("SyncPrimaryHPA with an autoscalerRef = %v, want ErrUnsupported", err)
	}
}

func TestKindsPickTheAdapterOfTheTargetRefKind(t *testing.T) {
	cl := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs(defaultConfigs(), []client.Object{newTargetDaemonSet(), newTarget()})...).Build()
	// A Deployment and a DaemonSet of the same name: the kind alone picks which one is read.
	k := NewKinds(cl, cl, nil, nil)
	for kind, want := range map[string]string{"": "*target.Deployment", KindDeployment: "*target.Deployment", KindDaemonSet: "*target.DaemonSet"} {
		a, err := k.For(kind)
		if err != nil || typeName(a) != want {
			t.Errorf("For(%q) = %s, %v; want %s", kind, typeName(a), err, want)
		}
	}
	if _, err := k.For("ReplicaSet"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("For(ReplicaSet) = %v, want ErrUnsupported", err)
	}
	ctx := context.Background()
	dsTarget, _, err := k.Observe(ctx, daemonSetCanary())
	if err != nil {
		t.Fatal(err)
	}
	depTarget, _, err := k.Observe(ctx, newCanary())
	if err != nil {
		t.Fatal(err)
	}
	if dsTarget.Replicas != 4 || depTarget.Replicas != 3 {
		t.Errorf("observed %d and %d replicas, want the DaemonSet's 4 nodes and the Deployment's 3", dsTarget.Replicas, depTarget.Replicas)
	}
	if err := k.ScaleUp(ctx, newCanary(func(c *siskinv1.Canary) { c.Spec.TargetRef.Kind = "ReplicaSet" })); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ScaleUp of a ReplicaSet target = %v, want ErrUnsupported", err)
	}
}

func typeName(a Adapter) string {
	switch a.(type) {
	case *Deployment:
		return "*target.Deployment"
	case *DaemonSet:
		return "*target.DaemonSet"
	}
	return "none"
}
