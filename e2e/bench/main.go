// Command bench measures the Siskin controller at scale on the local environment (see
// docs/bench.md): API requests per canary at rest and while analysing, CPU and peak memory,
// lateness of analysis steps, the reaction to a Deployment update, and how long a fleet-wide
// change takes against its ideal schedule.
//
//	go run ./e2e/bench -n 100,1000 [-out bench.json]
//
// For each N it creates N Deployments (kwok pods) and N Canaries in a namespace of their own,
// starts bin/siskin against them, and watches the Canaries. The environment is started with
// `bin/localenv up --state-dir .state/bench` unless it is already up, and stopped at the end
// when the bench started it (-keep leaves it running).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// config is what the flags set.
type config struct {
	sizes      []int
	out        string
	stateDir   string
	siskin     string
	localenv   string
	keep       bool
	provider   string
	interval   time.Duration
	stepWeight int32
	iterations int32
	rest       time.Duration
	reactions  int
	// canaryBatch creates the Canaries this many at a time (0: all at once).
	canaryBatch int
	concurrent  int
	qps         int
	burst       int
	// maxConcurrent is the --max-concurrent-canaries of the second fleet-wide change: 0 means
	// half the fleet, -1 skips that run. It only runs when bin/siskin has the flag.
	maxConcurrent int
	// unlimited runs the fleet-wide change without a concurrency limit first.
	unlimited  bool
	siskinArgs []string
	testapp    bool
	timeout    time.Duration
	budget     time.Duration
	profileDir string
	// controllers are siskin and the peers measured in the same run (peers.go); with siskin
	// alone the bench runs as before.
	controllers []string
	peersDir    string
	// floor measures the control plane alone instead of a controller (floor.go).
	floor bool
	// floorWrites adds the status, route and event writes to the floor.
	floorWrites bool
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	sizes := fs.String("n", "100", "comma-separated fleet sizes to run, in order (e.g. 100,1000)")
	fs.StringVar(&c.out, "out", "", "write the results as JSON to this file as well")
	fs.StringVar(&c.stateDir, "state-dir", ".state/bench", "state directory of the local environment")
	fs.StringVar(&c.siskin, "siskin", "bin/siskin", "controller binary (make build)")
	fs.StringVar(&c.localenv, "localenv", "bin/localenv", "local environment binary (make localenv)")
	fs.BoolVar(&c.keep, "keep", false, "leave the local environment running at the end if the bench started it, and, when controllers are compared, each one's fleet in place after its run")
	fs.StringVar(&c.provider, "provider", "istio", "router provider of the Canaries: istio (stepWeight) or kubernetes (iterations)")
	fs.DurationVar(&c.interval, "interval", 10*time.Second, "analysis interval (10s is the minimum)")
	stepWeight := fs.Int("step-weight", 25, "istio: stepWeight; promotion follows the step that reaches 100")
	iterations := fs.Int("iterations", 4, "kubernetes: analysis iterations before promotion")
	fs.DurationVar(&c.rest, "rest", 60*time.Second, "how long the at-rest window lasts (at least 60s)")
	fs.IntVar(&c.canaryBatch, "canary-batch", 0, "keep at most this many Canaries initializing: the first batch before the controller starts, then half a batch whenever half a batch or fewer of those created are still initializing (0: all before the controller starts); for sizes whose initialization at once outruns the local control plane")
	fs.IntVar(&c.reactions, "m", 20, "Deployments patched one by one to measure the reaction")
	fs.IntVar(&c.concurrent, "concurrent", 16, "siskin --concurrent")
	fs.IntVar(&c.qps, "qps", 500, "siskin --kube-api-qps")
	fs.IntVar(&c.burst, "burst", 1000, "siskin --kube-api-burst")
	fs.BoolVar(&c.unlimited, "unlimited", true, "run a fleet-wide change without a concurrency limit before the one with --max-concurrent-canaries (false: only the latter, for sizes where the former cannot finish within the budget)")
	fs.IntVar(&c.maxConcurrent, "max-concurrent", 0, "--max-concurrent-canaries of the second fleet-wide change (0: N/2, -1: skip); only if bin/siskin has the flag")
	extra := fs.String("siskin-args", "", "extra space-separated flags for bin/siskin")
	fs.BoolVar(&c.testapp, "testapp", false, "let the local environment's test app serve the pods (off: pods are labelled siskin.dev/testapp=false)")
	fs.DurationVar(&c.timeout, "timeout", 12*time.Minute, "limit of each wait (deployments ready, canaries initialized, fleet change done)")
	fs.DurationVar(&c.budget, "budget", 14*time.Minute, "time limit of each fleet size: a fleet-wide change still running at the limit is reported as incomplete")
	fs.StringVar(&c.profileDir, "profile-dir", "", "write CPU and heap profiles of the controller here during the fleet-wide change, if it serves pprof (--pprof-bind-address)")
	controllers := fs.String("controllers", "siskin", "controllers to measure in the same run, side by side: some of siskin,flagger,argo (peers from make peers)")
	fs.StringVar(&c.peersDir, "peers-dir", "bin/peers", "where make peers puts the peers' binaries and CRDs")
	fs.BoolVar(&c.floor, "floor", false, "run no controller: measure what the control plane alone takes for the same fleet-wide change, with only the Deployment writes a canary rollout needs (a floor under any controller; docs/bench.md)")
	fs.BoolVar(&c.floorWrites, "floor-writes", false, "with -floor: also make the status, route and event writes Siskin makes for a rollout, at the same moments, to inert Canaries and VirtualServices")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.controllers, err = parseControllers(*controllers); err != nil {
		return c, err
	}
	if !slices.Equal(c.controllers, []string{ctlSiskin}) && c.provider != "istio" {
		return c, fmt.Errorf("-controllers %s: the peers are compared on provider istio only", *controllers)
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return c, fmt.Errorf("-n %q: want positive integers separated by commas", *sizes)
		}
		c.sizes = append(c.sizes, n)
	}
	c.stepWeight, c.iterations = int32(*stepWeight), int32(*iterations)
	c.siskinArgs = strings.Fields(*extra)
	switch {
	case c.provider != "istio" && c.provider != "kubernetes":
		return c, fmt.Errorf("-provider %q: want istio or kubernetes", c.provider)
	case c.interval < 10*time.Second:
		return c, fmt.Errorf("-interval %s is below the minimum of 10s", c.interval)
	case c.provider == "istio" && (c.stepWeight <= 0 || c.stepWeight > 100):
		return c, fmt.Errorf("-step-weight %d: want 1..100", c.stepWeight)
	case c.provider == "kubernetes" && c.iterations <= 0:
		return c, fmt.Errorf("-iterations %d: want at least 1", c.iterations)
	case c.canaryBatch < 0:
		return c, fmt.Errorf("-canary-batch %d: want 0 (all at once) or more", c.canaryBatch)
	case c.canaryBatch > 0 && !slices.Equal(c.controllers, []string{ctlSiskin}):
		return c, fmt.Errorf("-canary-batch applies to the scale bench of Siskin alone, not to -controllers %s", *controllers)
	case c.floorWrites && !c.floor:
		return c, fmt.Errorf("-floor-writes goes with -floor")
	case c.floor && (!slices.Equal(c.controllers, []string{ctlSiskin}) || c.provider != "istio" || c.canaryBatch > 0):
		return c, fmt.Errorf("-floor runs no controller: it takes none of -controllers, -provider kubernetes or -canary-batch")
	case c.rest < 60*time.Second:
		return c, fmt.Errorf("-rest %s: the at-rest window must be at least 60s", c.rest)
	}
	for _, p := range []*string{&c.stateDir, &c.siskin, &c.localenv, &c.out, &c.profileDir, &c.peersDir} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return c, err
		}
		*p = abs
	}
	return c, nil
}

