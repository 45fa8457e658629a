//go:build e2e

package scenarios

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// Scenarios of target kinds other than a plain Deployment behind a router: a DaemonSet, a
// Deployment scaled by a KEDA ScaledObject, a StatefulSet rolled out by its partition and a
// worker Deployment with no inbound traffic (provider replicas for the last two).

// replicasProvider is spec.provider replicas: no router, the canary's share is its share of
// the pods.
const replicasProvider = "replicas"

// Replicas is the "router" of the provider replicas scenarios: there is none, and the subtests
// are named after the provider. Their controller runs with the default --provider (which
// cannot be replicas): the Canaries name their provider, or imply it (a StatefulSet).
var Replicas = framework.Router{Provider: replicasProvider}

// withoutRouter is in for a scenario of provider replicas: its controller runs with the default
// provider flag.
func withoutRouter(in Input) Input {
	in.Router = framework.Istio
	return in
}

// Annotations of KEDA's ScaledObject (pkg/target/keda.go).
const kedaPausedReplicas = "autoscaling.keda.sh/paused-replicas"

// DaemonSetPromotionAndRollback: a DaemonSet over the three nodes is initialised (the primary
// DaemonSet runs a pod on each node, the target none), a good release is promoted and users
// through the apex get it, and a release failing half its requests is rolled back on
// request-success-rate while the primary keeps serving the good version.
func DaemonSetPromotionAndRollback(t *testing.T, in Input) {
	r := newRig(t, in)
	nodes := len(in.Env.Info.NodeNames)
	if nodes < 3 {
		t.Fatalf("the local environment has %d nodes (%v); this scenario wants three", nodes, in.Env.Info.NodeNames)
	}
	r.createDaemonSet(map[string]string{"VERSION": "1.0.0"})
	c := r.canary()
	c.Spec.TargetRef.Kind = "DaemonSet"
	r.create(c)
	r.expectDaemonSetPods(in.Name+"-primary", nodes, "1.0.0")
	r.expectDaemonSetPods(in.Name, 0, "")
	r.expectServed(5, "1.0.0", nil)

	rec := r.record()
	users := in.Env.StartTraffic(r.ctx, r.host(), 10, nil)
	r.releaseWorkload(&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: in.Name}}, map[string]string{"VERSION": "1.1.0"})
	r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded)
	stats := users.Stop()
	snaps := r.snapshots(rec, siskinv1.PhaseSucceeded)
	if w := framework.RouteCanaryWeights(snaps); !isSubsequence([]int32{0, 30, 60, 0}, w) {
		r.fatalf("route canary weights went %v; expected 0, 30, 60, 0\n%s", w, framework.Format(snaps))
	}
	r.expectDaemonSetPods(in.Name+"-primary", nodes, "1.1.0")
	r.expectDaemonSetPods(in.Name, 0, "")
	r.expectRouteAtRest()
	r.expectServed(5, "1.1.0", nil)
	expectNoLoss(t, r, "during the promotion of a DaemonSet", stats)
	if stats.Versions["1.1.0"] == 0 {
		r.fatalf("users never reached the canary DaemonSet during the analysis: %s", stats)
	}
	t.Logf("users during the promotion: %s", stats)

	r.releaseWorkload(&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: in.Name}}, map[string]string{"VERSION": "1.2.0", "ERROR_RATE": "0.5"})
	// The phase is still Succeeded from the last release until the new revision is noticed.
	r.waitPhase(initTimeout, siskinv1.PhaseProgressing)
	c = r.waitPhase(rolloutTimeout, siskinv1.PhaseFailed, siskinv1.PhaseSucceeded)
	if c.Status.Phase != siskinv1.PhaseFailed {
		r.fatalf("a DaemonSet release failing half its requests was promoted")
	}
	msg := readyMessage(c)
	t.Logf("rolled back: %s", msg)
	if !strings.Contains(msg, siskinv1.MetricRequestSuccessRate) {
		r.fatalf("rollback reason %q does not name request-success-rate", msg)
	}
	r.expectDaemonSetPods(in.Name+"-primary", nodes, "1.1.0")
	r.expectDaemonSetPods(in.Name, 0, "")
	r.expectRouteAtRest()
	r.expectServed(10, "1.1.0", nil)
}

