package controller

import (
	"context"
	"net/http"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/target"
)

// daemonSetNodes is the number of nodes runDaemonSetKubelet pretends every DaemonSet runs on.
const daemonSetNodes = 3

// podinfoDaemonSet is the DaemonSet target of a DaemonSet Canary; its pods carry app=podinfo.
func podinfoDaemonSet(ns, image string) *appsv1.DaemonSet {
	dep := podinfoDeployment(ns, image)
	return &appsv1.DaemonSet{
		ObjectMeta: dep.ObjectMeta,
		Spec:       appsv1.DaemonSetSpec{Selector: dep.Spec.Selector, Template: dep.Spec.Template},
	}
}

// daemonSetCanary is blueGreen on a DaemonSet target.
func daemonSetCanary(ns string, iterations int32, hooks ...siskinv1.CanaryWebhook) *siskinv1.Canary {
	c := blueGreen(ns, iterations, hooks...)
	c.Spec.TargetRef.Kind = target.KindDaemonSet
	return c
}

// runDaemonSetKubelet stands in for the DaemonSet controller, which envtest does not run:
// every DaemonSet of namespace ns is reported rolled out on daemonSetNodes nodes shortly after
// it changes, or on none while its node selector keeps it off every node.
func runDaemonSetKubelet(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for {
			list := &appsv1.DaemonSetList{}
			if err := k8sClient.List(ctx, list, client.InNamespace(ns)); err == nil {
				for i := range list.Items {
					markDaemonSetRolledOut(ctx, &list.Items[i])
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

func markDaemonSetRolledOut(ctx context.Context, ds *appsv1.DaemonSet) {
	n := int32(daemonSetNodes)
	if _, off := ds.Spec.Template.Spec.NodeSelector[target.ScaleToZeroKey]; off {
		n = 0
	}
	want := appsv1.DaemonSetStatus{
		ObservedGeneration: ds.Generation, DesiredNumberScheduled: n, CurrentNumberScheduled: n,
		UpdatedNumberScheduled: n, NumberReady: n, NumberAvailable: n,
	}
	if equality.Semantic.DeepEqual(ds.Status, want) {
		return
	}
	ds.Status = want
	_ = k8sClient.Status().Update(ctx, ds)
}

func getDaemonSet(t *testing.T, ns, name string) *appsv1.DaemonSet {
	t.Helper()
	ds := &appsv1.DaemonSet{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ds); err != nil {
		t.Fatal(err)
	}
	return ds
}

// waitForDaemonSetAtRest waits until the DaemonSet's pods are kept off every node (want) or
// allowed back on them.
func waitForDaemonSetAtRest(t *testing.T, ns, name string, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds := getDaemonSet(t, ns, name)
		if _, off := ds.Spec.Template.Spec.NodeSelector[target.ScaleToZeroKey]; off == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemonset %s has node selector %v, want %s set: %v", name, ds.Spec.Template.Spec.NodeSelector, target.ScaleToZeroKey, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// setupDaemonSetRollout creates the target DaemonSet and the Canary, and waits until the Canary
// is Initialized and the target at rest.
func setupDaemonSetRollout(t *testing.T, ns string, c *siskinv1.Canary) {
	t.Helper()
	ctx := context.Background()
	if err := k8sClient.Create(ctx, podinfoDaemonSet(ns, "podinfo:6.0.0")); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, keyOf(c), "Initialized", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseInitialized
	})
	waitForDaemonSetAtRest(t, ns, "podinfo", true)
	p := getDaemonSet(t, ns, "podinfo-primary")
	if img := p.Spec.Template.Spec.Containers[0].Image; img != "podinfo:6.0.0" {
		t.Fatalf("primary runs %s, want podinfo:6.0.0", img)
	}
	if p.Spec.Selector.MatchLabels["app"] != "podinfo-primary" {
		t.Fatalf("primary selects %v, want app=podinfo-primary", p.Spec.Selector.MatchLabels)
	}
}

// releaseDaemonSet changes the target DaemonSet's image, as a GitOps sync of a new version would.
func releaseDaemonSet(t *testing.T, ns, img string) {
	t.Helper()
	ds := getDaemonSet(t, ns, "podinfo")
	patch := client.MergeFrom(ds.DeepCopy())
	ds.Spec.Template.Spec.Containers[0].Image = img
	if err := k8sClient.Patch(context.Background(), ds, patch); err != nil {
		t.Fatal(err)
	}
}

func TestDaemonSetRolloutIsPromotedAfterItsIterations(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runDaemonSetKubelet(t, ns)
	url, _, _ := hookServer(t)
	c := daemonSetCanary(ns, 2, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupDaemonSetRollout(t, ns, c)
	initialized := getCanary(t, keyOf(c))

	releaseDaemonSet(t, ns, "podinfo:6.1.0")
	waitFor(t, keyOf(c), "Progressing", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing
	})
	// Scaled up for the analysis: the node selector that kept its pods off every node is gone.
	waitForDaemonSetAtRest(t, ns, "podinfo", false)

	got := waitForWithin(t, keyOf(c), "Succeeded", 4*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	p := getDaemonSet(t, ns, "podinfo-primary")
	if img := p.Spec.Template.Spec.Containers[0].Image; img != "podinfo:6.1.0" {
		t.Errorf("primary runs %s after promotion, want podinfo:6.1.0", img)
	}
	if _, off := p.Spec.Template.Spec.NodeSelector[target.ScaleToZeroKey]; off {
		t.Errorf("primary has the node selector %s: promotion took its pods off every node", target.ScaleToZeroKey)
	}
	if !metav1.IsControlledBy(p, got) {
		t.Error("primary is not controlled by the canary")
	}
	waitForDaemonSetAtRest(t, ns, "podinfo", true)
	if got.Status.LastPromotedSpec != got.Status.LastAppliedSpec || got.Status.LastPromotedSpec == initialized.Status.LastPromotedSpec {
		t.Errorf("lastPromotedSpec %q, lastAppliedSpec %q, initialized with %q: want the new revision promoted",
			got.Status.LastPromotedSpec, got.Status.LastAppliedSpec, initialized.Status.LastPromotedSpec)
	}
	svc := &corev1.Service{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, svc); err != nil {
		t.Fatalf("apex service: %v", err)
	}
	if svc.Spec.Selector["app"] != "podinfo-primary" {
		t.Errorf("apex service selects %v, want the primary's pods", svc.Spec.Selector)
	}
	// Scaling the target down again is no new revision.
	time.Sleep(2 * time.Second)
	if again := getCanary(t, keyOf(c)); again.Status.Phase != siskinv1.PhaseSucceeded {
		t.Errorf("phase = %s after the promotion settled, want Succeeded", again.Status.Phase)
	}
}

func TestDaemonSetRolloutIsRolledBackAndDeletionGivesTheTargetItsPodsBack(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runDaemonSetKubelet(t, ns)
	url, code, _ := hookServer(t)
	c := daemonSetCanary(ns, 5, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	setupDaemonSetRollout(t, ns, c)

	code.Store(http.StatusInternalServerError)
	releaseDaemonSet(t, ns, "podinfo:6.1.0-broken")
	got := waitForWithin(t, keyOf(c), "Failed", 5*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseFailed
	})
	if got.Status.FailedChecks < 2 {
		t.Errorf("failedChecks = %d, want the threshold 2", got.Status.FailedChecks)
	}
	if img := getDaemonSet(t, ns, "podinfo-primary").Spec.Template.Spec.Containers[0].Image; img != "podinfo:6.0.0" {
		t.Errorf("primary runs %s after the rollback, want podinfo:6.0.0", img)
	}
	waitForDaemonSetAtRest(t, ns, "podinfo", true)

	ctx := context.Background()
	if err := k8sClient.Delete(ctx, getCanary(t, keyOf(c))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := k8sClient.Get(ctx, keyOf(c), &siskinv1.Canary{})
		if client.IgnoreNotFound(err) == nil && err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("canary still exists 20s after deletion: %+v", getCanary(t, keyOf(c)).Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitForDaemonSetAtRest(t, ns, "podinfo", false)
	svc := &corev1.Service{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, svc); err != nil {
		t.Fatalf("apex service after deletion: %v", err)
	}
	if svc.Spec.Selector["app"] != "podinfo" {
		t.Errorf("apex service selects %v after deletion, want the target's pods (app=podinfo)", svc.Spec.Selector)
	}
}
