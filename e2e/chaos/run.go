package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// The Canary shape of the e2e rig: steps of 30% up to 60% every 10 s.
const (
	stepWeight = 30
	maxWeight  = 60
	appPort    = 9898
)

// release is one revision of one app.
type release struct {
	app     int
	version string
	// bad is "" for a good release, "errors" (ERROR_RATE 0.3) or "latency" (LATENCY_MS 800).
	bad string
}

// env is the container environment that makes the release.
func (r release) env() map[string]string {
	e := map[string]string{"VERSION": r.version, "ERROR_RATE": "", "LATENCY_MS": ""}
	switch r.bad {
	case "errors":
		e["ERROR_RATE"] = "0.3"
	case "latency":
		e["LATENCY_MS"] = "800"
	}
	return e
}

// plan picks the releases: n in all, spread round-robin over apps, about one in three bad,
// with at least one good and one bad release.
func plan(rng *rand.Rand, n, apps int) [][]release {
	out := make([][]release, apps)
	bads, goods := 0, 0
	for i := range n {
		a := i % apps
		r := release{app: a, version: fmt.Sprintf("1.%d.0", len(out[a])+1)}
		switch rng.IntN(6) {
		case 0:
			r.bad = "errors"
		case 1:
			r.bad = "latency"
		}
		// The last two releases guarantee the mix on short runs.
		if i == n-1 && bads == 0 {
			r.bad = "errors"
		}
		if i == n-1 && goods == 0 && n > 1 {
			r.bad = ""
		}
		if r.bad != "" {
			bads++
		} else {
			goods++
		}
		out[a] = append(out[a], r)
	}
	return out
}

