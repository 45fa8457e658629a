package main

import (
	"fmt"
	"hash/fnv"
	"log"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// config is what the flags set.
type config struct {
	seed uint64
	// good is the number of releases of the headline cells (A/A, schedule a), n of the others.
	good, n   int
	rps       []float64
	schedules []schedule
	// control is the comparison's control for the fixed and sequential modes.
	control string
	// zeros makes a look at a version without requests read every latency bucket at 0 instead
	// of the empty answer the analyzer turns into a single +Inf bucket: what the comparison
	// would see if that answer did not hide the bucket bounds (see docs/analysis.md).
	zeros bool
	// only keeps the releases whose name contains it.
	only    string
	workers int
	// warmup, warmErr and warmLat override the model's warm-up when set.
	warmup           int
	warmErr, warmLat float64
	// progress, when set, says how far the simulation is.
	progress *log.Logger
}

// cell is one kind of release at one traffic rate and schedule, judged by every mode on the
// same simulated releases.
type cell struct {
	sched schedule
	rel   release
	model model
	n     int
	res   [nModes][]outcome
}

// releases are the kinds of release simulated: A/A over both bases, error regressions over
// both bases, and latency regressions over the 0.3% base.
func releases() []release {
	var out []release
	for _, base := range []float64{0.003, 0.008} {
		out = append(out, release{name: fmt.Sprintf("A/A, errors %.1f%%", 100*base), base: base, errFactor: 1, latFactor: 1})
	}
	for _, base := range []float64{0.003, 0.008} {
		for _, f := range []float64{1.5, 2, 5} {
			out = append(out, release{name: fmt.Sprintf("errors ×%g over %.1f%%", f, 100*base), base: base, errFactor: f, latFactor: 1})
		}
	}
	for _, f := range []float64{1.2, 2} {
		out = append(out, release{name: fmt.Sprintf("p99 +%d%%", int(math.Round(100*(f-1)))), base: 0.003, errFactor: 1, latFactor: f})
	}
	return out
}

// cells lays out the bench: for each schedule, release and rate, good releases of schedule (a)
// get cfg.good releases, every other cell cfg.n.
func cells(cfg *config) []*cell {
	var out []*cell
	for _, s := range cfg.schedules {
		for _, rel := range releases() {
			if cfg.only != "" && !strings.Contains(rel.name, cfg.only) {
				continue
			}
			for _, rps := range cfg.rps {
				m := defaultModel(rps)
				if cfg.warmup > 0 {
					m.warmup = cfg.warmup
				}
				if cfg.warmErr > 0 {
					m.warmErr = cfg.warmErr
				}
				if cfg.warmLat > 0 {
					m.warmLat = cfg.warmLat
				}
				n := cfg.n
				if rel.good() && s.name == "a" {
					n = cfg.good
				}
				c := &cell{sched: s, rel: rel, model: m, n: n}
				for md := range c.res {
					c.res[md] = make([]outcome, n)
				}
				out = append(out, c)
			}
		}
	}
	return out
}

// job is one release of one cell judged one way.
type job struct {
	c    *cell
	mode mode
	i    int
}

// simulate runs every job on cfg.workers goroutines. Each release's randomness comes from the
// seed, its kind, its rate and its index alone, so the result does not depend on the number of
// workers or the order the jobs run in.
func simulate(cfg *config, cs []*cell) {
	var jobs []job
	for _, c := range cs {
		for md := range nModes {
			for i := range c.n {
				jobs = append(jobs, job{c: c, mode: md, i: i})
			}
		}
	}
	var next, done atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range max(cfg.workers, 1) {
		wg.Go(func() {
			tr := newTraffic()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(jobs) {
					return
				}
				j := jobs[k]
				j.c.res[j.mode][j.i] = runOne(cfg, j.c, j.mode, j.i, tr)
				if d := done.Add(1); cfg.progress != nil && d%2000 == 0 {
					cfg.progress.Printf("%d/%d rollouts, %s", d, len(jobs), time.Since(start).Round(time.Second))
				}
			}
		})
	}
	wg.Wait()
}

// runOne simulates release i of cell c judged by mode m.
func runOne(cfg *config, c *cell, m mode, i int, tr *traffic) outcome {
	tr.reset(&c.model, c.rel, releaseSeed(cfg.seed, c.rel, c.model.rps, i))
	name := cfg.control
	if c.sched.control != "" {
		name = c.sched.control
	}
	control := vPrimary
	if name == siskinv1.ControlBaseline {
		control = vBaseline
	}
	w := newWorld(canaryFor(m, c.sched, name), judgeFor(m, c.sched, control), tr)
	// The fixed test reads a baseline too when the comparison's is one: the data plane gives it
	// the canary's weight out of the primary's, as the planner routes a compared baseline.
	w.shareBaseline = m == modeFixed && control == vBaseline
	w.zeros = cfg.zeros
	return w.run()
}

// releaseSeed is the seed of release i of a kind at a rate: the same in every mode and
// schedule, so all ways of judging see the same releases.
func releaseSeed(seed uint64, rel release, rps float64, i int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(rel.name + "@" + strconv.FormatFloat(rps, 'g', -1, 64)))
	return mix(mix(seed, h.Sum64()), uint64(i))
}
