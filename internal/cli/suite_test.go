package cli

import (
	"context"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
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
	return rollouttest.RunSuite(m, "cli suite", func(e *testenv.Env, c client.Client) { env, k8sClient = e, c })
}

// testNow is the clock of commands whose output is compared with golden files.
var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// run runs kubectl-siskin with args against the suite's API server and returns its exit code
// and output.
func run(t *testing.T, now func() time.Time, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut rollouttest.SyncBuffer
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

// newNamespace creates a namespace for one test; name is kept when given (golden output
// names it), else random.
func newNamespace(t *testing.T, name string) string {
	t.Helper()
	if name == "" {
		name = "t-" + rand.String(8)
	}
	return rollouttest.CreateNamespace(t, k8sClient, name)
}

// analysisInterval is the shortest interval the controller accepts.
const analysisInterval = 10 * time.Second

// blueGreen is a Canary on the kubernetes provider: iterations analysis steps, then promotion.
func blueGreen(ns string, iterations int32, hooks ...siskinv1.CanaryWebhook) *siskinv1.Canary {
	c := rollouttest.Canary(ns, "podinfo", siskinv1.ProviderKubernetes)
	c.Spec.Analysis = &siskinv1.CanaryAnalysis{
		Interval: analysisInterval.String(), Threshold: 1, Iterations: iterations, Webhooks: hooks,
	}
	return c
}

// setupRollout creates the target and Canary c and waits until the first revision is the
// primary.
func setupRollout(t *testing.T, ns string, c *siskinv1.Canary) {
	t.Helper()
	ctx := context.Background()
	if err := k8sClient.Create(ctx, rollouttest.Podinfo(ns, "podinfo:6.0.0")); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitForCanary(t, client.ObjectKeyFromObject(c), "Initialized", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseInitialized
	})
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