// stepsPerRollout is the number of analysis steps from the start of a rollout to the one that
// starts the promotion: each weight step (or iteration), plus the promoting step.
func (c *config) stepsPerRollout() int {
	if c.provider == "kubernetes" {
		return int(c.iterations) + 1
	}
	return int((100+c.stepWeight-1)/c.stepWeight) + 1
}

// idealRollout is how long a rollout takes on a perfect controller: one interval per step, and a
// promotion that takes no time (kwok pods are ready at once).
func (c *config) idealRollout() time.Duration {
	return time.Duration(c.stepsPerRollout()) * c.interval
}

func run(ctx context.Context, cfg config) error {
	if _, err := os.Stat(cfg.localenv); err != nil {
		return fmt.Errorf("%s: %w (run make localenv)", cfg.localenv, err)
	}
	var feats features
	if !cfg.floor {
		var err error
		if feats, err = controllerFeatures(ctx, cfg); err != nil {
			return err
		}
	}

	env, started, err := ensureEnv(ctx, cfg)
	if err != nil {
		return err
	}
	if started && !cfg.keep {
		defer func() {
			if err := stopEnv(cfg); err != nil {
				logf("stopping the local environment: %v", err)
			}
		}()
	}
	cl, err := newCluster(env)
	if err != nil {
		return err
	}

	if cfg.floor {
		return runFloors(ctx, cfg, cl)
	}
	if !slices.Equal(cfg.controllers, []string{ctlSiskin}) {
		return runCompare(ctx, cfg, feats, env, cl)
	}
	rep := &Report{
		Started:  time.Now().UTC().Format(time.RFC3339),
		Host:     hostInfo(),
		Settings: settingsOf(&cfg, feats),
	}
	runID := strconv.FormatInt(time.Now().Unix()%100000, 36)
	var errs []error
	for _, n := range cfg.sizes {
		t0 := time.Now()
		res, err := runSize(ctx, &cfg, feats, env, cl, n, runID)
		if res != nil {
			res.WallSeconds = seconds(time.Since(t0))
			rep.Results = append(rep.Results, *res)
			rep.Host.LoadAverageEnd = loadAverage()
			printTable(os.Stdout, rep)
			if cfg.out != "" {
				if werr := writeJSON(cfg.out, rep); werr != nil {
					errs = append(errs, werr)
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("fleet of %d: %w", n, err))
			break
		}
		logf("N=%d done in %s", n, time.Since(t0).Round(time.Second))
	}
	return errors.Join(errs...)
}

// controllerFeatures checks bin/siskin and reads what it offers.
func controllerFeatures(ctx context.Context, cfg config) (features, error) {
	if _, err := os.Stat(cfg.siskin); err != nil {
		return features{}, fmt.Errorf("%s: %w (run make build)", cfg.siskin, err)
	}
	feats, err := probeFeatures(ctx, cfg.siskin)
	if err != nil {
		return feats, err
	}
	logf("controller %s (%s); --max-concurrent-canaries: %v, pprof: %v", cfg.siskin, feats.version, feats.maxConcurrent, feats.pprof)
	if tree := treeVersion(ctx); tree != "" && tree != feats.version {
		logf("WARNING: %s is %s but the tree is %s: the figures are those of %s (make build to measure the tree)", cfg.siskin, feats.version, tree, feats.version)
	}
	return feats, nil
}

// logf writes progress to stderr, so stdout carries the tables only.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
