// Command chaos runs many rollouts on the local environment while it injects the faults a
// controller meets in production, and checks that Siskin never ships what was not analysed
// (docs/reliability.md, "Chaos results").
//
//	go run ./e2e/chaos [-rollouts 50] [-seed 1] [-kills 0] [-out chaos.json]
//
// It brings a fresh environment up in .state/chaos (with the load tester), creates -apps
// Deployments of the test app with a Canary each (the e2e rig's shape: 10 s interval, steps of
// 30% up to 60%, the built-in metrics with a minimum sample, a load test webhook), and releases
// -rollouts revisions across them, every app at once, each app one release after the other. A
// release is good, or bad (ERROR_RATE 0.3 or LATENCY_MS 800). Users call every app through the
// data plane all the time.
//
// Meanwhile, with a seeded RNG (-seed): the controller is SIGKILLed and started again every
// 5–20 s; once, Prometheus is stopped for 30 s; once, kube-apiserver is stopped and started
// again; once, two replicas with --leader-elect run and the leader is SIGKILLed. A monitor reads
// every primary Deployment, Canary and VirtualService every 200 ms and checks the invariants;
// the report counts what it saw. The process exits 1 when an invariant was broken.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// config is what the flags set.
type config struct {
	rollouts int
	apps     int
	seed     int64
	kills    int
	rps      int
	stateDir string
	siskin   string
	out      string
	keep     bool
	timeout  time.Duration
	// faults that run once; the short CI variant may leave some out.
	prometheus bool
	apiserver  bool
	handover   bool
}

func main() {
	var c config
	flag.IntVar(&c.rollouts, "rollouts", 50, "releases to roll out in all")
	flag.IntVar(&c.apps, "apps", 10, "apps (namespaces with a Deployment and a Canary) the releases are spread over, all rolled out at once")
	flag.Int64Var(&c.seed, "seed", 1, "seed of the RNG that picks releases and fault times")
	flag.IntVar(&c.kills, "kills", 0, "stop SIGKILLing the controller after this many kills (0: until the last rollout ends; -1: inject no fault at all, a baseline)")
	flag.IntVar(&c.rps, "rps", 5, "user requests per second to each app through the data plane")
	flag.StringVar(&c.stateDir, "state-dir", ".state/chaos", "state directory of the local environment (started afresh)")
	flag.StringVar(&c.siskin, "siskin", "bin/siskin", "controller binary (make build); copied into the state directory so that a rebuild during the run does not change it")
	flag.StringVar(&c.out, "out", "", "also write the results as JSON to this file")
	flag.BoolVar(&c.keep, "keep", false, "leave the local environment running at the end")
	flag.DurationVar(&c.timeout, "rollout-timeout", 8*time.Minute, "a rollout not Succeeded or Failed after this long is reported stuck")
	flag.BoolVar(&c.prometheus, "prometheus-outage", true, "stop Prometheus for 30 s once")
	flag.BoolVar(&c.apiserver, "apiserver-restart", true, "stop and start kube-apiserver once")
	flag.BoolVar(&c.handover, "handover", true, "run two replicas with leader election once and SIGKILL the leader")
	flag.Parse()
	if c.rollouts < 1 || c.apps < 1 || c.rps < 1 {
		fmt.Fprintln(os.Stderr, "chaos: -rollouts, -apps and -rps must be positive")
		os.Exit(2)
	}
	c.apps = min(c.apps, c.rollouts)
	for _, p := range []*string{&c.siskin, &c.out} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				fmt.Fprintln(os.Stderr, "chaos:", err)
				os.Exit(2)
			}
			*p = abs
		}
	}
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// logf writes progress to stderr; stdout carries the report.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s chaos: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