// expectDaemonSetPods waits until the DaemonSet name runs exactly n ready pods, on distinct
// nodes, all of version (any version when n is 0).
func (r *rig) expectDaemonSetPods(name string, n int, version string) {
	r.t.Helper()
	var last string
	err := framework.Eventually(r.ctx, initTimeout, fmt.Sprintf("DaemonSet %s to run %d pods of %q", name, n, version), func(ctx context.Context) (bool, error) {
		pods, err := r.podsOf(ctx, "DaemonSet", name)
		if err != nil {
			return false, err
		}
		last = describePods(pods)
		nodes := map[string]bool{}
		for _, p := range pods {
			if !podReady(p.Status.Conditions) || envMap(p.Spec.Containers[0].Env)["VERSION"] != version {
				return false, nil
			}
			nodes[p.Spec.NodeName] = true
		}
		return len(pods) == n && len(nodes) == n, nil
	})
	if err != nil {
		r.fatalf("%v; pods:%s", err, last)
	}
}

// KEDAScaledObject: a Deployment scaled by a KEDA ScaledObject (its CRD is served, no KEDA
// operator runs). Initialisation creates <so>-primary aimed at <name>-primary with the
// target's triggers and bounds and pauses the target's ScaledObject at zero; a change of the
// target's ScaledObject reaches the primary's; a release resumes the target's ScaledObject
// while it runs, is promoted, and leaves it paused again.
func KEDAScaledObject(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	so := scaledObject(in.Namespace, in.Name)
	so.Object["spec"] = map[string]any{
		"scaleTargetRef":  map[string]any{"name": in.Name},
		"minReplicaCount": int64(2),
		"maxReplicaCount": int64(4),
		"triggers": []any{map[string]any{
			"type": "prometheus", "name": "rps",
			"metadata": map[string]any{
				"serverAddress": in.Env.Info.Prometheus,
				"query":         fmt.Sprintf(`sum(rate(istio_requests_total{destination_workload_namespace=%q,destination_workload=%q}[1m]))`, in.Namespace, in.Name),
				"threshold":     "50",
			},
		}},
	}
	r.createObject(so)
	c := r.canary()
	c.Spec.AutoscalerRef = &siskinv1.AutoscalerReference{APIVersion: "keda.sh/v1alpha1", Kind: "ScaledObject", Name: in.Name}
	r.create(c)

	primaryQuery := fmt.Sprintf(`sum(rate(istio_requests_total{destination_workload_namespace=%q,destination_workload=%q}[1m]))`, in.Namespace, in.Name+"-primary")
	r.expectPrimaryScaledObject(4, primaryQuery)
	r.expectScaledObjectPaused(true)

	// A change of the target's ScaledObject reaches the primary's.
	r.updateScaledObject(func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, int64(6), "spec", "maxReplicaCount")
	})
	r.expectPrimaryScaledObject(6, primaryQuery)

	r.release(map[string]string{"VERSION": "1.1.0"})
	r.wait(rolloutTimeout, "the target's ScaledObject resumed while the canary runs", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing && !r.scaledObjectPaused()
	})
	r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded)
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the promotion; expected 1.1.0", v)
	}
	r.expectRouteAtRest()
	r.expectServed(5, "1.1.0", nil)
	r.expectScaledObjectPaused(true)
	r.expectPrimaryScaledObject(6, primaryQuery)
}

func (r *rig) getScaledObject(ctx context.Context, name string) (*unstructured.Unstructured, error) {
	u := scaledObject(r.in.Namespace, name)
	err := r.in.Env.Client.Get(ctx, types.NamespacedName{Namespace: r.in.Namespace, Name: name}, u)
	return u, err
}

