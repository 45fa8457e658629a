// Command localenv runs Siskin's local environment: a throwaway Kubernetes control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler from bin/), kwok as the
// kubelet of three fake nodes whose pods get 10.X.c.d IPs and are served at their loopback
// twins 127.X.c.d (package podnet), the Siskin, Istio, Gateway API and KEDA ScaledObject CRDs,
// and beside it the test app, the mesh/gateway data plane, Prometheus scraping it and the pods
// that ask to be scraped, and a Slack sink. See docs/localenv.md.
//
//	go run ./e2e/localenv up     [--state-dir DIR] [--loadtester bin/siskin-loadtester]
//	go run ./e2e/localenv status [--state-dir DIR]
//	go run ./e2e/localenv down   [--state-dir DIR] [--purge]
//	go run ./e2e/localenv scrape [--state-dir DIR] JOB HOST:PORT...
//
// up starts a supervisor (`localenv serve`) in the background that owns every component,
// relays its progress, and returns once everything is healthy. Addresses go to
// <state-dir>/env.json, the kubeconfig to <state-dir>/kubeconfig, logs to <state-dir>/logs/.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/siskin-dev/siskin/e2e/localenv/envfile"
)

const usage = `usage: localenv up|down|status|scrape [flags]

  up       start the environment in the background; returns when it is healthy
  down     stop what up started (--purge also deletes the state directory)
  status   print each component's health; exits 1 if one is down
  scrape   JOB HOST:PORT...  add a Prometheus job (e.g. the Siskin controller's metrics);
           with no address, remove it

flags:
`

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet("localenv "+cmd, flag.ExitOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage); fs.PrintDefaults() }
	var o options
	fs.StringVar(&o.stateDir, "state-dir", "", "state directory (default <repo>/"+envfile.DefaultStateDir+")")
	fs.StringVar(&o.repo, "repo", "", "Siskin repository root (default: found from the working directory)")
	fs.StringVar(&o.binDir, "bin-dir", "", "directory of etcd, kube-* and kwok binaries and kwok-stages/ (default <repo>/bin)")
	fs.StringVar(&o.prometheus, "prometheus", "/usr/bin/prometheus", "Prometheus server binary")
	fs.StringVar(&o.loadtester, "loadtester", "", "siskin-loadtester binary to start too (e.g. bin/siskin-loadtester); empty: none")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long each component may take to become healthy")
	fs.BoolVar(&o.verbose, "v", false, "debug logs from the data plane and the test app")
	purge := fs.Bool("purge", false, "down: delete the state directory too")
	_ = fs.Parse(os.Args[2:])
	if err := o.resolve(); err != nil {
		fmt.Fprintln(os.Stderr, "localenv:", err)
		os.Exit(1)
	}
	var err error
	switch cmd {
	case "up":
		err = up(o)
	case "serve":
		err = serve(o)
	case "down":
		err = down(o, *purge)
	case "status":
		err = status(o)
	case "scrape":
		err = scrape(o, fs.Args())
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "localenv:", err)
		os.Exit(1)
	}
}

// resolve fills in defaults and makes paths absolute.
func (o *options) resolve() error {
	if o.repo == "" {
		o.repo = findRepo()
	}
	if o.stateDir == "" {
		o.stateDir = filepath.Join(o.repo, envfile.DefaultStateDir)
	}
	if o.binDir == "" {
		o.binDir = filepath.Join(o.repo, "bin")
	}
	for _, p := range []*string{&o.repo, &o.stateDir, &o.binDir, &o.loadtester} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", *p, err)
		}
		*p = abs
	}
	return nil
}

// findRepo walks up from the working directory to the Siskin module root.
func findRepo() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/siskin-dev/siskin\n") {
			return dir
		}
		if filepath.Dir(dir) == dir {
			return wd
		}
	}
}

func supervisorPidFile(stateDir string) string { return filepath.Join(stateDir, "localenv.pid") }

