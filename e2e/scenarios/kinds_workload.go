//go:build e2e

package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/siskin-dev/siskin/e2e/framework"
)

// The workloads of the target-kind scenarios (kinds.go) besides a Deployment: a DaemonSet, a
// StatefulSet with its headless Service, and a worker Deployment. Each runs the test app's pod
// template, as framework.App makes it for a Deployment.

// workerMetricsPort is the port a worker pod serves its /metrics on.
const workerMetricsPort = 9797

// template returns the test app's pod template with env, labelled app=name.
func (r *rig) template(name string, env map[string]string) corev1.PodTemplateSpec {
	a := framework.App{Namespace: r.in.Namespace, Name: name, Port: r.in.Port, Env: env}
	return a.Deployment().Spec.Template
}

// createDaemonSet creates the app as a DaemonSet named in.Name: a pod on every node.
func (r *rig) createDaemonSet(env map[string]string) {
	r.t.Helper()
	labels := map[string]string{"app": r.in.Name}
	r.createObject(&appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.in.Namespace, Name: r.in.Name, Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: r.template(r.in.Name, env),
		},
	})
}

// createStatefulSet creates the app as a StatefulSet named in.Name of replicas pods (started in
// parallel) with its headless Service of the same name.
func (r *rig) createStatefulSet(replicas int32, env map[string]string) {
	r.t.Helper()
	labels := map[string]string{"app": r.in.Name}
	r.createObject(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.in.Namespace, Name: r.in.Name, Labels: labels},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  labels,
			Ports:     []corev1.ServicePort{{Name: "http", Port: r.in.Port, Protocol: corev1.ProtocolTCP}},
		},
	})
	r.createObject(&appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.in.Namespace, Name: r.in.Name, Labels: labels},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         r.in.Name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template:            r.template(r.in.Name, env),
		},
	})
}

// createWorker creates the app as a worker Deployment named in.Name: no Service, no inbound
// traffic; its pods do jobs on their own (env WORK_RATE, WORK_ERROR_RATE) and ask Prometheus to
// scrape their /metrics.
func (r *rig) createWorker(replicas int32, env map[string]string) {
	r.t.Helper()
	d := framework.App{Namespace: r.in.Namespace, Name: r.in.Name, Replicas: replicas, Port: workerMetricsPort, Env: env}.Deployment()
	d.Spec.Template.Annotations = map[string]string{
		"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(workerMetricsPort),
	}
	d.Spec.Template.Spec.Containers[0].Ports[0].Name = "metrics"
	r.createObject(d)
}

func (r *rig) createObject(o client.Object) {
	r.t.Helper()
	if err := r.in.Env.Client.Create(r.ctx, o); err != nil {
		r.t.Fatalf("create %T %s: %v", o, o.GetName(), err)
	}
}

// podTemplate returns the pod template of a DaemonSet, a StatefulSet or a Deployment.
func podTemplate(o client.Object) *corev1.PodTemplateSpec {
	switch w := o.(type) {
	case *appsv1.DaemonSet:
		return &w.Spec.Template
	case *appsv1.StatefulSet:
		return &w.Spec.Template
	case *appsv1.Deployment:
		return &w.Spec.Template
	}
	panic(fmt.Sprintf("no pod template in %T", o))
}

// releaseWorkload changes the environment of a workload's first container (a new revision),
// as `kubectl set env` does: each key set to its value, or removed when the value is empty.
func (r *rig) releaseWorkload(o client.Object, env map[string]string) {
	r.t.Helper()
	key := types.NamespacedName{Namespace: r.in.Namespace, Name: o.GetName()}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := r.in.Env.Client.Get(r.ctx, key, o); err != nil {
			return err
		}
		c := &podTemplate(o).Spec.Containers[0]
		cur := envMap(c.Env)
		for k, v := range env {
			if v == "" {
				delete(cur, k)
			} else {
				cur[k] = v
			}
		}
		c.Env = framework.App{Env: cur}.Deployment().Spec.Template.Spec.Containers[0].Env
		return r.in.Env.Client.Update(r.ctx, o)
	})
	if err != nil {
		r.t.Fatalf("release %T %s: %v", o, key, err)
	}
}