// expectPrimaryScaledObject waits until <so>-primary aims at <name>-primary with the target's
// minimum, the maximum max and the target's trigger with its query about the primary.
func (r *rig) expectPrimaryScaledObject(max int64, query string) {
	r.t.Helper()
	var last map[string]any
	r.eventually(initTimeout, fmt.Sprintf("ScaledObject %s-primary with maxReplicaCount %d", r.in.Name, max), func(ctx context.Context) (bool, error) {
		u, err := r.getScaledObject(ctx, r.in.Name+"-primary")
		if err != nil {
			return false, client.IgnoreNotFound(err)
		}
		last, _, _ = unstructured.NestedMap(u.Object, "spec")
		target, _, _ := unstructured.NestedString(u.Object, "spec", "scaleTargetRef", "name")
		lo, _, _ := unstructured.NestedInt64(u.Object, "spec", "minReplicaCount")
		hi, _, _ := unstructured.NestedInt64(u.Object, "spec", "maxReplicaCount")
		triggers, _, _ := unstructured.NestedSlice(u.Object, "spec", "triggers")
		if target != r.in.Name+"-primary" || lo != 2 || hi != max || len(triggers) != 1 {
			return false, nil
		}
		trigger, _ := triggers[0].(map[string]any)
		q, _, _ := unstructured.NestedString(trigger, "metadata", "query")
		return trigger["type"] == "prometheus" && trigger["name"] == "rps" && q == query, nil
	})
	r.t.Logf("primary ScaledObject spec: %v", last)
}

// scaledObjectPaused reports whether the target's ScaledObject holds KEDA's paused-replicas
// annotation at "0".
func (r *rig) scaledObjectPaused() bool {
	u, err := r.getScaledObject(r.ctx, r.in.Name)
	return err == nil && u.GetAnnotations()[kedaPausedReplicas] == "0"
}

func (r *rig) expectScaledObjectPaused(paused bool) {
	r.t.Helper()
	r.eventually(initTimeout, fmt.Sprintf("the target's ScaledObject paused=%v (annotation %s)", paused, kedaPausedReplicas), func(context.Context) (bool, error) {
		return r.scaledObjectPaused() == paused, nil
	})
	u, err := r.getScaledObject(r.ctx, r.in.Name+"-primary")
	if err != nil {
		r.fatalf("get the primary's ScaledObject: %v", err)
	}
	if _, ok := u.GetAnnotations()[kedaPausedReplicas]; ok {
		r.fatalf("the primary's ScaledObject carries %s: %v", kedaPausedReplicas, u.GetAnnotations())
	}
}

func (r *rig) updateScaledObject(change func(*unstructured.Unstructured)) {
	r.t.Helper()
	r.eventually(initTimeout, "an update of the target's ScaledObject", func(ctx context.Context) (bool, error) {
		u, err := r.getScaledObject(ctx, r.in.Name)
		if err != nil {
			return false, err
		}
		change(u)
		if err := r.in.Env.Client.Update(ctx, u); err != nil {
			return false, nil //nolint:nilerr // a conflict is retried
		}
		return true, nil
	})
}

// replicasCanary is the Canary of the provider replicas scenarios: no Service and no router,
// steps of stepWeights every 10 s, judged by metric only (the built-in metrics read a mesh's
// telemetry of requests, which a worker has not). provider is spec.provider: replicas, or
// empty for a StatefulSet, whose provider it implies.
func (r *rig) replicasCanary(provider, kind string, stepWeights []int32, metric siskinv1.CanaryMetric) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: r.in.Name, Namespace: r.in.Namespace},
		Spec: siskinv1.CanarySpec{
			Provider:  provider,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: kind, Name: r.in.Name},
			Analysis: &siskinv1.CanaryAnalysis{
				Interval:    "10s",
				Threshold:   2,
				StepWeights: stepWeights,
				Metrics:     []siskinv1.CanaryMetric{metric},
			},
		},
	}
}

// metricTemplate creates a MetricTemplate on the environment's Prometheus.
func (r *rig) metricTemplate(name, query string) *siskinv1.CrossNamespaceObjectReference {
	r.t.Helper()
	r.createObject(&siskinv1.MetricTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.in.Namespace, Name: name},
		Spec: siskinv1.MetricTemplateSpec{
			Provider: siskinv1.MetricTemplateProvider{Type: "prometheus", Address: r.in.Env.Info.Prometheus},
			Query:    query,
		},
	})
	return &siskinv1.CrossNamespaceObjectReference{Name: name}
}

