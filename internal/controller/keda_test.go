package controller

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/target"
)

// podinfoScaledObject is a KEDA ScaledObject of the podinfo Deployment with one Prometheus
// trigger named requests.
func podinfoScaledObject(ns string) *unstructured.Unstructured {
	so := &unstructured.Unstructured{}
	so.SetGroupVersionKind(target.ScaledObjectGVK)
	so.SetName("podinfo-so")
	so.SetNamespace(ns)
	so.Object["spec"] = map[string]any{
		"scaleTargetRef":  map[string]any{"name": "podinfo"},
		"minReplicaCount": int64(1),
		"maxReplicaCount": int64(3),
		"triggers": []any{map[string]any{
			"type": "prometheus", "name": "requests",
			"metadata": map[string]any{
				"serverAddress": "http://prometheus:9090",
				"query":         `sum(rate(http_requests_total{app="podinfo"}[30s]))`,
				"threshold":     "5",
			},
		}},
	}
	return so
}

func getScaledObject(ctx context.Context, ns, name string) (*unstructured.Unstructured, error) {
	so := &unstructured.Unstructured{}
	so.SetGroupVersionKind(target.ScaledObjectGVK)
	return so, k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, so)
}

// waitForScaledObject waits until the named ScaledObject satisfies cond, and returns it.
func waitForScaledObject(t *testing.T, ns, name, what string, cond func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	deadline := time.Now().Add(4 * analysisInterval)
	for {
		so, err := getScaledObject(context.Background(), ns, name)
		if err == nil && cond(so) {
			return so
		}
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("scaledobject %s: not %s: %v (%v)", name, what, so.Object, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pausedAt(so *unstructured.Unstructured) (string, bool) {
	v, ok := so.GetAnnotations()[target.AnnotationKEDAPausedReplicas]
	return v, ok
}

func threshold(so *unstructured.Unstructured) string {
	triggers, _, _ := unstructured.NestedSlice(so.Object, "spec", "triggers")
	if len(triggers) == 0 {
		return ""
	}
	v, _, _ := unstructured.NestedString(triggers[0].(map[string]any), "metadata", "threshold")
	return v
}

func TestKEDAScaledObjectFollowsTheTargetThroughARollout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{})
	runKubelet(t, ns)
	url, _, _ := hookServer(t)
	if err := k8sClient.Create(ctx, podinfoScaledObject(ns)); err != nil {
		t.Fatal(err)
	}
	c := blueGreen(ns, 2, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	c.Spec.AutoscalerRef = &siskinv1.AutoscalerReference{
		APIVersion: "keda.sh/v1alpha1", Kind: target.KindScaledObject, Name: "podinfo-so",
		PrimaryScalerQueries: map[string]string{"requests": `sum(rate(http_requests_total{app="podinfo-primary"}[30s]))`},
	}
	setupRollout(t, ns, c)
	canary := getCanary(t, keyOf(c))

	p := waitForScaledObject(t, ns, "podinfo-so-primary", "made for the primary", func(so *unstructured.Unstructured) bool {
		return so.GetName() != ""
	})
	if name, _, _ := unstructured.NestedString(p.Object, "spec", "scaleTargetRef", "name"); name != "podinfo-primary" {
		t.Errorf("primary scaledobject scales %q, want podinfo-primary", name)
	}
	triggers, _, _ := unstructured.NestedSlice(p.Object, "spec", "triggers")
	if q, _, _ := unstructured.NestedString(triggers[0].(map[string]any), "metadata", "query"); q != c.Spec.AutoscalerRef.PrimaryScalerQueries["requests"] {
		t.Errorf("primary trigger's query %q, want primaryScalerQueries[requests]", q)
	}
	if !metav1.IsControlledBy(p, canary) {
		t.Error("primary scaledobject is not controlled by the canary")
	}
	if _, paused := pausedAt(p); paused {
		t.Error("primary scaledobject is paused")
	}
	waitForScaledObject(t, ns, "podinfo-so", "paused at zero at rest", func(so *unstructured.Unstructured) bool {
		v, ok := pausedAt(so)
		return ok && v == "0"
	})

	// A trigger changed on the target's ScaledObject reaches the primary's.
	src, err := getScaledObject(ctx, ns, "podinfo-so")
	if err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(src.DeepCopy())
	triggers, _, _ = unstructured.NestedSlice(src.Object, "spec", "triggers")
	_ = unstructured.SetNestedField(triggers[0].(map[string]any), "20", "metadata", "threshold")
	_ = unstructured.SetNestedSlice(src.Object, triggers, "spec", "triggers")
	if err := k8sClient.Patch(ctx, src, patch); err != nil {
		t.Fatal(err)
	}
	waitForScaledObject(t, ns, "podinfo-so-primary", "following the target's threshold", func(so *unstructured.Unstructured) bool {
		return threshold(so) == "20"
	})

	release(t, ns, "podinfo:6.1.0")
	waitFor(t, keyOf(c), "Progressing", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing
	})
	waitForScaledObject(t, ns, "podinfo-so", "resumed for the analysis", func(so *unstructured.Unstructured) bool {
		_, paused := pausedAt(so)
		return !paused
	})
	waitForWithin(t, keyOf(c), "Succeeded", 4*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.1.0" {
		t.Errorf("primary runs %s after promotion, want podinfo:6.1.0", img)
	}
	waitForScaledObject(t, ns, "podinfo-so", "paused again after the promotion", func(so *unstructured.Unstructured) bool {
		v, ok := pausedAt(so)
		return ok && v == "0"
	})

	// Deleting the Canary puts the target's ScaledObject back as the user had it.
	if err := k8sClient.Delete(ctx, getCanary(t, keyOf(c))); err != nil {
		t.Fatal(err)
	}
	waitForScaledObject(t, ns, "podinfo-so", "restored on deletion", func(so *unstructured.Unstructured) bool {
		_, paused := pausedAt(so)
		_, remembered := so.GetAnnotations()[target.AnnotationUserPausedReplicas]
		return !paused && !remembered
	})
}
