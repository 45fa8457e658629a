package controller

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv"
)

var (
	// env is the suite's API server.
	env *testenv.Env
	// k8sClient talks to it directly, without a cache.
	k8sClient client.Client
)

// TestMain starts a real API server and installs the CRDs. Each test runs its own controller
// on its own namespace, so tests run in parallel without seeing each other's Canaries.
func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(testLogLevel())))
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration suite:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	k8sClient, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create client:", err)
		return 1
	}
	return m.Run()
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "t-" + rand.String(8)}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// controllerOptions tune a test's controller.
type controllerOptions struct {
	provider      string
	metricsServer string
	// maxCanaries is --max-concurrent-canaries.
	maxCanaries int
	// wrapConfig lets a test count the controller's API requests.
	wrapConfig func(*rest.Config)
	// intercept, when set, injects faults into the controller's client (reads and writes).
	intercept *interceptor.Funcs
	// leaderElection, when set, is the Lease (in the test's namespace) the manager must hold.
	leaderElection string
	// adoptFlaggerNamespaces is --adopt-flagger-namespaces.
	adoptFlaggerNamespaces []string
}

// startController runs a Siskin manager that watches only namespace ns, until the returned
// stop function is called or the test ends.
func startController(t *testing.T, ns string, o controllerOptions) (stop func()) {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	if o.wrapConfig != nil {
		o.wrapConfig(cfg)
	}
	if o.provider == "" {
		o.provider = siskinv1.ProviderKubernetes
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}, DefaultTransform: TrimForCache},
		// Every test runs a controller named "canary" in the same process.
		Controller:                    config.Controller{SkipNameValidation: ptr.To(true)},
		LeaderElection:                o.leaderElection != "",
		LeaderElectionID:              o.leaderElection,
		LeaderElectionNamespace:       ns,
		LeaderElectionReleaseOnCancel: false,
		LeaseDuration:                 ptr.To(3 * time.Second),
		RenewDeadline:                 ptr.To(2 * time.Second),
		RetryPeriod:                   ptr.To(500 * time.Millisecond),
		NewClient: func(cfg *rest.Config, opts client.Options) (client.Client, error) {
			if o.intercept == nil {
				return client.New(cfg, opts)
			}
			c, err := client.NewWithWatch(cfg, opts)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, *o.intercept), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(mgr, Options{
		DefaultProvider: o.provider, MetricsServer: o.metricsServer, Concurrency: 2,
		MaxConcurrentCanaries: o.maxCanaries, AdoptFlaggerNamespaces: o.adoptFlaggerNamespaces,
		Registry: prometheus.NewRegistry(),
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
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	return stop
}

// testLogLevel is warn, or debug with SISKIN_TEST_DEBUG=1.
func testLogLevel() zapcore.Level {
	if os.Getenv("SISKIN_TEST_DEBUG") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.WarnLevel
}
