//go:build e2e

package scenarios

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siskin-dev/siskin/e2e/framework"
)

// env is the local environment shared by every scenario of this test binary.
var env *framework.Env

// runID suffixes the scenarios' namespaces, so that a run on a kept environment does not meet
// the namespaces an earlier run left behind (failed scenarios keep theirs for a look).
var runID = strconv.FormatInt(time.Now().Unix()%(36*36*36), 36)

// TestMain brings the local environment up once (in .state/e2e), runs the scenarios, and takes
// it down. E2E_STATE_DIR=<dir> uses an environment that is already up there instead and leaves
// it running; E2E_KEEP=1 leaves the one started here running for a look afterwards.
func TestMain(m *testing.M) {
	flag.Parse()
	// Scenarios mostly wait on 10 s analysis steps: run more of them at once than the default
	// GOMAXPROCS, unless -parallel says otherwise.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "4")
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	var err error
	if dir := os.Getenv("E2E_STATE_DIR"); dir != "" {
		env, err = framework.Attach(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		return m.Run()
	}
	start := time.Now()
	// E2E_STATE_ROOT gives a run its own state directory, so that two runs on one machine
	// (each on its own pod network and ports) do not share one.
	stateDir := cmp.Or(os.Getenv("E2E_STATE_ROOT"), ".state/e2e")
	env, err = framework.Up(ctx, framework.UpOptions{StateDir: stateDir, Loadtester: true, Progress: os.Stdout})
	if os.Getenv("E2E_KEEP") == "" {
		defer func() {
			if err := env.Down(context.Background(), os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, "e2e:", err)
			}
		}()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	fmt.Printf("e2e: local environment up in %s (state and logs in %s)\n", time.Since(start).Round(time.Second), env.StateDir)
	return m.Run()
}

// scenario is a scenario and the routers it applies to.
type scenario struct {
	name    string
	fn      func(*testing.T, Input)
	routers []framework.Router
}

var both = []framework.Router{framework.Istio, framework.GatewayAPI}

var scenarios = []scenario{
	// The common scenarios run for every router whose kit (routers.go) names them.
	common("promotion", Promotion),
	common("rollback-errors", RollbackOnErrors),
	{"rollback-latency", RollbackOnLatency, both},
	common("ab-testing", ABTesting),
	{"blue-green", BlueGreen, both},
	{"blue-green-mirror", BlueGreenMirror, both},
	{"manual-gate", ManualGate, both},
	{"new-revision", NewRevisionMidAnalysis, both},
	{"controller-restart", ControllerRestart, both},
	{"manual-controls", ManualControls, both},
	{"delete-under-traffic", DeleteUnderTraffic, both},
	{"delete-mid-analysis", DeleteMidAnalysis, both},
	{"promotion-through-apex", PromotionThroughApex, both},
	{"rollback-through-apex", RollbackThroughApex, both},
	{"flagger-takeover", FlaggerTakeover, both},
	{"operator-tools", OperatorTools, []framework.Router{framework.Istio}},
	{"comparison-vs-thresholds", ComparisonCatchesWhatThresholdsMiss, both},
	{"comparison-early-pass", ComparisonEarlyPass, []framework.Router{framework.Istio}},
	{"comparison-baseline", ComparisonAgainstABaseline, both},
	// Istio only: the attacks go at the controller's analysis (query rendering, metric and
	// webhook calls, notifications) and at the load tester, none of which depends on the
	// router; a second run with seven Canaries and a second load tester would only add load to
	// a two-core machine.
	{"hostile", Hostile, []framework.Router{framework.Istio}},
	// Target kinds (kinds.go): the router does not change what a kind does.
	{"daemonset", DaemonSetPromotionAndRollback, []framework.Router{framework.Istio}},
	{"keda", KEDAScaledObject, []framework.Router{framework.Istio}},
	{"statefulset", StatefulSetPartition, []framework.Router{Replicas}},
	{"worker", WorkerReplicas, []framework.Router{Replicas}},
}

// TestScenarios runs every scenario for every router it applies to, in parallel, each in its
// own namespace with its own controller.
func TestScenarios(t *testing.T) {
	checkKits(t, scenarios)
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			for _, rt := range s.routers {
				t.Run(rt.Provider, func(t *testing.T) {
					t.Parallel()
					s.fn(t, Input{
						Env:       env,
						Router:    rt,
						Namespace: strings.ReplaceAll(s.name+"-"+rt.Provider, ":", "-") + "-" + runID,
						Name:      "podinfo",
						Port:      9898,
					})
				})
			}
		})
	}
}
