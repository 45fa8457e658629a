// Command demo walks a newcomer through Siskin on a throwaway local cluster: it brings up the
// local environment, starts the controller, puts a Canary in front of a podinfo Deployment,
// releases a good version and shows it promoted step by step, releases a bad one and shows it
// rolled back, then tears everything down. `make demo` runs it after building what it needs.
//
// It exits 0 when both outcomes are as expected, 1 when not, and 130 when interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
	"github.com/siskin-dev/siskin/e2e/localenv/envfile"
)

const (
	stateDir  = ".state/demo"
	namespace = "test"
	app       = "podinfo"
	port      = 9898
	// usersRPS is the rate of the simulated users who call the app through the mesh.
	usersRPS = 10
)

func main() { os.Exit(run()) }

// demo prints lines stamped with the time since the start.
type demo struct {
	start time.Time
	mu    sync.Mutex
	out   io.Writer
}

func (d *demo) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, _ = fmt.Fprintf(d.out, "[%6.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

// section prints a heading.
func (d *demo) section(title string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, _ = fmt.Fprintf(d.out, "\n[%6.1fs] ==== %s ====\n", time.Since(d.start).Seconds(), title)
}

// writer returns an io.Writer that stamps each line it receives and indents it after prefix.
func (d *demo) writer(prefix string) io.Writer { return &lineWriter{d: d, prefix: prefix} }

type lineWriter struct {
	d      *demo
	prefix string
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.d.printf("%s%s", w.prefix, strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
}

// outcome is what one release did, for the summary.
type outcome struct {
	version string
	phase   siskinv1.CanaryPhase
	took    time.Duration
	weights []int32
	// maxWeight is the highest canary weight seen.
	maxWeight int32
	message   string
	primary   string
	users     framework.TrafficStats
	problems  []string
}

func run() (code int) {
	d := &demo{start: time.Now(), out: os.Stdout}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	d.printf("Siskin demo: a canary release promoted, then a bad one rolled back (about 3 minutes).")
	d.printf("Press Ctrl-C at any time; everything started here is stopped on the way out.")

	repo, err := framework.RepoRoot()
	if err != nil {
		d.printf("ERROR: %v", err)
		return 1
	}
	var (
		env  *framework.Env
		ctrl *framework.Controller
		// finish prints the summary once everything is torn down.
		finish func() int
	)
	defer func() {
		d.teardown(env, ctrl)
		if finish != nil {
			code = finish()
		}
	}()
	d.cleanPrevious(ctx, repo)

	d.section("1. Local environment")
	d.printf("Kubernetes built from source (etcd, kube-apiserver, controller-manager, scheduler), kwok as the")
	d.printf("kubelet, a mesh stand-in (the data plane), Prometheus scraping it every second, a Slack sink and")
	d.printf("Siskin's load tester. State and logs in %s.", stateDir)
	env, err = framework.Up(ctx, framework.UpOptions{Repo: repo, StateDir: stateDir, Loadtester: true, Progress: d.writer("  localenv | ")})
	if err != nil {
		return d.fail(ctx, err)
	}
	envUp := time.Since(d.start)

	d.section("2. Siskin")
	ctrl, err = env.StartController(ctx, framework.ControllerOptions{
		LogFile:  filepath.Join(env.StateDir, "siskin.log"),
		Provider: siskinv1.ProviderIstio,
	})
	if err != nil {
		return d.fail(ctx, err)
	}
	d.printf("bin/siskin is running: provider istio, metrics from %s, Slack to the sink", env.Info.Prometheus)
	d.printf("its log: %s", rel(repo, ctrl.LogFile()))

	d.section("3. The app and its Canary")
	if err := setUp(ctx, d, env, ctrl); err != nil {
		return d.fail(ctx, err)
	}
	users := env.StartTraffic(ctx, framework.Istio.Host(namespace, app, port), usersRPS, nil)
	defer users.Stop()
	d.printf("users: %d requests a second to http://%s/ through the mesh", usersRPS, framework.Istio.Host(namespace, app, port))

	w := &watcher{d: d, env: env, users: users}
	if err := w.init(ctx); err != nil {
		return d.fail(ctx, err)
	}

	d.section("4. Release 1.1.0, a good version")
	d.printf("kubectl -n test set env deploy/podinfo VERSION=1.1.0")
	good := w.release(ctx, "1.1.0", map[string]string{"VERSION": "1.1.0"}, siskinv1.PhaseSucceeded)
	if ctx.Err() != nil {
		return d.interrupted()
	}
	w.checkGood(ctx, good)

	d.section("5. Release 1.2.0, a bad version: 30% of its answers are errors")
	d.printf("kubectl -n test set env deploy/podinfo VERSION=1.2.0 ERROR_RATE=0.3")
	bad := w.release(ctx, "1.2.0", map[string]string{"VERSION": "1.2.0", "ERROR_RATE": "0.3"}, siskinv1.PhaseFailed)
	if ctx.Err() != nil {
		return d.interrupted()
	}
	w.checkBad(ctx, bad)

	d.section("6. The same Canary through the kubectl plugin")
	d.plugin(ctx, repo, env, "get", "canary", app)
	slack, _ := env.SlackMessages(ctx, namespace, app)
	finish = func() int { return d.summary(repo, env, ctrl, envUp, good, bad, len(slack)) }
	return 0
}

// plugin runs bin/kubectl-siskin against the environment, printing the command and its output.
// The plugin is built by `make demo`; without it the step says how to build it.
func (d *demo) plugin(ctx context.Context, repo string, env *framework.Env, args ...string) {
	bin := filepath.Join(repo, "bin", "kubectl-siskin")
	d.printf("kubectl siskin -n %s %s", namespace, strings.Join(args, " "))
	if _, err := os.Stat(bin); err != nil {
		d.printf("  (bin/kubectl-siskin is not built: run `make plugin`)")
		return
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", env.Info.Kubeconfig, "-n", namespace}, args...)...)
	cmd.Stdout, cmd.Stderr = d.writer("  "), d.writer("  ")
	if err := cmd.Run(); err != nil {
		d.printf("  kubectl siskin: %v", err)
	}
}

// teardown stops the controller and the environment; either may be nil.
func (d *demo) teardown(env *framework.Env, ctrl *framework.Controller) {
	d.section("Tearing down")
	if err := ctrl.Stop(); err != nil {
		d.printf("stopping siskin: %v", err)
	} else if ctrl != nil {
		d.printf("siskin stopped")
	}
	if env != nil {
		// Not the run's context: a Ctrl-C has cancelled that one, and this must still happen.
		if err := env.Down(context.Background(), d.writer("  localenv | ")); err != nil {
			d.printf("ERROR: %v", err)
		}
	}
}

// cleanPrevious stops an environment that an earlier, killed demo left running, so that this
// one starts from scratch.
func (d *demo) cleanPrevious(ctx context.Context, repo string) {
	abs := filepath.Join(repo, stateDir)
	info, err := envfile.Read(abs)
	if err != nil || info.Supervisor <= 0 || syscall.Kill(info.Supervisor, 0) != nil {
		return
	}
	d.printf("stopping what a previous demo left in %s", stateDir)
	old := &framework.Env{Repo: repo, StateDir: abs}
	if err := old.Down(ctx, d.writer("  localenv | ")); err != nil {
		d.printf("warning: %v", err)
	}
}

// setUp creates the namespace, the Deployment and the Canary, and waits for Initialized.
func setUp(ctx context.Context, d *demo, env *framework.Env, ctrl *framework.Controller) error {
	if err := env.CreateNamespace(ctx, namespace); err != nil {
		return err
	}
	if err := env.CreateApp(ctx, framework.App{Namespace: namespace, Name: app, Replicas: 2, Port: port, Env: map[string]string{"VERSION": "1.0.0"}}); err != nil {
		return err
	}
	d.printf("Deployment test/podinfo: 2 pods of the test app, VERSION=1.0.0, port %d", port)
	if err := env.Client.Create(ctx, demoCanary(env)); err != nil {
		return fmt.Errorf("create Canary: %w", err)
	}
	d.printf("Canary test/podinfo: istio; every 10s a step of +20%% traffic up to 60%%, then promotion;")
	d.printf("  checks: request-success-rate >= 99%% and request-duration (p99) <= 500ms over 30s, judged once")
	d.printf("  20 requests are in the window; 2 failed checks roll back; webhooks: an open confirm-rollout")
	d.printf("  gate and a load test (10 req/s to podinfo-canary through the mesh) from the load tester")
	c, err := env.WaitPhase(ctx, namespace, app, 90*time.Second, ctrl, siskinv1.PhaseInitialized)
	if err != nil {
		return err
	}
	d.printf("Canary Initialized: %s", condMessage(c))
	d.printf("Siskin created podinfo-primary (serving users), Services podinfo, podinfo-primary and")
	d.printf("podinfo-canary, and the VirtualService podinfo; Deployment podinfo waits at 0 replicas")
	if r, err := env.Route(ctx, siskinv1.ProviderIstio, namespace, app); err == nil {
		d.printf("route: %s", weights(r))
	}
	return nil
}

func demoCanary(env *framework.Env) *siskinv1.Canary {
	lt := env.Info.Loadtester
	sample := &siskinv1.CanaryMetricMinSample{Min: 20}
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: namespace},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderIstio,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: app},
			Service:   siskinv1.CanaryService{Port: port},
			Analysis: &siskinv1.CanaryAnalysis{
				Interval:   "10s",
				Threshold:  2,
				StepWeight: 20,
				MaxWeight:  ptr.To[int32](60),
				Metrics: []siskinv1.CanaryMetric{
					{Name: siskinv1.MetricRequestSuccessRate, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr.To(99.0)}, MinSample: sample},
					{Name: siskinv1.MetricRequestDuration, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr.To(500.0)}, MinSample: sample},
				},
				Webhooks: []siskinv1.CanaryWebhook{
					{Name: "approve-rollout", Type: siskinv1.ConfirmRolloutHook, URL: lt + "/gate/approve"},
					{Name: "load-test", Type: siskinv1.RolloutHook, URL: lt + "/", Timeout: "5s", Metadata: map[string]string{
						"cmd": fmt.Sprintf("hey -z 2m -q 5 -c 2 http://%s-canary.%s:%d/", app, namespace, port),
					}},
				},
			},
		},
	}
}

func (d *demo) fail(ctx context.Context, err error) int {
	if ctx.Err() != nil {
		return d.interrupted()
	}
	d.printf("ERROR: %v", err)
	d.printf("DEMO FAILED")
	return 1
}

func (d *demo) interrupted() int {
	d.printf("interrupted")
	return 130
}

func condMessage(c *siskinv1.Canary) string {
	if cond := framework.Condition(c, siskinv1.ConditionReady); cond != nil && cond.Message != "" {
		return cond.Message
	}
	return string(c.Status.Phase)
}

func rel(repo, path string) string {
	if r, err := filepath.Rel(repo, path); err == nil {
		return r
	}
	return path
}

// errorsJoin joins problems into one error, or nil.
func errorsJoin(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}
