package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/siskin-dev/siskin/e2e/freeport"
	"github.com/siskin-dev/siskin/e2e/localenv/envfile"
)

// features are what the controller binary offers, from its --help and --version.
type features struct {
	version       string
	maxConcurrent bool
	pprof         bool
}

func probeFeatures(ctx context.Context, bin string) (features, error) {
	var f features
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return f, fmt.Errorf("%s --version: %w", bin, err)
	}
	f.version = strings.TrimSpace(string(out))
	// --help exits non-zero with the flag package; its usage goes to stderr.
	help, _ := exec.CommandContext(ctx, bin, "--help").CombinedOutput()
	f.maxConcurrent = bytes.Contains(help, []byte("-max-concurrent-canaries"))
	f.pprof = bytes.Contains(help, []byte("-pprof-bind-address"))
	return f, nil
}

// treeVersion is the version make build stamps into a binary of the working tree (the
// Makefile's VERSION), or "" outside a Git checkout.
func treeVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// controller is a running bin/siskin.
type controller struct {
	cmd *exec.Cmd
	// done is closed when the process has exited, with its error in err.
	done       chan struct{}
	err        error
	metricsURL string
	readyURL   string
	pprofURL   string
	log        string
	// resident follows the process's resident memory by kind.
	resident *residentPeaks
}

// startController starts bin/siskin on the namespace with its metrics and probes on free
// loopback ports; extra flags are appended.
func startController(ctx context.Context, cfg *config, feats features, env *envfile.Env, ns, label string, extra ...string) (*controller, error) {
	ports, err := freeport.Ports(ctx, 3)
	if err != nil {
		return nil, err
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	probeAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	args := []string{
		"--metrics-bind-address=" + metricsAddr,
		"--health-probe-bind-address=" + probeAddr,
		"--watch-namespaces=" + ns,
		"--provider=" + cfg.provider,
		"--metrics-server=" + env.Prometheus,
		"--concurrent=" + strconv.Itoa(cfg.concurrent),
		"--kube-api-qps=" + strconv.Itoa(cfg.qps),
		"--kube-api-burst=" + strconv.Itoa(cfg.burst),
	}
	c := &controller{
		metricsURL: "http://" + metricsAddr + "/metrics",
		readyURL:   "http://" + probeAddr + "/readyz",
		log:        filepath.Join(env.StateDir, "logs", "siskin-"+label+".log"),
		done:       make(chan struct{}),
	}
	if feats.pprof && cfg.profileDir != "" {
		pprofAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])
		args = append(args, "--pprof-bind-address="+pprofAddr)
		c.pprofURL = "http://" + pprofAddr + "/debug/pprof/"
	}
	args = append(append(args, cfg.siskinArgs...), extra...)
	logFile, err := os.Create(c.log)
	if err != nil {
		return nil, err
	}
	bin, err := stageBinary(cfg.siskin, filepath.Join(env.StateDir, "bin"))
	if err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("copy %s: %w", cfg.siskin, err)
	}
	// The process outlives the bench's context only by the graceful stop that Cancel asks for.
	c.cmd = exec.CommandContext(ctx, bin, args...)
	c.cmd.Cancel = func() error { return c.cmd.Process.Signal(syscall.SIGTERM) }
	c.cmd.WaitDelay = 15 * time.Second
	c.cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.siskin, err)
	}
	logf("  started %s (pid %d) %s; log %s", filepath.Base(cfg.siskin), c.cmd.Process.Pid, strings.Join(args, " "), c.log)
	c.resident = watchResident(c.cmd.Process.Pid, c.done)
	go func() {
		c.err = c.cmd.Wait()
		_ = logFile.Close()
		close(c.done)
	}()
	if err := c.waitReady(ctx, time.Minute); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *controller) pid() int { return c.cmd.Process.Pid }

func (c *controller) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.readyURL, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("controller exited before it was ready (%w); see %s", c.exitErr(), c.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("controller not ready after %s; see %s", timeout, c.log)
		}
	}
}

// stop ends the controller with SIGTERM, then SIGKILL after 15 seconds. It may be called
// more than once.
func (c *controller) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// exited returns the controller's exit error if it has stopped.
func (c *controller) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("controller exited (%w); see %s", c.exitErr(), c.log)
	default:
		return nil
	}
}

// exitErr is the error of a process that has exited; a clean exit is one too, since the bench
// never asked for it.
func (c *controller) exitErr() error {
	if c.err == nil {
		return errors.New("exit status 0")
	}
	return c.err
}