func run(ctx context.Context, c config) (bool, error) {
	start := time.Now()
	loadStart := loadAverage()
	rng := rand.New(rand.NewPCG(uint64(c.seed), 0x5157))
	releases := plan(rng, c.rollouts, c.apps)
	if _, err := os.Stat(c.siskin); err != nil {
		return false, fmt.Errorf("%s: %w (run make build)", c.siskin, err)
	}
	logf("seed %d: %d rollouts over %d apps; bringing the local environment up in %s", c.seed, c.rollouts, c.apps, c.stateDir)
	env, err := framework.Up(ctx, framework.UpOptions{StateDir: c.stateDir, Loadtester: true, Progress: io.Discard})
	if !c.keep {
		defer func() {
			if err := env.Down(context.Background(), io.Discard); err != nil {
				logf("stopping the local environment: %v", err)
			}
		}()
	}
	if err != nil {
		return false, err
	}
	bin := filepath.Join(env.StateDir, "siskin")
	if err := copyFile(c.siskin, bin); err != nil {
		return false, err
	}
	ctrl, err := env.StartController(ctx, framework.ControllerOptions{
		Binary: bin, LogFile: filepath.Join(env.StateDir, "logs", "siskin.log"),
	})
	if err != nil {
		return false, err
	}
	defer func() { _ = ctrl.Stop() }()
	logf("environment up and controller ready in %s; logs in %s", time.Since(start).Round(time.Second), filepath.Join(env.StateDir, "logs"))

	runID := strconv.FormatInt(time.Now().Unix()%(36*36*36), 36)
	apps := make([]*app, c.apps)
	var wg sync.WaitGroup
	errs := make([]error, c.apps)
	for i := range apps {
		apps[i] = &app{ns: fmt.Sprintf("chaos-%s-%d", runID, i), name: "podinfo", promoted: "1.0.0"}
		wg.Go(func() { errs[i] = setUp(ctx, env, apps[i], i%2 == 1) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	logf("%d Canaries initialized and routed", len(apps))

	mon := newMonitor(env, apps)
	monCtx, stopMon := context.WithCancel(ctx)
	monDone := make(chan struct{})
	go func() { defer close(monDone); mon.run(monCtx) }()
	usersCtx, stopUsers := context.WithCancel(ctx)
	var users sync.WaitGroup
	for _, a := range apps {
		users.Go(func() { a.users(usersCtx, env, c.rps) })
	}

	faultCtx, stopFaults := context.WithCancel(ctx)
	inj := &injector{env: env, ctrl: ctrl, rng: rand.New(rand.NewPCG(uint64(c.seed), 0xfa17)), cfg: c}
	faultsDone := make(chan struct{})
	go func() { defer close(faultsDone); inj.run(faultCtx) }()

	rolloutStart := time.Now()
	var drivers sync.WaitGroup
	for i, a := range apps {
		drivers.Go(func() {
			drng := rand.New(rand.NewPCG(uint64(c.seed), uint64(i)))
			a.drive(ctx, env, releases[i], c.timeout, drng)
		})
	}
	drivers.Wait()
	rolloutWall := time.Since(rolloutStart)
	logf("all rollouts ended after %s; stopping the faults", rolloutWall.Round(time.Second))
	stopFaults()
	<-faultsDone
	// Quiet time: the controller settles (a last kill may have left a round to finish).
	time.Sleep(5 * time.Second)
	stopUsers()
	users.Wait()
	stopMon()
	<-monDone
	final := finalChecks(ctx, env, apps)

	rep := buildReport(c, apps, inj, mon, final, rolloutWall, time.Since(start), loadStart, env.StateDir)
	rep.print(os.Stdout)
	if c.out != "" {
		if err := rep.writeJSON(c.out); err != nil {
			return false, err
		}
	}
	return rep.ok(), ctx.Err()
}

// setUp creates the app's namespace, Deployment (version 1.0.0) and Canary, and waits until the
// Canary is initialized and the data plane serves the app's host. With apex, the Canary's load
// test goes through the apex Service, as users do, so that a bad release is caught only once
// the route sends it traffic; otherwise it is aimed at the canary Service, which catches a bad
// release at weight 0.
func setUp(ctx context.Context, env *framework.Env, a *app, apex bool) error {
	a.apexLoad = apex
	if err := env.CreateNamespace(ctx, a.ns); err != nil {
		return err
	}
	if err := env.CreateApp(ctx, framework.App{Namespace: a.ns, Name: a.name, Replicas: 2, Port: appPort, Env: map[string]string{"VERSION": "1.0.0"}}); err != nil {
		return err
	}
	if err := env.Client.Create(ctx, canary(env, a.ns, a.name, apex)); err != nil {
		return fmt.Errorf("create Canary %s/%s: %w", a.ns, a.name, err)
	}
	if _, err := env.WaitPhase(ctx, a.ns, a.name, 3*time.Minute, nil, siskinv1.PhaseInitialized); err != nil {
		return err
	}
	return framework.Eventually(ctx, 30*time.Second, "the data plane to serve "+a.host(), func(ctx context.Context) (bool, error) {
		r, err := env.Get(ctx, a.host(), "/", nil)
		return err == nil && r.Code == 200, nil
	})
}

// canary is the e2e rig's Canary: steps of 30% up to 60% every 10 s, threshold 2, the built-in
// metrics over 30 s with a minimum sample of 10, and a load test against the canary Service.
func canary(env *framework.Env, ns, name string, apex bool) *siskinv1.Canary {
	sample := &siskinv1.CanaryMetricMinSample{Min: 10}
	target := fmt.Sprintf("http://%s-canary.%s:%d/", name, ns, appPort)
	if apex {
		target = fmt.Sprintf("http://%s.%s:%d/", name, ns, appPort)
	}
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderIstio,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   framework.Istio.Service(env, ns, name, appPort),
			Analysis: &siskinv1.CanaryAnalysis{
				Interval:   "10s",
				Threshold:  2,
				StepWeight: stepWeight,
				MaxWeight:  ptr.To[int32](maxWeight),
				Metrics: []siskinv1.CanaryMetric{
					{Name: siskinv1.MetricRequestSuccessRate, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr.To(99.0)}, MinSample: sample},
					{Name: siskinv1.MetricRequestDuration, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr.To(500.0)}, MinSample: sample},
				},
				Webhooks: []siskinv1.CanaryWebhook{{
					Name: "load-test", Type: siskinv1.RolloutHook, URL: env.Info.Loadtester + "/", Timeout: "5s",
					Metadata: map[string]string{"cmd": "hey -z 3m -q 5 -c 2 " + target},
				}},
			},
		},
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("read %s: %w", from, err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", to, err)
	}
	return nil
}
