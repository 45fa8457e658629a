package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func keyOf(o client.Object) types.NamespacedName {
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}

// waitFor polls the Canary until cond holds, and on timeout reports its last status.
func waitFor(t *testing.T, key types.NamespacedName, what string, cond func(*siskinv1.Canary) bool) *siskinv1.Canary {
	t.Helper()
	return waitForWithin(t, key, what, 30*time.Second, cond)
}

func waitForWithin(t *testing.T, key types.NamespacedName, what string, d time.Duration, cond func(*siskinv1.Canary) bool) *siskinv1.Canary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	got := &siskinv1.Canary{}
	for {
		err := k8sClient.Get(ctx, key, got)
		if err == nil && cond(got) {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("canary %s never reached %s within %s; last status: phase=%s weight=%d iterations=%d failedChecks=%d conditions=%s (get error: %v)",
				key, what, d, got.Status.Phase, got.Status.CanaryWeight, got.Status.Iterations, got.Status.FailedChecks, conditions(got), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func conditions(c *siskinv1.Canary) string {
	var parts []string
	for _, cond := range c.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s/%s(%q)", cond.Type, cond.Status, cond.Reason, cond.Message))
	}
	return strings.Join(parts, " ")
}

func condition(c *siskinv1.Canary, typ string) string {
	cond := meta.FindStatusCondition(c.Status.Conditions, typ)
	if cond == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s/gen%d", cond.Status, cond.ObservedGeneration)
}

func TestValidCanaryWaitsInInitializingForItsPrimary(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{provider: siskinv1.ProviderIstio})
	runKubelet(t, ns, "podinfo-primary")
	ctx := context.Background()
	if err := k8sClient.Create(ctx, podinfoDeployment(ns, "podinfo:6.0.0")); err != nil {
		t.Fatal(err)
	}
	// The user's own apex Service, serving the target's pods.
	apex := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "podinfo"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 9898, TargetPort: intstr.FromInt32(9898)}}},
	}
	if err := k8sClient.Create(ctx, apex); err != nil {
		t.Fatal(err)
	}
	c := podinfo(t, ns)
	set(t, c, "kubernetes", "spec", "provider")
	del(c, "spec", "analysis", "stepWeight")
	del(c, "spec", "analysis", "maxWeight")
	set(t, c, int64(3), "spec", "analysis", "iterations")
	set(t, c, "podinfo", "spec", "targetRef", "name")
	del(c, "spec", "autoscalerRef")
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, keyOf(c), "Initializing", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseInitializing && c.Status.ObservedGeneration == c.Generation
	})
	gen := got.Generation
	want := map[string]string{
		siskinv1.ConditionReady:       fmt.Sprintf("False/gen%d", gen),
		siskinv1.ConditionReconciling: fmt.Sprintf("True/gen%d", gen),
		siskinv1.ConditionPromoted:    fmt.Sprintf("Unknown/gen%d", gen),
		siskinv1.ConditionStalled:     "<none>",
	}
	for typ, w := range want {
		if g := condition(got, typ); g != w {
			t.Errorf("condition %s = %s, want %s", typ, g, w)
		}
	}
	if got.Status.LastTransitionTime == nil {
		t.Error("lastTransitionTime is not set")
	}
	// The primary never becomes ready here, so the target must keep serving: not scaled down.
	time.Sleep(time.Second)
	dep := podinfoDeployment(ns, "")
	if err := k8sClient.Get(ctx, keyOf(dep), dep); err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 2 {
		t.Errorf("target scaled to %d while the primary is not ready", *dep.Spec.Replicas)
	}
	// The Services Siskin owns are created while the primary starts (on a large fleet their
	// cluster IPs are allocated one at a time, so that wait runs beside the primary's); the
	// user's apex keeps serving the target's pods until the primary is ready.
	for _, name := range []string{"podinfo-primary", "podinfo-canary"} {
		svc := &corev1.Service{}
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc)
			if err == nil {
				break
			}
			if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
				t.Fatalf("service %s while the primary is not ready: %v", name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(apex), apex); err != nil {
		t.Fatal(err)
	}
	if got := apex.Spec.Selector["app"]; got != "podinfo" {
		t.Errorf("the user's apex Service selects app=%s while the primary is not ready, want app=podinfo", got)
	}
}

func TestSpecThatCannotProgressIsStalled(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{provider: siskinv1.ProviderIstio})
	ctx := context.Background()
	c := podinfo(t, ns)
	// Valid for the schema, but with neither stepWeight, stepWeights nor iterations the
	// analysis could never move traffic.
	del(c, "spec", "analysis", "stepWeight")
	del(c, "spec", "analysis", "maxWeight")
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, keyOf(c), "Stalled", func(c *siskinv1.Canary) bool {
		return meta.IsStatusConditionTrue(c.Status.Conditions, siskinv1.ConditionStalled)
	})
	stalled := meta.FindStatusCondition(got.Status.Conditions, siskinv1.ConditionStalled)
	if stalled.Reason != siskinv1.ReasonInvalidSpec || !strings.Contains(stalled.Message, "analysis needs stepWeight or stepWeights") {
		t.Errorf("stalled condition = %s: %s", stalled.Reason, stalled.Message)
	}
	if r := meta.FindStatusCondition(got.Status.Conditions, siskinv1.ConditionReady); r == nil || r.Status != metav1.ConditionFalse {
		t.Errorf("ready condition = %+v, want False", r)
	}
	if got.Status.Phase != "" {
		t.Errorf("phase = %q; an invalid canary must not start", got.Status.Phase)
	}
	waitForEvent(t, got, siskinv1.ReasonInvalidSpec, "analysis needs stepWeight")

	// Fixing the spec clears Stalled: the new generation is observed.
	got.Spec.Analysis.Iterations = 5
	if err := k8sClient.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	waitFor(t, keyOf(c), "not stalled after the fix", func(c *siskinv1.Canary) bool {
		return c.Status.ObservedGeneration == c.Generation &&
			meta.FindStatusCondition(c.Status.Conditions, siskinv1.ConditionStalled) == nil
	})
}

func TestSuspendedCanaryIsLeftAlone(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	ctx := context.Background()
	if err := k8sClient.Create(ctx, podinfoDeployment(ns, "podinfo:6.0.0")); err != nil {
		t.Fatal(err)
	}
	c := blueGreen(ns, 2)
	c.Spec.Suspend = true
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, keyOf(c), "Suspended", func(c *siskinv1.Canary) bool {
		r := meta.FindStatusCondition(c.Status.Conditions, siskinv1.ConditionReady)
		return r != nil && r.Reason == siskinv1.ReasonSuspended
	})
	if got.Status.Phase != "" {
		t.Errorf("phase = %q, want none while suspended", got.Status.Phase)
	}
	got.Spec.Suspend = false
	if err := k8sClient.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	waitFor(t, keyOf(c), "Initialized after resume", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseInitialized
	})
}

func waitForEvent(t *testing.T, c *siskinv1.Canary, reason, note string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		list := &eventsv1.EventList{}
		if err := k8sClient.List(ctx, list, client.InNamespace(c.Namespace)); err == nil {
			for _, e := range list.Items {
				if e.Regarding.Name == c.Name && e.Reason == reason && strings.Contains(e.Note, note) {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no event %s %q for canary %s", reason, note, c.Name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