// StatefulSetPartition: a StatefulSet of five pods behind its own headless Service (which the
// data plane serves directly: no route) is rolled out by its partition, ceil(5*w/100) pods of
// the highest ordinals per step, judged by a MetricTemplate on the mesh's telemetry of the
// updated pods (pod=~"{{ canaryPods }}"). A good release ends with all five pods on it; a
// release failing half its requests ends with all five back on the previous revision and the
// partition at five.
func StatefulSetPartition(t *testing.T, in Input) {
	in.Name = "web"
	r := newRig(t, withoutRouter(in))
	const replicas = 5
	r.createStatefulSet(replicas, map[string]string{"VERSION": "1.0.0"})
	r.expectStatefulSet(replicas, "1.0.0", false)
	ref := r.metricTemplate("pod-success-rate", `
sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}",pod=~"{{ canaryPods }}",response_code!~"5.*"}[{{ interval }}]))
/
sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}",pod=~"{{ canaryPods }}"}[{{ interval }}]))
* 100`)
	c := r.replicasCanary("", "StatefulSet", []int32{20, 40, 60}, siskinv1.CanaryMetric{
		Name: "pod-success-rate", Interval: "30s", TemplateRef: ref,
		ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr.To(99.0)},
		MinSample:      &siskinv1.CanaryMetricMinSample{Min: 10, Query: `sum(increase(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}",pod=~"{{ canaryPods }}"}[{{ interval }}]))`},
	})
	if err := in.Env.Client.Create(r.ctx, c); err != nil {
		r.t.Fatalf("create Canary: %v", err)
	}
	r.waitPhase(initTimeout, siskinv1.PhaseInitialized)

	// Users reach the pods through the StatefulSet's Service, round-robin: each pod gets a
	// fifth of them.
	host := fmt.Sprintf("%s.%s:%d", in.Name, in.Namespace, in.Port)
	users := in.Env.StartTraffic(r.ctx, host, 20, nil)
	rec := r.record()
	// Which pods run the new version, step by step: ceil(5*w/100) of the highest ordinals.
	updated := r.sample(func(ctx context.Context) (string, error) {
		pods, err := r.podsOf(ctx, "StatefulSet", in.Name)
		if err != nil {
			return "", err
		}
		var names []string
		for _, name := range sortedKeys(pods) {
			if envMap(pods[name].Spec.Containers[0].Env)["VERSION"] == "1.1.0" {
				names = append(names, name)
			}
		}
		return strings.Join(names, ","), nil
	})
	r.releaseWorkload(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: in.Name}}, map[string]string{"VERSION": "1.1.0"})
	r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded)
	snaps := r.snapshots(rec, siskinv1.PhaseSucceeded)
	if w := framework.Weights(snaps); !isSubsequence([]int32{20, 40, 60}, w) {
		r.fatalf("status weights went %v; expected the steps 20, 40, 60\n%s", w, framework.Format(snaps))
	}
	seen := updated.Stop()
	if want := []string{"", "web-4", "web-3,web-4", "web-2,web-3,web-4"}; !containsInOrder(want, seen) {
		r.fatalf("the pods on the new version went %q; expected %q, then all", seen, want)
	}
	t.Logf("pods on the new version went %q", seen)
	r.expectStatefulSet(replicas, "1.1.0", false)
	stats := users.Take()
	expectNoLoss(t, r, "during the StatefulSet's promotion", stats)
	t.Logf("users during the promotion: %s", stats)

	r.releaseWorkload(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: in.Name}}, map[string]string{"VERSION": "1.2.0", "ERROR_RATE": "0.5"})
	// The phase is still Succeeded from the last release until the new revision is noticed.
	r.waitPhase(initTimeout, siskinv1.PhaseProgressing)
	c = r.waitPhase(rolloutTimeout, siskinv1.PhaseFailed, siskinv1.PhaseSucceeded)
	if c.Status.Phase != siskinv1.PhaseFailed {
		r.fatalf("a StatefulSet release failing half its requests was promoted")
	}
	msg := readyMessage(c)
	t.Logf("rolled back: %s", msg)
	if !strings.Contains(msg, "pod-success-rate") {
		r.fatalf("rollback reason %q does not name pod-success-rate", msg)
	}
	users.Stop()
	r.expectStatefulSet(replicas, "1.1.0", true)
	for range 10 {
		resp, err := in.Env.Get(r.ctx, host, "/", nil)
		if err != nil || resp.Code != 200 || resp.Version != "1.1.0" {
			r.fatalf("after the rollback %s answered %d by %q (error %v); expected 200 by 1.1.0", host, resp.Code, resp.Version, err)
		}
	}
}

