package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/siskin-dev/siskin/e2e/freeport"
	"github.com/siskin-dev/siskin/e2e/localenv/envfile"
)

// installCRDs applies the CustomResourceDefinitions of file with server-side apply and waits
// until the API server serves them.
func installCRDs(ctx context.Context, cl *cluster, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%w (run make peers)", err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var names []string
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("read %s: %w", file, err)
		}
		if u.GetKind() != "CustomResourceDefinition" {
			continue
		}
		u.SetManagedFields(nil)
		u.SetResourceVersion("")
		if err := cl.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("siskin-bench"), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply CRD %s: %w", u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	if len(names) == 0 {
		return fmt.Errorf("no CustomResourceDefinition in %s", file)
	}
	deadline := time.Now().Add(time.Minute)
	for _, name := range names {
		for {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := cl.c.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
				return fmt.Errorf("get CRD %s: %w", name, err)
			}
			if established(crd) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established after a minute", name)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// process is a controller of a comparison, started by the bench.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
	// resident follows the process's resident memory by kind.
	resident *residentPeaks
}

// startProcess starts bin with args, its output going to log.
func startProcess(ctx context.Context, bin string, args []string, log string) (*process, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w (run make build peers)", err)
	}
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	p := &process{log: log, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(syscall.SIGTERM) }
	p.cmd.WaitDelay = 15 * time.Second
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	logf("  started %s (pid %d) %s; log %s", filepath.Base(bin), p.cmd.Process.Pid, strings.Join(args, " "), log)
	p.resident = watchResident(p.cmd.Process.Pid, p.done)
	go func() {
		p.err = p.cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited returns an error if the process has stopped: the bench never asks it to.
func (p *process) exited() error {
	select {
	case <-p.done:
		err := p.err
		if err == nil {
			err = errors.New("exit status 0")
		}
		return fmt.Errorf("controller exited (%w); see %s", err, p.log)
	default:
		return nil
	}
}

// stop ends the process with SIGTERM, then SIGKILL after 15 seconds.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// peerSample is a controller's API requests (at the proxy) and /proc figures at one moment.
type peerSample struct {
	api counted
	cpu float64
	// rssKB and hwmKB are VmRSS and VmHWM.
	rssKB, hwmKB int64
}

func samplePeer(px *apiProxy, p *process) peerSample {
	s := peerSample{api: px.snapshot()}
	if st, err := readProc(p.pid()); err == nil {
		s.cpu, s.rssKB, s.hwmKB = st.cpu, st.rssKB, st.hwmKB
	}
	return s
}

// runPeerSize measures one controller on a fleet of n, the same way for every controller: a
// namespace of its own with the same Deployments, the controller's objects for them, and the
// controller's requests counted at its API proxy. It returns what it measured so far even when
// a later step fails; a step that runs out of the budget ends the run with a note of how far
// it got.
// cleanupTimeout bounds the wait for a controller's fleet to be removed after its run.
const cleanupTimeout = 10 * time.Minute

func runPeerSize(ctx context.Context, cfg *config, env *envfile.Env, cl *cluster, d *driver, n int, runID string) (*PeerResult, error) {
	ns := fmt.Sprintf("bench-%d-%s-%s", n, d.name, runID)
	res := &PeerResult{Controller: d.name, N: n, Namespace: ns, Stage: "setup"}
	deadline := time.Now().Add(cfg.budget)
	within := func(dur time.Duration) time.Duration { return max(0, min(dur, time.Until(deadline))) }
	names := fleetNames(n)
	logf("N=%d %s: %d Deployments in namespace %s", n, d.name, n, ns)

	if d.crds != "" {
		if err := installCRDs(ctx, cl, d.crds); err != nil {
			return nil, err
		}
	}
	if err := cl.createNamespace(ctx, ns); err != nil {
		return nil, err
	}
	if err := cl.create(ctx, names, func(name string) client.Object { return deployment(ns, name, cfg.testapp) }); err != nil {
		return nil, err
	}
	if err := cl.waitDeploymentsAvailable(ctx, ns, n, within(cfg.timeout)); err != nil {
		return nil, err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	rec, err := startPeerRecorder(watchCtx, cl, d, ns)
	if err != nil {
		return nil, err
	}
	if err := forEach(ctx, names, func(ctx context.Context, name string) error {
		for _, obj := range d.objects(ns, name) {
			if err := cl.c.Create(ctx, obj); err != nil {
				return fmt.Errorf("create %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, name, err)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}

	px, err := startAPIProxy(watchCtx, cl.cfg)
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(env.StateDir, fmt.Sprintf("kubeconfig-%s-n%d", d.name, n))
	if err := px.writeKubeconfig(kubeconfig); err != nil {
		return nil, err
	}
	ports, err := freeport.Ports(ctx, 2)
	if err != nil {
		return nil, err
	}
	bin, err := stageBinary(d.bin, filepath.Join(env.StateDir, "bin"))
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w (run make build peers)", d.bin, err)
	}
	p, err := startProcess(ctx, bin, d.args(env, kubeconfig, ns, ports), filepath.Join(env.StateDir, "logs", fmt.Sprintf("%s-n%d.log", d.name, n)))
	if err != nil {
		return nil, err
	}
	defer p.stop()
	if !cfg.keep {
		// The next controller measured starts on a cluster without this one's fleet. The
		// controller still runs while its fleet goes, so that its finalizers run.
		defer func() {
			t0 := time.Now()
			if err := cl.deleteNamespace(ctx, ns, cleanupTimeout); err != nil {
				logf("N=%d %s: removing the fleet: %v", n, d.name, err)
				res.Notes = append(res.Notes, fmt.Sprintf("the fleet was not removed before the next run: %v", err))
				return
			}
			logf("N=%d %s: fleet removed in %s", n, d.name, time.Since(t0).Round(time.Second))
		}()
	}
	defer func() {
		if st, err := readProc(p.pid()); err == nil {
			res.PeakRSSMB = max(res.PeakRSSMB, mb(st.hwmKB))
		}
		res.PeakAnonMB, res.PeakFileMB = p.resident.peaks()
	}()

	// Initialization: from the start until every object is at rest.
	s0 := samplePeer(px, p)
	atRestNow := func(_ string, o peerObs) bool { return o.state == stateRest }
	done, err := rec.waitAll(ctx, names, within(cfg.timeout), "initialized", atRestNow)
	res.Setup.Initialized, res.Setup.Seconds = done, seconds(time.Since(s0.api.at))
	if err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("initialization did not finish: %d/%d initialized after %s", done, n, time.Since(s0.api.at).Round(time.Second)))
		return res, errors.Join(err, p.exited())
	}
	logf("  %d initialized after %s", n, time.Since(s0.api.at).Round(100*time.Millisecond))
	if err := rec.waitQuiet(ctx, 5*time.Second, within(2*time.Minute)); err != nil {
		return res, err
	}
	s1 := samplePeer(px, p)
	res.Setup.RequestsPerCanary = perCanary(s1.api.since(s0.api), n)

	// At rest.
	res.Stage = "at rest"
	if time.Until(deadline) < cfg.rest+time.Minute {
		res.Notes = append(res.Notes, "the budget left no time for the at-rest window")
		return res, nil
	}
	logf("  at rest for %s", cfg.rest)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(cfg.rest):
	}
	s2 := samplePeer(px, p)
	window := s2.api.at.Sub(s1.api.at)
	res.Rest = PeerRest{
		WindowSeconds:              seconds(window),
		Requests:                   s2.api.since(s1.api),
		RequestsPerCanaryPerMinute: perCanaryPerMinute(s2.api.total()-s1.api.total(), n, window),
		CPUSecondsPerMinute:        round((s2.cpu-s1.cpu)/window.Minutes(), 3),
		RSSMB:                      mb(s2.rssKB),
	}
	if err := p.exited(); err != nil {
		return res, err
	}

	// Reaction.
	res.Stage = "reaction"
	m := min(cfg.reactions, n)
	delays, err := peerReaction(ctx, cl, rec, ns, names[:m], "1")
	res.Reaction = Reaction{M: m, Milliseconds: summarise(delays)}
	if err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("reaction: %v", err))
		return res, p.exited()
	}
	logf("  reaction p50 %.0f ms, p99 %.0f ms", res.Reaction.Milliseconds.P50, res.Reaction.Milliseconds.P99)

	// Fleet-wide change.
	res.Stage = "fleet-wide change"
	f, err := peerFleetChange(ctx, cfg, cl, rec, px, p, ns, names, "2", within(cfg.timeout+3*cfg.idealRollout()))
	res.Fleet = f
	if err != nil {
		return res, err
	}
	if f.Promoted < n {
		res.Notes = append(res.Notes, fmt.Sprintf("the fleet-wide change did not finish within the budget: %d/%d promoted", f.Promoted, n))
		return res, nil
	}
	res.Stage = "done"
	return res, nil
}

// peerReaction patches each Deployment in turn and times the first change of its object that
// shows the controller acting on it: leaving rest, or a new revision.
func peerReaction(ctx context.Context, cl *cluster, rec *recorder[peerObs], ns string, names []string, rev string) ([]float64, error) {
	return reaction(ctx, cl, rec, ns, names, rev, "did not react", func(before peerObs) func(peerObs) bool {
		return func(o peerObs) bool { return o.state != stateRest || o.applied != before.applied }
	})
}

// promotedAfter is done for an object at rest that promoted a revision other than the one it
// was acting on before the change (before[name]).
func promotedAfter(before map[string]peerObs) func(string, peerObs) bool {
	return func(name string, o peerObs) bool {
		return o.state == stateRest && o.promoted != "" && o.promoted == o.applied && o.applied != before[name].applied
	}
}

// peerFleetChange gives every Deployment a new revision at once and waits until every object
// has promoted it, or limit has passed.
func peerFleetChange(ctx context.Context, cfg *config, cl *cluster, rec *recorder[peerObs], px *apiProxy, p *process, ns string, names []string, rev string, limit time.Duration) (PeerFleet, error) {
	n := len(names)
	ideal := cfg.idealRollout()
	f := PeerFleet{Canaries: n, IdealSeconds: seconds(ideal)}
	if err := rec.waitQuiet(ctx, 2*time.Second, time.Minute); err != nil {
		logf("  %v; the fleet-wide change starts anyway", err)
	}
	logf("  fleet-wide change: %d Deployments get revision %s (ideal %s)", n, rev, ideal)
	before := rec.latest(names)
	done := promotedAfter(before)
	s0 := samplePeer(px, p)
	var peak int64
	stopSampling, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				if st, err := readProc(p.pid()); err == nil {
					peak = max(peak, st.hwmKB)
				}
			}
		}
	}()
	sent := make(map[string]time.Time, n)
	var mu sync.Mutex
	t0 := time.Now()
	err := forEach(ctx, names, func(ctx context.Context, name string) error {
		at, _, err := cl.patchRevision(ctx, ns, name, rev)
		mu.Lock()
		sent[name] = at
		mu.Unlock()
		return err
	})
	if err == nil {
		_, err = rec.waitAll(ctx, names, limit-time.Since(t0), "promoted", done)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && p.exited() == nil {
			logf("  fleet-wide change stopped after %s: %v", limit.Round(time.Second), err)
			err = nil
		}
	}
	close(stopSampling)
	<-sampled
	if err != nil {
		return f, fmt.Errorf("fleet-wide change: %w", errors.Join(err, p.exited()))
	}
	s1 := samplePeer(px, p)
	peak = max(peak, s1.hwmKB)

	hist := rec.snapshot(names)
	var end time.Time
	var rollouts []float64
	for _, name := range names {
		o, ok := firstAfter(hist[name], sent[name], func(o peerObs) bool { return done(name, o) })
		if !ok {
			continue
		}
		f.Promoted++
		rollouts = append(rollouts, o.at.Sub(sent[name]).Seconds())
		if o.at.After(end) {
			end = o.at
		}
	}
	if f.Promoted < n {
		end = s1.api.at
	}
	window := s1.api.at.Sub(s0.api.at)
	f.DurationSeconds = seconds(end.Sub(t0))
	f.RatioToIdeal = round(end.Sub(t0).Seconds()/ideal.Seconds(), 2)
	f.RolloutSeconds = roundDist(summarise(rollouts), 2)
	f.WindowSeconds = seconds(window)
	f.Requests = s1.api.since(s0.api)
	f.FailedRequests = s1.api.failed - s0.api.failed
	f.RequestsPerCanaryPerMinute = perCanaryPerMinute(s1.api.total()-s0.api.total(), n, window)
	f.WritesPerRollout = round((s1.api.writes()-s0.api.writes())/float64(n), 2)
	late := weightLateness(hist, t0, end, cfg.interval)
	f.LatenessSeconds = roundDist(summarise(latenessSeconds(late)), 3)
	f.LatenessOverTime = windowsOf(late, t0, end, latenessWindow, peerInFlight(hist))
	logWindows(f.LatenessOverTime, false)
	f.CPUSecondsPerMinute = round((s1.cpu-s0.cpu)/window.Minutes(), 2)
	f.PeakRSSMB = mb(peak)
	logf("  fleet-wide change done in %.1fs (ideal %.0fs, %.2fx), %d/%d promoted", f.DurationSeconds, f.IdealSeconds, f.RatioToIdeal, f.Promoted, n)
	return f, nil
}