// up starts the supervisor in the background and relays its progress until it is ready.
func up(o options) error {
	start := time.Now()
	if pid, path, err := readPid(supervisorPidFile(o.stateDir)); err == nil && alive(pid, path) {
		fmt.Printf("localenv is already up (supervisor pid %d)\n", pid)
		return status(o)
	}
	if err := checkBinaries(o); err != nil {
		return err
	}
	if err := resetStateDir(o.stateDir); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	logFile := logPath(o.stateDir, "localenv")
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open supervisor log: %w", err)
	}
	args := []string{"serve", "--state-dir=" + o.stateDir, "--repo=" + o.repo, "--bin-dir=" + o.binDir,
		"--prometheus=" + o.prometheus, "--loadtester=" + o.loadtester, "--timeout=" + o.timeout.String()}
	if o.verbose {
		args = append(args, "-v")
	}
	// Not tied to a context: the supervisor outlives up.
	cmd := exec.CommandContext(context.Background(), exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = o.repo
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	_ = logf.Close()
	if err := os.WriteFile(supervisorPidFile(o.stateDir), fmt.Appendf(nil, "%d %s\n", cmd.Process.Pid, exe), 0o644); err != nil {
		return fmt.Errorf("write supervisor pid: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Printf("localenv: starting (supervisor pid %d, log %s)\n", cmd.Process.Pid, logFile)

	if err := relayProgress(logFile, exited, o.timeout*3); err != nil {
		if errors.Is(err, errNotReady) {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
		fmt.Fprintf(os.Stderr, "localenv: up failed; logs are in %s (run `localenv down` to clean up)\n", filepath.Join(o.stateDir, "logs"))
		return err
	}
	env, err := envfile.Read(o.stateDir)
	if err != nil {
		return err
	}
	printSummary(env, time.Since(start))
	return nil
}

// errNotReady means the supervisor still runs but did not get ready in time.
var errNotReady = errors.New("environment not ready in time")

// relayProgress prints the supervisor's progress lines (those starting with "[") until it
// reports ready, exits, or timeout passes.
func relayProgress(logFile string, exited <-chan error, timeout time.Duration) error {
	f, err := os.Open(logFile)
	if err != nil {
		return fmt.Errorf("read supervisor log: %w", err)
	}
	defer func() { _ = f.Close() }()
	r := bufio.NewReader(f)
	deadline := time.After(timeout)
	var partial string
	failed := false
	for {
		line, err := r.ReadString('\n')
		if err == nil {
			line = partial + line
			partial = ""
			if strings.HasPrefix(line, "[") {
				fmt.Print(line)
			}
			switch {
			case strings.Contains(line, "] localenv ready"):
				return nil
			case strings.Contains(line, "] FAILED:"):
				failed = true
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("read supervisor log: %w", err)
		}
		partial += line
		select {
		case werr := <-exited:
			// Print whatever came last, then give up.
			rest, _ := io.ReadAll(r)
			for _, l := range strings.Split(partial+string(rest), "\n") {
				if strings.HasPrefix(l, "[") {
					fmt.Println(l)
				}
			}
			if failed {
				return errors.New("the environment did not come up (see FAILED above)")
			}
			return fmt.Errorf("supervisor exited before the environment was ready: %w; see %s", werr, logFile)
		case <-deadline:
			return fmt.Errorf("%w: waited %s; see %s", errNotReady, timeout, logFile)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func printSummary(e *envfile.Env, took time.Duration) {
	fmt.Printf(`localenv up in %.1fs
  export KUBECONFIG=%s
  apiserver   %s
  prometheus  %s
  data plane  %s   (curl -H 'Host: <svc>.<ns>' %s/  or  HTTP_PROXY=%s; routes: %s)
  slack sink  %s   (messages: %s)
`, took.Seconds(), e.Kubeconfig, e.APIServer, e.Prometheus, e.Dataplane.URL, e.Dataplane.URL, e.Dataplane.URL, e.Dataplane.Routes, e.Slack.URL, e.Slack.Messages)
	if e.Loadtester != "" {
		fmt.Printf("  loadtester  %s\n", e.Loadtester)
	}
	fmt.Printf("  gateway     %s/%s (class %s)\n  record      %s\n", e.Gateway.Namespace, e.Gateway.Name, e.Gateway.ClassName, filepath.Join(e.StateDir, envfile.Name))
}

// checkBinaries fails early, with a hint, when a binary is missing.
func checkBinaries(o options) error {
	var missing []string
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if _, err := os.Stat(filepath.Join(o.binDir, b)); err != nil {
			missing = append(missing, filepath.Join(o.binDir, b))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run `make tools`", strings.Join(missing, ", "))
	}
	if _, err := os.Stat(o.prometheus); err != nil {
		return fmt.Errorf("prometheus not found at %s: run hack/prometheus.sh (apt-get install prometheus)", o.prometheus)
	}
	if o.loadtester != "" {
		if _, err := os.Stat(o.loadtester); err != nil {
			return fmt.Errorf("load tester not found at %s: run `make build`", o.loadtester)
		}
	}
	return nil
}

// resetStateDir empties the state directory of a previous run, refusing to touch a
// non-empty directory that is not one.
func resetStateDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		_, e1 := os.Stat(filepath.Join(dir, envfile.Name))
		_, e2 := os.Stat(filepath.Join(dir, "logs"))
		if e1 != nil && e2 != nil {
			return fmt.Errorf("%s is not empty and not a localenv state directory; choose another --state-dir", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("clear state dir: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	return nil
}

// down stops the supervisor (which stops its children), then anything it left behind.
func down(o options, purge bool) error {
	var stopped []string
	if pid, path, err := readPid(supervisorPidFile(o.stateDir)); err == nil && alive(pid, path) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(40 * time.Second)
		for alive(pid, path) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if alive(pid, path) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		stopped = append(stopped, fmt.Sprintf("supervisor (pid %d)", pid))
	}
	_ = os.Remove(supervisorPidFile(o.stateDir))
	pidFiles, _ := filepath.Glob(filepath.Join(o.stateDir, "pids", "*.pid"))
	for _, f := range pidFiles {
		pid, path, err := readPid(f)
		if err == nil && alive(pid, path) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			stopped = append(stopped, fmt.Sprintf("leftover %s (pid %d)", strings.TrimSuffix(filepath.Base(f), ".pid"), pid))
		}
		_ = os.Remove(f)
	}
	if len(stopped) == 0 {
		fmt.Println("localenv: nothing running")
	} else {
		fmt.Println("localenv: stopped", strings.Join(stopped, ", "))
	}
	if purge {
		if err := os.RemoveAll(o.stateDir); err != nil {
			return fmt.Errorf("remove state dir: %w", err)
		}
		fmt.Println("localenv: removed", o.stateDir)
	}
	return nil
}

// status prints the health of every component.
func status(o options) error {
	e, err := envfile.Read(o.stateDir)
	if err != nil {
		return fmt.Errorf("no environment in %s (run up): %w", o.stateDir, err)
	}
	supPid, supPath, _ := readPid(supervisorPidFile(o.stateDir))
	supAlive := alive(supPid, supPath)
	down := 0
	fmt.Printf("%-24s %-8s %-6s %s\n", "COMPONENT", "PID", "HEALTH", "CHECK")
	for _, c := range e.Components {
		health := "ok"
		detail := c.Health
		pidAlive := supAlive
		if c.PID > 0 && c.PID != supPid {
			_, path, _ := readPid(pidPath(o.stateDir, c.Name))
			pidAlive = path != "" && alive(c.PID, path)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		perr := probe(ctx, c.Health)
		cancel()
		switch {
		case !pidAlive:
			health, detail = "DOWN", "not running; log "+c.Log
		case perr != nil:
			health, detail = "FAIL", c.Health+": "+perr.Error()
		}
		if health != "ok" {
			down++
		}
		pid := "-"
		if c.PID > 0 {
			pid = strconv.Itoa(c.PID)
		}
		fmt.Printf("%-24s %-8s %-6s %s\n", c.Name, pid, health, detail)
	}
	fmt.Printf("\nkubeconfig %s\nrecord     %s\n", e.Kubeconfig, filepath.Join(e.StateDir, envfile.Name))
	if down > 0 {
		return fmt.Errorf("%d of %d components are not healthy", down, len(e.Components))
	}
	return nil
}

// scrape writes a Prometheus file_sd target file for job, read within seconds.
func scrape(o options, args []string) error {
	if len(args) < 1 {
		return errors.New("usage: localenv scrape JOB [HOST:PORT...]")
	}
	job, targets := args[0], args[1:]
	e, err := envfile.Read(o.stateDir)
	if err != nil {
		return err
	}
	file := filepath.Join(o.stateDir, "prometheus", "targets", job+".json")
	if len(targets) == 0 {
		_ = os.Remove(file)
		delete(e.ScrapeTargets, job)
	} else {
		b, err := json.Marshal([]map[string]any{{"targets": targets, "labels": map[string]string{"job": job}}})
		if err != nil {
			return err
		}
		if err := os.WriteFile(file+".tmp", b, 0o644); err != nil {
			return fmt.Errorf("write targets: %w", err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			return fmt.Errorf("write targets: %w", err)
		}
		if e.ScrapeTargets == nil {
			e.ScrapeTargets = map[string][]string{}
		}
		e.ScrapeTargets[job] = targets
	}
	if err := envfile.Write(e); err != nil {
		return err
	}
	fmt.Printf("localenv: prometheus job %q scrapes %v\n", job, targets)
	return nil
}