func envMap(env []corev1.EnvVar) map[string]string {
	out := map[string]string{}
	for _, e := range env {
		out[e.Name] = e.Value
	}
	return out
}

// podsOf returns the pods of the namespace whose controller is the workload kind/name, by name.
func (r *rig) podsOf(ctx context.Context, kind, name string) (map[string]corev1.Pod, error) {
	var pods corev1.PodList
	if err := r.in.Env.Client.List(ctx, &pods, client.InNamespace(r.in.Namespace)); err != nil {
		return nil, err
	}
	out := map[string]corev1.Pod{}
	for _, p := range pods.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.Kind == kind && ref.Name == name && p.DeletionTimestamp == nil {
			out[p.Name] = p
		}
	}
	return out, nil
}

// describePods renders pods for a failure message: name, node, phase, VERSION and revision.
func describePods(pods map[string]corev1.Pod) string {
	var b strings.Builder
	for _, name := range sortedKeys(pods) {
		p := pods[name]
		env := envMap(p.Spec.Containers[0].Env)
		fmt.Fprintf(&b, "\n  %s node=%s phase=%s version=%s revision=%s", p.Name, p.Spec.NodeName, p.Status.Phase, env["VERSION"], p.Labels[appsv1.ControllerRevisionHashLabelKey])
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// eventually waits until cond holds and fails the test with a diagnosis if it does not.
func (r *rig) eventually(timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	r.t.Helper()
	if err := framework.Eventually(r.ctx, timeout, what, cond); err != nil {
		r.fatalf("%v", err)
	}
}

func podReady(conds []corev1.PodCondition) bool {
	for _, c := range conds {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// query returns the value of a PromQL query of one sample from the environment's Prometheus,
// and 0 when the result is empty.
func (r *rig) query(ctx context.Context, q string) (float64, error) {
	u := r.in.Env.Info.Prometheus + "/api/v1/query?" + url.Values{"query": {q}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("query Prometheus: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return 0, fmt.Errorf("query Prometheus: %w", err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query Prometheus %q: %s", q, body.Error)
	}
	if len(body.Data.Result) == 0 {
		return 0, nil
	}
	v, _ := body.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(v, 64)
}

// scaledObject returns a KEDA ScaledObject (unstructured: KEDA's Go types are no dependency).
func scaledObject(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("keda.sh/v1alpha1")
	u.SetKind("ScaledObject")
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// sampler records what observe returns every 200 ms, dropping repeats, until it is stopped.
type sampler struct {
	stop func()
	done chan struct{}
	mu   sync.Mutex
	seen []string
}

// sample starts a sampler; errors are skipped (the next sample tries again).
func (r *rig) sample(observe func(ctx context.Context) (string, error)) *sampler {
	ctx, cancel := context.WithCancel(r.ctx)
	s := &sampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			if v, err := observe(ctx); err == nil {
				s.mu.Lock()
				if len(s.seen) == 0 || s.seen[len(s.seen)-1] != v {
					s.seen = append(s.seen, v)
				}
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	r.t.Cleanup(cancel)
	return s
}

// Stop stops the sampler and returns the distinct values it saw, in order.
func (s *sampler) Stop() []string {
	s.stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// StopAt samples on until the last value seen is want, or for at most timeout, then stops:
// a phase is written before the actions of its round, so the state those actions reach can
// follow the phase a waiter saw (Succeeded, then the canary scaled to zero).
func (s *sampler) StopAt(want string, timeout time.Duration) []string {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		s.mu.Lock()
		last := ""
		if len(s.seen) > 0 {
			last = s.seen[len(s.seen)-1]
		}
		s.mu.Unlock()
		if last == want {
			break
		}
	}
	return s.Stop()
}

// containsInOrder reports whether want appears in got in order, possibly with other values
// between.
func containsInOrder(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
