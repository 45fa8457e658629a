package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/siskin-dev/siskin/e2e/framework"
)

// Leader election of the two replicas of the handover.
const (
	leaseNamespace = "siskin-chaos-system"
	leaseName      = "siskin-chaos"
)

// prometheusOutage is how long Prometheus stays stopped.
const prometheusOutage = 30 * time.Second

// injector runs the faults: SIGKILLs of the controller every 5–20 s, and once each a
// Prometheus outage, a kube-apiserver restart and a leader handover between two replicas.
type injector struct {
	env  *framework.Env
	ctrl *framework.Controller
	rng  *rand.Rand
	cfg  config

	mu     sync.Mutex
	events []string
	// kills counts the SIGKILLs of the single controller (random, and the one that makes way
	// for the two replicas); leaderKills those of the leader replica.
	kills, leaderKills int
	// handover is from the leader's SIGKILL to the other replica holding the lease.
	handover time.Duration
	// apiDown is from kube-apiserver's stop to its being healthy again.
	apiDown  time.Duration
	promDown time.Duration
	errs     []string
}

func (in *injector) logEvent(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	logf("fault: %s", msg)
	in.mu.Lock()
	in.events = append(in.events, time.Now().Format("15:04:05")+" "+msg)
	in.mu.Unlock()
}

func (in *injector) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	logf("fault injection: %s", msg)
	in.mu.Lock()
	in.errs = append(in.errs, msg)
	in.mu.Unlock()
}

// run injects faults until ctx ends (or, with -kills, until the last kill and the faults
// scheduled with it are done; with -kills -1, no fault at all). The once-only faults follow the 1st (Prometheus), 3rd (API
// server) and 5th kill (handover), or the last kill when -kills allows fewer.
func (in *injector) run(ctx context.Context) {
	if in.cfg.kills < 0 {
		return
	}
	promAt, apiAt, handoverAt := 1, 3, 5
	if k := in.cfg.kills; k > 0 {
		promAt, apiAt, handoverAt = min(promAt, k), min(apiAt, k), min(handoverAt, k)
	}
	var outage sync.WaitGroup
	defer outage.Wait()
	for i := 1; in.cfg.kills == 0 || i <= in.cfg.kills; i++ {
		wait := time.Duration(5+in.rng.IntN(16)) * time.Second
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		in.kill(ctx, in.ctrl, fmt.Sprintf("kill %d: controller SIGKILLed after %s", i, wait))
		if i == promAt && in.cfg.prometheus {
			outage.Go(in.prometheusOutage)
		}
		if i == apiAt && in.cfg.apiserver {
			in.restartAPIServer()
		}
		if i == handoverAt && in.cfg.handover {
			in.leaderHandover(ctx)
		}
	}
}

// kill SIGKILLs the controller and starts it again; the controller is always left running.
func (in *injector) kill(ctx context.Context, c *framework.Controller, what string) {
	c.Kill()
	in.mu.Lock()
	in.kills++
	in.mu.Unlock()
	in.logEvent("%s", what)
	in.start(ctx, c)
}

func (in *injector) start(ctx context.Context, c *framework.Controller) {
	ctx = context.WithoutCancel(ctx)
	for attempt := 1; ; attempt++ {
		err := c.Start(ctx)
		if err == nil {
			return
		}
		in.fail("start controller (attempt %d): %v", attempt, err)
		if attempt == 5 {
			return
		}
		time.Sleep(5 * time.Second)
	}
}

// prometheusOutage stops Prometheus for 30 s and starts it again (same data directory).
func (in *injector) prometheusOutage() {
	ctx := context.Background()
	t0 := time.Now()
	if err := in.env.StopComponent(ctx, "prometheus"); err != nil {
		in.fail("stop prometheus: %v", err)
		return
	}
	in.logEvent("prometheus stopped for %s", prometheusOutage)
	time.Sleep(prometheusOutage - time.Since(t0))
	if err := in.env.StartComponent(ctx, "prometheus"); err != nil {
		in.fail("start prometheus: %v", err)
		return
	}
	in.mu.Lock()
	in.promDown = time.Since(t0)
	in.mu.Unlock()
	in.logEvent("prometheus serving again after %s", time.Since(t0).Round(100*time.Millisecond))
}

