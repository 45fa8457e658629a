package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// app is one namespace with a Deployment and its Canary, released again and again.
type app struct {
	ns, name string

	mu sync.Mutex
	// promoted is the version the last Succeeded rollout promoted (1.0.0 at first): what the
	// primary must run outside a promotion.
	promoted string
	// cur is the rollout in progress, nil between rollouts.
	cur *rollout
	// routeCanary and routeKnown are the canary weight of the route at the last sample.
	routeCanary int32
	routeKnown  bool
	rollouts    []*rollout
	// apexLoad: the Canary's load test goes through the apex Service, not the canary Service.
	apexLoad bool
	// wrongKey identifies the wrong primary seen at the last sample, if any.
	wrongKey string
}

// rollout is what the monitor saw of one release.
type rollout struct {
	rel release
	// prevSpec is status.lastAppliedSpec before the release: a status with another value is
	// about this rollout.
	prevSpec string
	released time.Time
	done     chan struct{}

	// Set by the monitor, under the app's lock.
	spec          string
	end           siskinv1.CanaryPhase
	endTime       time.Time
	endReason     string
	endChecks     string // status.lastChecks when the end was first seen
	promotingSeen bool
	active        bool // seen in a phase other than Succeeded or Failed
	// weights are the distinct canary weights while Progressing, in order.
	weights      []int32
	failedChecks int32
	firstFail    time.Time // first sample showing a failed check of this rollout
	failedAt     time.Time // first sample in phase Failed
	atRestSince  time.Time // first sample of the current run of route 100/0
	weighted     bool      // the route gave the canary traffic at some sample
	lastSample   time.Time
	maxGap       time.Duration
	stuck        bool

	// Users: requests sent while this rollout ran, the canary share the route planned for them
	// and how many the release itself answered.
	userRequests int
	plannedShare float64
	servedByRel  int
	servedAtZero int // answered by this release while the route gave the canary 0%

	violations []string
}

// host is what users send to reach the app.
func (a *app) host() string { return framework.Istio.Host(a.ns, a.name, appPort) }

// users calls the app through the data plane rps times a second until ctx ends; each answer
// is counted for the rollout in progress when it was sent, with the route's canary weight then.
func (a *app) users(ctx context.Context, env *framework.Env, rps int) {
	tick := time.NewTicker(time.Second / time.Duration(rps))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a.mu.Lock()
		r, w, known := a.cur, a.routeCanary, a.routeKnown
		a.mu.Unlock()
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			resp, err := env.Get(rctx, a.host(), "/", nil)
			if r == nil || !known {
				return
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			// Once a promotion starts the primary runs the release too: only bad releases,
			// which are never promoted, are counted after that.
			if r.promotingSeen && r.rel.bad == "" {
				return
			}
			r.userRequests++
			r.plannedShare += float64(w) / 100
			if err == nil && resp.Version == r.rel.version {
				r.servedByRel++
				if w == 0 {
					r.servedAtZero++
				}
			}
		})
	}
}

// drive releases the app's revisions one after the other, each once the previous one has
// ended (Succeeded or Failed, or stuck past timeout).
func (a *app) drive(ctx context.Context, env *framework.Env, rels []release, timeout time.Duration, rng *rand.Rand) {
	for _, rel := range rels {
		if ctx.Err() != nil {
			return
		}
		var c *siskinv1.Canary
		err := framework.Eventually(ctx, 2*time.Minute, "read the Canary", func(ctx context.Context) (bool, error) {
			var err error
			c, err = env.GetCanary(ctx, a.ns, a.name)
			return err == nil, err
		})
		if err != nil {
			logf("%s: %v", a.ns, err)
			return
		}
		r := &rollout{rel: rel, prevSpec: c.Status.LastAppliedSpec, released: time.Now(), done: make(chan struct{})}
		a.mu.Lock()
		a.cur = r
		a.rollouts = append(a.rollouts, r)
		a.mu.Unlock()
		err = framework.Eventually(ctx, 2*time.Minute, "release "+rel.version, func(ctx context.Context) (bool, error) {
			return env.SetEnv(ctx, a.ns, a.name, rel.env()) == nil, nil
		})
		if err != nil {
			logf("%s: %v", a.ns, err)
			return
		}
		kind := "good"
		if rel.bad != "" {
			kind = "bad (" + rel.bad + ")"
		}
		logf("%s: released %s, %s", a.ns, rel.version, kind)
		select {
		case <-r.done:
		case <-time.After(timeout):
			a.mu.Lock()
			r.stuck = true
			r.violations = append(r.violations, fmt.Sprintf("stuck: not Succeeded or Failed %s after the release", timeout))
			a.cur = nil
			a.mu.Unlock()
			diag := env.Diagnose(ctx, a.ns, a.name, nil)
			file := filepath.Join(env.StateDir, "logs", "stuck-"+a.ns+"-"+rel.version+".txt")
			_ = os.WriteFile(file, []byte(diag), 0o644)
			logf("%s: %s stuck; diagnosis in %s", a.ns, rel.version, file)
			continue
		case <-ctx.Done():
			return
		}
		logf("%s: %s ended %s after %s", a.ns, rel.version, r.end, r.endTime.Sub(r.released).Round(time.Second))
		// Users see the result for a moment before the next release.
		select {
		case <-time.After(time.Duration(2+rng.IntN(5)) * time.Second):
		case <-ctx.Done():
			return
		}
	}
}