// sample is the controller's counters at one moment.
type sample struct {
	at time.Time
	// requests are client requests by HTTP method (rest_client_requests_total).
	requests map[string]float64
	// failed are client requests answered with a code other than 2xx.
	failed float64
	// reconciles and reconcileSeconds sum controller_runtime_reconcile_total and
	// controller_runtime_reconcile_time_seconds_sum.
	reconciles       float64
	reconcileSeconds float64
	// queueSeconds and queued sum workqueue_queue_duration_seconds (time in the queue).
	queueSeconds float64
	queued       float64
	heapBytes    float64
	// admissionLimit is siskin_rollout_admission_limit: 0 until a step was measured.
	admissionLimit float64
	// reconcileBuckets is the cumulative histogram of reconcile times: upper bound -> count.
	reconcileBuckets map[float64]float64
	// cpu is user+system CPU seconds from /proc/<pid>/stat.
	cpu   float64
	rssKB int64
	hwmKB int64
}

// writeMethods are the HTTP methods that change objects.
var writeMethods = []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (s sample) total() float64 {
	t := 0.0
	for _, v := range s.requests {
		t += v
	}
	return t
}

func (s sample) writes() float64 {
	t := 0.0
	for _, m := range writeMethods {
		t += s.requests[m]
	}
	return t
}

func (c *controller) sample(ctx context.Context) (sample, error) {
	s := sample{at: time.Now(), requests: map[string]float64{}}
	fams, err := c.scrape(ctx)
	if err != nil {
		return s, err
	}
	for _, m := range fams["rest_client_requests_total"] {
		s.requests[m.labels["method"]] += m.value
		if !strings.HasPrefix(m.labels["code"], "2") {
			s.failed += m.value
		}
	}
	s.reconciles = fams.sum("controller_runtime_reconcile_total")
	s.reconcileSeconds = fams.sum("controller_runtime_reconcile_time_seconds_sum")
	s.queueSeconds = fams.sum("workqueue_queue_duration_seconds_sum")
	s.queued = fams.sum("workqueue_queue_duration_seconds_count")
	s.heapBytes = fams.sum("go_memstats_heap_inuse_bytes")
	s.admissionLimit = fams.sum("siskin_rollout_admission_limit")
	s.reconcileBuckets = map[float64]float64{}
	for _, m := range fams["controller_runtime_reconcile_time_seconds_bucket"] {
		if le, err := strconv.ParseFloat(m.labels["le"], 64); err == nil {
			s.reconcileBuckets[le] += m.value
		}
	}
	st, err := readProc(c.pid())
	if err != nil {
		return s, err
	}
	s.cpu, s.rssKB, s.hwmKB = st.cpu, st.rssKB, st.hwmKB
	return s, nil
}

// scrape reads the controller's /metrics.
func (c *controller) scrape(ctx context.Context) (families, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.metricsURL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape controller metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape controller metrics: %s", resp.Status)
	}
	fams, err := parseMetrics(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape controller metrics: %w", err)
	}
	return fams, nil
}

// profile saves a CPU profile of d and a heap profile, when the controller serves pprof.
func (c *controller) profile(ctx context.Context, dir, label string, d time.Duration) error {
	if c.pprofURL == "" || dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	get := func(path, file string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.pprofURL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		_, err = io.Copy(f, resp.Body)
		return errors.Join(err, f.Close())
	}
	if err := get(fmt.Sprintf("profile?seconds=%d", int(d.Seconds())), label+".cpu.pprof"); err != nil {
		return err
	}
	return get("heap", label+".heap.pprof")
}

// logCounts counts the controller's log lines that say a reconcile failed, and that a worker
// gave up waiting for its cache to show its own status write (after 2 s).
func (c *controller) logCounts() (errors, cacheLag int) {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return 0, 0
	}
	return bytes.Count(b, []byte(`"msg":"Reconciler error"`)), bytes.Count(b, []byte("cache did not catch up"))
}

// procStat is what /proc says about a process.
type procStat struct {
	cpu   float64
	rssKB int64
	hwmKB int64
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on Linux.
const clockTicks = 100

func readProc(pid int) (procStat, error) {
	var st procStat
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	if st.cpu, err = parseStatCPU(string(stat)); err != nil {
		return st, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	st.rssKB, st.hwmKB = parseStatusKB(string(status), "VmRSS:"), parseStatusKB(string(status), "VmHWM:")
	return st, nil
}

// parseStatCPU returns utime+stime in seconds from the contents of /proc/<pid>/stat. The command
// name may hold spaces and parentheses, so fields are counted after its last ')'.
func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	// Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("malformed /proc stat: %w", err)
	}
	return (utime + stime) / clockTicks, nil
}

// parseStatusKB reads a "Key:   123 kB" line of /proc/<pid>/status.
func parseStatusKB(status, key string) int64 {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}