// restartAPIServer stops kube-apiserver (SIGTERM, the supervisor's grace), leaves it down for
// 5 s and starts it again with the same flags.
func (in *injector) restartAPIServer() {
	ctx := context.Background()
	t0 := time.Now()
	if err := in.env.StopComponent(ctx, "kube-apiserver"); err != nil {
		in.fail("stop kube-apiserver: %v", err)
		return
	}
	in.logEvent("kube-apiserver stopped")
	time.Sleep(5 * time.Second)
	if err := in.env.StartComponent(ctx, "kube-apiserver"); err != nil {
		in.fail("start kube-apiserver: %v", err)
		return
	}
	in.mu.Lock()
	in.apiDown = time.Since(t0)
	in.mu.Unlock()
	in.logEvent("kube-apiserver serving again after %s", time.Since(t0).Round(100*time.Millisecond))
}

// leaderHandover replaces the single controller with two replicas that elect a leader, lets
// them work, SIGKILLs the leader, lets the other take over and work, then goes back to the
// single controller.
func (in *injector) leaderHandover(ctx context.Context) {
	bg := context.WithoutCancel(ctx)
	if err := in.env.CreateNamespace(bg, leaseNamespace); err != nil {
		in.fail("%v", err)
		return
	}
	in.ctrl.Kill()
	in.mu.Lock()
	in.kills++
	in.mu.Unlock()
	in.logEvent("controller SIGKILLed to make way for two replicas with --leader-elect")
	defer in.start(ctx, in.ctrl)
	replica := func(name string) (*framework.Controller, error) {
		return in.env.StartController(bg, framework.ControllerOptions{
			Binary:  filepath.Join(in.env.StateDir, "siskin"),
			LogFile: filepath.Join(in.env.StateDir, "logs", "siskin-"+name+".log"),
			Args:    []string{"--leader-elect", "--leader-election-namespace", leaseNamespace, "--leader-election-id", leaseName},
		})
	}
	a, err := replica("replica-a")
	if err != nil {
		in.fail("start replica a: %v", err)
		return
	}
	// a alone first: it is the leader once the Lease names a holder.
	first, err := in.holder(bg, "")
	if err != nil {
		in.fail("replica a never led: %v", err)
		_ = a.Stop()
		return
	}
	b, err := replica("replica-b")
	if err != nil {
		in.fail("start replica b: %v", err)
		_ = a.Stop()
		return
	}
	in.logEvent("two replicas run; replica a leads (%s)", first)
	time.Sleep(time.Duration(15+in.rng.IntN(16)) * time.Second)
	a.Kill()
	t0 := time.Now()
	in.mu.Lock()
	in.leaderKills++
	in.mu.Unlock()
	in.logEvent("leader (replica a) SIGKILLed")
	next, err := in.holder(bg, first)
	if err != nil {
		in.fail("replica b never took over: %v", err)
	} else {
		in.mu.Lock()
		in.handover = time.Since(t0)
		in.mu.Unlock()
		in.logEvent("replica b leads (%s) %s after the leader's kill", next, time.Since(t0).Round(100*time.Millisecond))
		time.Sleep(20 * time.Second)
	}
	if err := b.Stop(); err != nil {
		in.fail("stop replica b: %v", err)
	}
	in.logEvent("replica b stopped; the single controller starts again")
}

// holder waits until the Lease names a holder other than not, and returns it.
func (in *injector) holder(ctx context.Context, not string) (string, error) {
	var got string
	err := framework.Eventually(ctx, 90*time.Second, "a new holder of the Lease", func(ctx context.Context) (bool, error) {
		var l coordinationv1.Lease
		if err := in.env.Client.Get(ctx, types.NamespacedName{Namespace: leaseNamespace, Name: leaseName}, &l); err != nil {
			return false, nil
		}
		if h := l.Spec.HolderIdentity; h != nil && *h != "" && *h != not {
			got = *h
			return true, nil
		}
		return false, nil
	})
	return got, err
}