// expectStatefulSet waits until the StatefulSet's replicas pods are ready and all run version;
// rolledBack also wants every pod on the current (previous) revision and the partition at
// replicas, so that the template's new revision reaches no pod.
func (r *rig) expectStatefulSet(replicas int, version string, rolledBack bool) {
	r.t.Helper()
	var last string
	err := framework.Eventually(r.ctx, rolloutTimeout, fmt.Sprintf("StatefulSet %s: %d ready pods of %s", r.in.Name, replicas, version), func(ctx context.Context) (bool, error) {
		var sts appsv1.StatefulSet
		if err := r.in.Env.Client.Get(ctx, types.NamespacedName{Namespace: r.in.Namespace, Name: r.in.Name}, &sts); err != nil {
			return false, err
		}
		pods, err := r.podsOf(ctx, "StatefulSet", r.in.Name)
		if err != nil {
			return false, err
		}
		partition := int32(-1)
		if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
			partition = *ru.Partition
		}
		last = fmt.Sprintf("partition %d, currentRevision %s, updateRevision %s, pods:%s", partition, sts.Status.CurrentRevision, sts.Status.UpdateRevision, describePods(pods))
		if len(pods) != replicas {
			return false, nil
		}
		for _, p := range pods {
			if !podReady(p.Status.Conditions) || envMap(p.Spec.Containers[0].Env)["VERSION"] != version {
				return false, nil
			}
			if rolledBack && p.Labels[appsv1.ControllerRevisionHashLabelKey] != sts.Status.CurrentRevision {
				return false, nil
			}
		}
		return !rolledBack || partition == int32(replicas), nil
	})
	if err != nil {
		r.fatalf("%v; %s", err, last)
	}
}

