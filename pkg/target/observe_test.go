package target

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestReadiness(t *testing.T) {
	status := func(replicas, updated, available int32) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To[int32](4)
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: replicas, UpdatedReplicas: updated, AvailableReplicas: available}
		}
	}
	tests := []struct {
		name      string
		dep       *appsv1.Deployment
		threshold int32
		ready     bool
		message   string
	}{
		{name: "all updated replicas available is ready", dep: newTarget(status(4, 4, 4)), threshold: 100, ready: true},
		{name: "three of four available is not ready at 100 percent", dep: newTarget(status(4, 4, 3)), threshold: 100, message: "3 of 4 updated replicas available, 4 needed"},
		{name: "three of four available is ready at 75 percent", dep: newTarget(status(4, 4, 3)), threshold: 75, ready: true},
		{name: "two of four available is not ready at 51 percent, which rounds up to three", dep: newTarget(status(4, 4, 2)), threshold: 51, message: "3 needed"},
		{name: "replicas still being updated is not ready", dep: newTarget(status(4, 2, 2)), threshold: 0, message: "2 of 4 replicas updated"},
		{name: "old replicas still terminating is not ready", dep: newTarget(status(5, 4, 4)), threshold: 100, message: "1 old replicas pending termination"},
		{
			name: "a generation the controller has not observed is not ready",
			dep: newTarget(status(4, 4, 4), func(d *appsv1.Deployment) {
				d.Generation = 2
			}),
			threshold: 100,
			message:   "waiting for generation 2",
		},
		{
			name:      "a deployment scaled to zero is not ready",
			dep:       newTarget(status(0, 0, 0), func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](0) }),
			threshold: 0,
			message:   "scaled to zero",
		},
		{
			name: "a passed progress deadline is said so",
			dep: newTarget(status(4, 4, 1), func(d *appsv1.Deployment) {
				d.Status.Conditions = []appsv1.DeploymentCondition{{
					Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
				}}
			}),
			threshold: 100,
			message:   "exceeded its progress deadline: 1 of 4",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready, msg := readiness(tt.dep, tt.threshold)
			if ready != tt.ready || !strings.Contains(msg, tt.message) {
				t.Fatalf("readiness = %t, %q; want %t, containing %q", ready, msg, tt.ready, tt.message)
			}
		})
	}
}

func TestObserve(t *testing.T) {
	ctx := context.Background()

	t.Run("a missing target and primary are reported, not returned as errors", func(t *testing.T) {
		d, _ := newAdapter(t)
		tgt, p, err := d.Observe(ctx, newCanary())
		if err != nil || tgt.Exists || p.Exists || !strings.Contains(tgt.Message, "not found") {
			t.Fatalf("Observe = %+v, %+v, %v", tgt, p, err)
		}
	})

	t.Run("a missing required config is a fact about the target, not an error", func(t *testing.T) {
		// Only the Secret exists: the ConfigMap the pods mount is gone.
		d, _ := newAdapter(t, newTarget(), newSecret("podinfo-env", map[string][]byte{"K": []byte("v")}))
		tgt, _, err := d.Observe(ctx, newCanary())
		if err != nil {
			t.Fatalf("Observe returned %v; a missing config must not stop the round", err)
		}
		if !tgt.Exists || tgt.Ready || tgt.Fingerprint == "" || !strings.Contains(tgt.Message, "podinfo-config") {
			t.Fatalf("target = %+v, want existing, not ready, fingerprinted, naming the missing config", tgt)
		}
	})

	t.Run("a fresh primary has the target's fingerprint and the thresholds apply per side", func(t *testing.T) {
		c := newCanary(func(c *siskinv1.Canary) {
			c.Spec.Analysis.CanaryReadyThreshold = ptr.To[int32](50)
		})
		half := newTarget(func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 2 })
		d, cl := newAdapter(t, objs([]client.Object{half}, defaultConfigs())...)
		if err := d.EnsurePrimary(ctx, c); err != nil {
			t.Fatal(err)
		}
		p := get(t, cl, "podinfo-primary", &appsv1.Deployment{})
		p.Status = half.Status
		p.Status.ObservedGeneration = p.Generation
		if err := cl.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		tgt, prim, err := d.Observe(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if !tgt.Exists || tgt.Fingerprint == "" || tgt.Fingerprint != prim.Fingerprint {
			t.Fatalf("target %+v, primary %+v", tgt, prim)
		}
		if !tgt.Ready || prim.Ready || tgt.Replicas != 3 || !strings.Contains(prim.Message, "2 of 3 updated replicas available") {
			t.Fatalf("target %+v (50%%), primary %+v (100%%), want ready and not ready", tgt, prim)
		}
	})

	t.Run("a config change is a new target fingerprint", func(t *testing.T) {
		d, cl := newAdapter(t, objs([]client.Object{newTarget()}, defaultConfigs())...)
		before, _, err := d.Observe(ctx, newCanary())
		if err != nil {
			t.Fatal(err)
		}
		cm := get(t, cl, "podinfo-config", &corev1.ConfigMap{})
		cm.BinaryData["blob"] = []byte("new")
		if err := cl.Update(ctx, cm); err != nil {
			t.Fatal(err)
		}
		after, _, err := d.Observe(ctx, newCanary())
		if err != nil || after.Fingerprint == before.Fingerprint {
			t.Fatalf("fingerprint %s -> %s, %v", before.Fingerprint, after.Fingerprint, err)
		}
	})

	t.Run("a config that cannot be read is an error, never a new fingerprint", func(t *testing.T) {
		failure := apierrors.NewInternalError(errTransient)
		d := newFailingAdapter(t, "podinfo-env", failure, objs([]client.Object{newTarget()}, defaultConfigs())...)
		tgt, _, err := d.Observe(ctx, newCanary())
		if !apierrors.IsInternalError(err) || tgt.Fingerprint != "" {
			t.Fatalf("Observe = %+v, %v; want an internal error and no fingerprint", tgt, err)
		}
	})

	t.Run("a target that cannot be read is an error", func(t *testing.T) {
		failure := apierrors.NewServerTimeout(schema.GroupResource{Group: "apps", Resource: "deployments"}, "get", 1)
		d := newFailingAdapter(t, "podinfo", failure, newTarget())
		if _, _, err := d.Observe(ctx, newCanary()); !apierrors.IsServerTimeout(err) {
			t.Fatalf("error = %v, want a server timeout", err)
		}
	})
}

type transientError struct{}

func (transientError) Error() string { return "etcdserver: request timed out" }

var errTransient = transientError{}
