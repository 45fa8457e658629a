package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/controller"
	"github.com/siskin-dev/siskin/internal/testenv"
)

// update rewrites the golden files of testdata/: go test ./internal/cli/ -update.
var update = flag.Bool("update", false, "rewrite the golden files")

var (
	// env is the suite's API server; nil when its binaries are missing.
	env *testenv.Env
	// k8sClient talks to it directly.
	k8sClient client.Client
)

// TestMain starts a real API server with the CRDs. Tests that need a controller start the
// real one on their own namespace.
func TestMain(m *testing.M) {
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(logLevel())))
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cli suite:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if k8sClient, err = client.New(env.Config, client.Options{Scheme: env.Scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "create client:", err)
		return 1
	}
	return m.Run()
}

// testNow is the clock of commands whose output is compared with golden files.
var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// run runs kubectl-siskin with args against the suite's API server and returns its exit code
// and output.
func run(t *testing.T, now func() time.Time, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	code = runWith(context.Background(), now, &out, &errOut, args...)
	return code, out.String(), errOut.String()
}

// runWith runs kubectl-siskin with args until it ends or ctx is cancelled.
func runWith(ctx context.Context, now func() time.Time, out, errOut io.Writer, args ...string) int {
	o := &Options{
		Flags:      genericclioptions.NewConfigFlags(false),
		Streams:    genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut},
		Now:        now,
		RESTConfig: func() (*rest.Config, error) { return rest.CopyConfig(env.Config), nil },
		Terminal:   func() bool { return false },
	}
	return Execute(ctx, NewRoot(o), args, errOut)
}

// syncBuffer is a bytes.Buffer that a command may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newNamespace creates a namespace for one test; name is kept when given (golden output
// names it), else random.
func newNamespace(t *testing.T, name string) string {
	t.Helper()
	if name == "" {
		name = "t-" + rand.String(8)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// startController runs the real Siskin controller on namespace ns until the test ends.
func startController(t *testing.T, ns string) {
	t.Helper()
	mgr, err := ctrl.NewManager(rest.CopyConfig(env.Config), ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}, DefaultTransform: controller.TrimForCache},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := controller.New(mgr, controller.Options{
		DefaultProvider: siskinv1.ProviderKubernetes, Concurrency: 2, Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// runKubelet stands in for kube-controller-manager and the kubelet, which envtest lacks: each
// Deployment of ns is reported rolled out and available shortly after it changes.
func runKubelet(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			list := &appsv1.DeploymentList{}
			if err := k8sClient.List(ctx, list, client.InNamespace(ns)); err == nil {
				for i := range list.Items {
					d := &list.Items[i]
					n := ptr.Deref(d.Spec.Replicas, 1)
					want := appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
					if st := d.Status; st.ObservedGeneration != want.ObservedGeneration || st.Replicas != n || st.UpdatedReplicas != n || st.ReadyReplicas != n || st.AvailableReplicas != n {
						d.Status = want
						_ = k8sClient.Status().Update(ctx, d)
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

// analysisInterval is the shortest interval the controller accepts.
const analysisInterval = 10 * time.Second

// podinfo is a two-replica Deployment.
func podinfo(ns, image string) *appsv1.Deployment {
	labels := map[string]string{"app": "podinfo"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "podinfod", Image: image,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}},
				}}},
			},
		},
	}
}

// blueGreen is a Canary on the kubernetes provider: iterations analysis steps, then promotion.
func blueGreen(ns string, iterations int32, hooks ...siskinv1.CanaryWebhook) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderKubernetes,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   siskinv1.CanaryService{Port: 9898},
			Analysis: &siskinv1.CanaryAnalysis{
				Interval: analysisInterval.String(), Threshold: 1, Iterations: iterations, Webhooks: hooks,
			},
		},
	}
}

// setupRollout creates the target and Canary c and waits until the first revision is the
// primary.
func setupRollout(t *testing.T, ns string, c *siskinv1.Canary) {
	t.Helper()
	ctx := context.Background()
	if err := k8sClient.Create(ctx, podinfo(ns, "podinfo:6.0.0")); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitForCanary(t, client.ObjectKeyFromObject(c), "Initialized", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseInitialized
	})
}

// release changes the target's image: a new revision.
func release(t *testing.T, ns, img string) {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, d); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].Image = img
	if err := k8sClient.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
}

// waitForCanary polls the Canary until cond holds (test setup only; the plugin watches).
func waitForCanary(t *testing.T, key client.ObjectKey, what string, cond func(*siskinv1.Canary) bool) *siskinv1.Canary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := &siskinv1.Canary{}
	for {
		err := k8sClient.Get(ctx, key, got)
		if err == nil && cond(got) {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("canary %s never reached %s; last phase %s, conditions %+v (get error: %v)", key, what, got.Status.Phase, got.Status.Conditions, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logLevel keeps the controller quiet (its shutdown logs cancelled requests as errors), unless
// SISKIN_TEST_DEBUG is set.
func logLevel() zapcore.Level {
	if os.Getenv("SISKIN_TEST_DEBUG") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.DPanicLevel
}