// WorkerReplicas: a worker Deployment (no Service, no inbound traffic; each pod does jobs on
// its own and exports testapp_jobs_total, scraped by the environment's Prometheus with its pod
// name) rolled out by provider replicas: the canary Deployment runs ceil(primary*w/100) pods
// per step beside <name>-primary, judged by a MetricTemplate on the failed share of the
// canary pods' jobs. A good release is promoted; one failing half its jobs is rolled back.
func WorkerReplicas(t *testing.T, in Input) {
	in.Name = "worker"
	r := newRig(t, withoutRouter(in))
	r.createWorker(4, map[string]string{"VERSION": "1.0.0", "WORK_RATE": "20"})
	selector := `namespace="{{ namespace }}",pod=~"{{ canaryPods }}"`
	ref := r.metricTemplate("job-failure-rate", `
sum(rate(testapp_jobs_total{`+selector+`,result="failed"}[{{ interval }}]))
/
sum(rate(testapp_jobs_total{`+selector+`}[{{ interval }}]))
* 100`)
	c := r.replicasCanary(replicasProvider, "Deployment", []int32{25, 50}, siskinv1.CanaryMetric{
		Name: "job-failure-rate", Interval: "30s", TemplateRef: ref,
		ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr.To(5.0)},
		MinSample:      &siskinv1.CanaryMetricMinSample{Min: 20, Query: `sum(increase(testapp_jobs_total{` + selector + `}[{{ interval }}]))`},
	})
	if err := in.Env.Client.Create(r.ctx, c); err != nil {
		r.t.Fatalf("create Canary: %v", err)
	}
	r.waitPhase(initTimeout, siskinv1.PhaseInitialized)
	r.expectWorkerPods(in.Name+"-primary", 4, "1.0.0")

	rec := r.record()
	// The canary Deployment's replicas, step by step: ceil(4*w/100) beside the primary's four.
	replicas := r.sample(func(ctx context.Context) (string, error) {
		var d appsv1.Deployment
		if err := in.Env.Client.Get(ctx, types.NamespacedName{Namespace: in.Namespace, Name: in.Name}, &d); err != nil {
			return "", err
		}
		return fmt.Sprint(ptr.Deref(d.Spec.Replicas, 1)), nil
	})
	r.release(map[string]string{"VERSION": "1.1.0"})
	r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded)
	snaps := r.snapshots(rec, siskinv1.PhaseSucceeded)
	if w := framework.Weights(snaps); !isSubsequence([]int32{25, 50}, w) {
		r.fatalf("status weights went %v; expected the steps 25, 50\n%s", w, framework.Format(snaps))
	}
	seen := replicas.StopAt("0", 30*time.Second)
	if want := []string{"0", "1", "2", "0"}; !containsInOrder(want, seen) {
		r.fatalf("the canary Deployment's replicas went %v; expected %v", seen, want)
	}
	t.Logf("canary replicas went %v", seen)
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the promotion; expected 1.1.0", v)
	}
	r.expectWorkerPods(in.Name+"-primary", 4, "1.1.0")

	r.release(map[string]string{"VERSION": "1.2.0", "WORK_ERROR_RATE": "0.5"})
	// The phase is still Succeeded from the last release until the new revision is noticed.
	r.waitPhase(initTimeout, siskinv1.PhaseProgressing)
	c = r.waitPhase(rolloutTimeout, siskinv1.PhaseFailed, siskinv1.PhaseSucceeded)
	if c.Status.Phase != siskinv1.PhaseFailed {
		r.fatalf("a worker release failing half its jobs was promoted")
	}
	msg := readyMessage(c)
	t.Logf("rolled back: %s", msg)
	if !strings.Contains(msg, "job-failure-rate") {
		r.fatalf("rollback reason %q does not name job-failure-rate", msg)
	}
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the rollback; expected 1.1.0", v)
	}
	r.expectWorkerPods(in.Name+"-primary", 4, "1.1.0")
	r.eventually(initTimeout, "the canary Deployment scaled to zero", func(ctx context.Context) (bool, error) {
		var d appsv1.Deployment
		if err := in.Env.Client.Get(ctx, types.NamespacedName{Namespace: in.Namespace, Name: in.Name}, &d); err != nil {
			return false, err
		}
		return ptr.Deref(d.Spec.Replicas, 1) == 0 && d.Status.Replicas == 0, nil
	})
}

// expectWorkerPods waits until n pods of the Deployment name run version and Prometheus has
// their job counters (scraped with their pod names).
func (r *rig) expectWorkerPods(name string, n int, version string) {
	r.t.Helper()
	var last string
	err := framework.Eventually(r.ctx, initTimeout, fmt.Sprintf("%d worker pods of %s running %s, scraped", n, name, version), func(ctx context.Context) (bool, error) {
		var d appsv1.Deployment
		if err := r.in.Env.Client.Get(ctx, types.NamespacedName{Namespace: r.in.Namespace, Name: name}, &d); err != nil {
			return false, err
		}
		last = fmt.Sprintf("replicas %d updated %d ready %d", d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas)
		if envMap(d.Spec.Template.Spec.Containers[0].Env)["VERSION"] != version || d.Status.UpdatedReplicas != int32(n) ||
			d.Status.ReadyReplicas != int32(n) || d.Status.Replicas != int32(n) {
			return false, nil
		}
		v, err := r.query(ctx, fmt.Sprintf(`count(count by (pod) (testapp_jobs_total{namespace=%q,pod=~"%s-.*"}))`, r.in.Namespace, name))
		if err != nil {
			return false, err
		}
		last += fmt.Sprintf("; Prometheus has the counters of %v pods", v)
		return v >= float64(n), nil
	})
	if err != nil {
		r.fatalf("%v (%s)", err, last)
	}
}
