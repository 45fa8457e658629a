// Command decisions simulates many releases through the real planner (canary.NeedsFor and
// canary.Plan, round by round, with pkg/sequential inside) and compares three ways of judging
// them on the same simulated traffic (see docs/analysis.md):
//
//   - threshold: Flagger's built-in request-success-rate (min 99) and request-duration
//     (max 500 ms) over 1m at every step, analysis.threshold failed checks roll back;
//   - fixed: the threshold-free schedule, then one exact test of canary against control on all
//     counts of the rollout at the promotion step, at the comparison's alpha and margin;
//   - sequential: analysis.comparison, read at every look the planner asks for.
//
// Releases are good (A/A) or regress errors or latency, at 5, 50 and 500 requests per second,
// under the Flagger tutorial's schedule and Siskin's own. It prints markdown tables and the
// targets beside the figures; nothing is asserted.
//
//	go run ./e2e/decisions [-seed 1] [-good 2000] [-n 200] [-rps 5,50,500] [-schedules a,b]
//
// Every number comes from the seed: a rerun prints the same tables, whatever -workers.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "decisions:", err)
		os.Exit(2)
	}
	start := time.Now()
	load := loadAverage()
	cs := cells(cfg)
	cfg.progress = log.New(os.Stderr, "decisions: ", 0)
	simulate(cfg, cs)
	fmt.Printf("Run of %s: `%s`; seed %d, %s, %d workers on %d CPUs, load average %s at the start and %s at the end, %s.\n",
		start.UTC().Format("2006-01-02"), strings.Join(append([]string{"go run ./e2e/decisions"}, os.Args[1:]...), " "), cfg.seed, counts(cs), cfg.workers, runtime.NumCPU(), load, loadAverage(), time.Since(start).Round(time.Second))
	var b strings.Builder
	report(&b, cs)
	fmt.Print(b.String())
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("decisions", flag.ContinueOnError)
	cfg := &config{}
	var rps, scheds string
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of every random draw")
	fs.IntVar(&cfg.good, "good", 2000, "releases per headline cell (A/A under schedule a)")
	fs.IntVar(&cfg.n, "n", 200, "releases per other cell")
	fs.StringVar(&rps, "rps", "5,50,500", "request rates, per second")
	fs.StringVar(&scheds, "schedules", "a,b", "schedules: a (Flagger tutorial), b (Siskin defaults)")
	fs.StringVar(&cfg.control, "control", siskinv1.ControlPrimary, "control of the fixed and sequential modes: primary or baseline")
	fs.BoolVar(&cfg.zeros, "zero-histograms", false, "what-if: a version without requests in a look reads every latency bucket at 0, not the empty answer")
	fs.StringVar(&cfg.only, "only", "", "simulate only the releases whose name contains this")
	fs.IntVar(&cfg.workers, "workers", min(2, runtime.NumCPU()), "goroutines simulating releases")
	fs.IntVar(&cfg.warmup, "warmup", 0, "seconds of a new pod's warm-up (default 45)")
	fs.Float64Var(&cfg.warmErr, "warm-errors", 0, "a new pod's error-rate factor at its first request (default 2; 1 for none)")
	fs.Float64Var(&cfg.warmLat, "warm-latency", 0, "a new pod's latency factor at its first request (default 1.5; 1 for none)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, f := range strings.Split(rps, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("-rps: %q is no rate", f)
		}
		cfg.rps = append(cfg.rps, v)
	}
	for _, name := range strings.Split(scheds, ",") {
		found := false
		for _, s := range schedules {
			if s.name == strings.TrimSpace(name) {
				cfg.schedules, found = append(cfg.schedules, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("-schedules: no schedule %q (a or b)", name)
		}
	}
	if cfg.control != siskinv1.ControlPrimary && cfg.control != siskinv1.ControlBaseline {
		return nil, fmt.Errorf("-control: %q is neither primary nor baseline", cfg.control)
	}
	if cfg.good < 1 || cfg.n < 1 {
		return nil, fmt.Errorf("-good and -n must be at least 1")
	}
	return cfg, nil
}

// counts says how many releases the run simulated.
func counts(cs []*cell) string {
	var n int
	for _, c := range cs {
		n += c.n
	}
	return fmt.Sprintf("%d releases in %d cells, each judged %d ways", n, len(cs), nModes)
}

// loadAverage is the machine's 1-minute load average, or "n/a".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "n/a"
}
