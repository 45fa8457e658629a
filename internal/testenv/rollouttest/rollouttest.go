// Package rollouttest runs Siskin's controller against a testenv API server and stands in for
// the parts of a cluster envtest lacks (the kubelet, Prometheus), with the objects rollout tests
// share: a podinfo Deployment and its Canary. It is for tests only: nothing that cmd/siskin is
// built from may import it.
//
// internal/controller's own tests keep their copies: they are package controller, which this
// package imports.
package rollouttest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/controller"
	"github.com/siskin-dev/siskin/internal/testenv"
)

// RunSuite is the body of a TestMain: it starts an API server, hands it and a client of it
// (cluster admin, no cache) to set, runs the tests and stops the server. name prefixes the
// errors it prints. It returns the exit code.
func RunSuite(m *testing.M, name string, set func(*testenv.Env, client.Client)) int {
	env, err := testenv.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	cl, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create client:", err)
		return 1
	}
	set(env, cl)
	return m.Run()
}

// CreateNamespace creates the namespace name and returns its name.
func CreateNamespace(t testing.TB, cl client.Client, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := cl.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// ControllerOptions tune the controller StartController runs.
type ControllerOptions struct {
	// Provider is the default provider; kubernetes when empty.
	Provider string
	// MetricsServer is the default Prometheus address; none when empty.
	MetricsServer string
	// Registry receives the controller's own metrics; a new registry when nil, so that
	// controllers started one after the other do not collide.
	Registry prometheus.Registerer
}

// StartController runs the real Siskin controller manager with cfg (copied), watching only
// namespace ns, until the test ends.
func StartController(t testing.TB, env *testenv.Env, ns string, o ControllerOptions) {
	t.Helper()
	if o.Provider == "" {
		o.Provider = siskinv1.ProviderKubernetes
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	mgr, err := ctrl.NewManager(rest.CopyConfig(env.Config), ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}, DefaultTransform: controller.TrimForCache},
		// Tests run a controller named "canary" each in the same process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := controller.New(mgr, controller.Options{
		DefaultProvider: o.Provider, MetricsServer: o.MetricsServer, Concurrency: 2, Registry: o.Registry,
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

// RunKubelet stands in for kube-controller-manager and the kubelet, which envtest lacks: every
// Deployment of namespace ns is reported, through cl, rolled out and available shortly (100 ms)
// after it changes, until the test ends.
func RunKubelet(t testing.TB, cl client.Client, ns string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for {
			list := &appsv1.DeploymentList{}
			if err := cl.List(ctx, list, client.InNamespace(ns)); err == nil {
				for i := range list.Items {
					markRolledOut(ctx, cl, &list.Items[i])
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

func markRolledOut(ctx context.Context, cl client.Client, d *appsv1.Deployment) {
	n := ptr.Deref(d.Spec.Replicas, 1)
	want := appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
	if st := d.Status; st.ObservedGeneration == want.ObservedGeneration && st.Replicas == n && st.UpdatedReplicas == n &&
		st.ReadyReplicas == n && st.AvailableReplicas == n {
		return
	}
	d.Status = want
	_ = cl.Status().Update(ctx, d)
}

// Podinfo is a two-replica Deployment named podinfo running image, the target of Canary.
func Podinfo(ns, image string) *appsv1.Deployment {
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

// Release changes the image of the podinfo Deployment of ns, through cl: a new revision.
func Release(t testing.TB, cl client.Client, ns, image string) {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, d); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].Image = image
	if err := cl.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
}

// Canary is a Canary without analysis on provider, whose target is the Deployment name,
// serving port 9898.
func Canary(ns, name, provider string) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: siskinv1.CanarySpec{
			Provider:  provider,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   siskinv1.CanaryService{Port: 9898},
		},
	}
}

// FakePrometheus answers every query, until the test ends, with an instant vector of one
// healthy success rate (99.5 to 99.8) that changes a little at each query, and returns its URL.
func FakePrometheus(t testing.TB) string {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v := 99.5 + 0.1*float64(n.Add(1)%4)
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"%.1f"]}]}}`, time.Now().Unix(), v)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// SyncBuffer is a bytes.Buffer that a command or server may write while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
