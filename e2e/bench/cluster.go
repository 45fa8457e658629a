package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/localenv/envfile"
	"github.com/siskin-dev/siskin/pkg/target"
)

// revisionAnnotation on the pod template makes each fleet-wide change a new revision.
const revisionAnnotation = "bench.siskin.dev/revision"

// workers is how many objects the bench creates or patches at once.
const workers = 16

// ensureEnv brings the local environment up unless it already runs, and reports whether it
// started it.
func ensureEnv(ctx context.Context, cfg config) (*envfile.Env, bool, error) {
	running, supervisor := false, 0
	if e, err := envfile.Read(cfg.stateDir); err == nil && e.Supervisor > 0 && syscall.Kill(e.Supervisor, 0) == nil {
		running, supervisor = true, e.Supervisor
	}
	if running {
		logf("using the local environment in %s", cfg.stateDir)
	} else {
		logf("starting the local environment in %s", cfg.stateDir)
	}
	cmd := exec.CommandContext(ctx, cfg.localenv, "up", "--state-dir", cfg.stateDir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, false, fmt.Errorf("localenv up: %w", err)
	}
	e, err := envfile.Read(cfg.stateDir)
	if err != nil {
		return nil, false, err
	}
	// A supervisor still exiting when it was checked (the last run's `localenv down` just
	// returned) is replaced by a new one, which this run started and must stop.
	return e, !running || e.Supervisor != supervisor, nil
}

// stopEnv runs `localenv down`; it takes no context, since it also runs when the bench is
// interrupted.
func stopEnv(cfg config) error {
	logf("stopping the local environment (logs stay in %s/logs)", cfg.stateDir)
	cmd := exec.CommandContext(context.Background(), cfg.localenv, "down", "--state-dir", cfg.stateDir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// cluster is the bench's own client; its requests are not the controller's.
type cluster struct {
	cfg    *rest.Config
	scheme *runtime.Scheme
	c      client.Client
}

func newCluster(env *envfile.Env) (*cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", env.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 300, 600
	cfg.UserAgent = "siskin-bench"
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := siskinv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return &cluster{cfg: cfg, scheme: scheme, c: c}, nil
}

func fleetNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("app-%04d", i)
	}
	return names
}

// deployment is a one-replica app with the shape of a real one: probes, a named port, env.
func deployment(ns, name string, testapp bool) *appsv1.Deployment {
	podLabels := map[string]string{"app": name, "bench.siskin.dev/fleet": "true"}
	if !testapp {
		podLabels["siskin.dev/testapp"] = "false"
	}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: map[string]string{revisionAnnotation: "0"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:           "podinfod",
					Image:          "ghcr.io/stefanprodan/podinfo:6.0.0",
					Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}},
					Env:            []corev1.EnvVar{{Name: "VERSION", Value: "6.0.0"}, {Name: "PODINFO_UI_MESSAGE", Value: name}},
					ReadinessProbe: probe("/readyz"),
					LivenessProbe:  probe("/healthz"),
				}}},
			},
		},
	}
}

// canaryFor analyses every revision with no metrics and no webhooks, so what is measured is
// the controller itself: istio shifts weight by stepWeight (a VirtualService write per step),
// kubernetes runs iterations (blue/green, status writes only).
func canaryFor(ns, name string, cfg *config) *siskinv1.Canary {
	a := &siskinv1.CanaryAnalysis{Interval: cfg.interval.String(), Threshold: 5}
	if cfg.provider == siskinv1.ProviderKubernetes {
		a.Iterations = cfg.iterations
	} else {
		a.StepWeight = cfg.stepWeight
		a.MaxWeight = ptr.To[int32](100)
	}
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: siskinv1.CanarySpec{
			Provider:  cfg.provider,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   siskinv1.CanaryService{Port: 9898},
			Analysis:  a,
		},
	}
}

func (cl *cluster) createNamespace(ctx context.Context, ns string) error {
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"bench.siskin.dev/fleet": "true"}}}
	if err := cl.c.Create(ctx, obj); err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return nil
}

// deleteNamespace deletes the namespace ns and waits until it is gone (its objects deleted,
// their finalizers run), at most timeout.
func (cl *cluster) deleteNamespace(ctx context.Context, ns string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if err := cl.c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	for {
		err := cl.c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s still there (%s): %w", ns, obj.Status.Phase, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

// create creates one object per name, several at once.
func (cl *cluster) create(ctx context.Context, names []string, build func(name string) client.Object) error {
	return forEach(ctx, names, func(ctx context.Context, name string) error {
		obj := build(name)
		if err := cl.c.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %T %s: %w", obj, name, err)
		}
		return nil
	})
}

// waitDeploymentsAvailable lists the namespace's Deployments every two seconds until all n
// are available.
func (cl *cluster) waitDeploymentsAvailable(ctx context.Context, ns string, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := time.Now()
	for {
		list := &appsv1.DeploymentList{}
		if err := cl.c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("list deployments: %w", err)
		}
		ready := 0
		for i := range list.Items {
			d := &list.Items[i]
			if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas >= 1 {
				ready++
			}
		}
		if ready >= n {
			return nil
		}
		if time.Since(last) >= 10*time.Second {
			logf("  %d/%d deployments available", ready, n)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d/%d deployments available: %w", ready, n, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

// patchRevision gives a Deployment's pod template a new revision. It returns when the request
// was sent, and the revision's fingerprint as the controller computes it (the Deployments read
// no configs), from the template the API server answered with.
func (cl *cluster) patchRevision(ctx context.Context, ns, name, rev string) (time.Time, string, error) {
	body := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, revisionAnnotation, rev)
	obj := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	sent := time.Now()
	if err := cl.c.Patch(ctx, obj, client.RawPatch(types.StrategicMergePatchType, body)); err != nil {
		return sent, "", fmt.Errorf("patch deployment %s: %w", name, err)
	}
	fp, err := target.Fingerprint(obj.Spec.Template, nil)
	if err != nil {
		return sent, "", fmt.Errorf("fingerprint deployment %s: %w", name, err)
	}
	return sent, fp, nil
}

// forEach runs fn for every name with a few workers and returns the first error.
func forEach(parent context.Context, names []string, fn func(ctx context.Context, name string) error) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	work := make(chan string)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range min(workers, len(names)) {
		wg.Go(func() {
			for name := range work {
				if err := fn(ctx, name); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					cancel()
				}
			}
		})
	}
feed:
	for _, name := range names {
		select {
		case work <- name:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return parent.Err()
}
