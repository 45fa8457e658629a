package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// proc is a child process of the supervisor.
type proc struct {
	name     string
	path     string
	cmd      *exec.Cmd
	done     chan struct{}
	err      error
	stopping atomic.Bool
}

// startProc starts a child with its output appended to logs/<name>.log and records its pid
// in pids/<name>.pid as "<pid> <path>", so that `down` can find it even if the supervisor
// is gone. The child gets SIGTERM if the supervisor dies.
func startProc(stateDir, name, path string, args, env []string, onExit func(*proc)) (*proc, error) {
	logf, err := os.OpenFile(logPath(stateDir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log of %s: %w", name, err)
	}
	// Not tied to a context: stop ends it, gracefully.
	cmd := exec.CommandContext(context.Background(), path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	_, _ = fmt.Fprintf(logf, "localenv: starting %s %s\n", path, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, path: path, cmd: cmd, done: make(chan struct{})}
	if err := os.WriteFile(pidPath(stateDir, name), fmt.Appendf(nil, "%d %s\n", cmd.Process.Pid, path), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("write pid of %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		_ = logf.Close()
		close(p.done)
		if !p.stopping.Load() && onExit != nil {
			onExit(p)
		}
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	p.stopping.Store(true)
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func logPath(stateDir, name string) string { return filepath.Join(stateDir, "logs", name+".log") }
func pidPath(stateDir, name string) string { return filepath.Join(stateDir, "pids", name+".pid") }

// readPid reads a pid file written by startProc or by up; path is "" when the file has none.
func readPid(file string) (pid int, path string, err error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, "", err
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, "", fmt.Errorf("empty pid file %s", file)
	}
	pid, err = strconv.Atoi(fields[0])
	if err != nil {
		return 0, "", fmt.Errorf("bad pid file %s: %w", file, err)
	}
	if len(fields) > 1 {
		path = fields[1]
	}
	return pid, path, nil
}

// alive reports whether pid runs and, when path is set, runs path (so that a recycled pid
// is never taken for ours).
func alive(pid int, path string) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		// State is the field after the parenthesised command name; Z is a zombie.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return false
		}
	}
	if path == "" {
		return true
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return argv0 == path
}

// healthClient probes health endpoints; kube-controller-manager and kube-scheduler serve
// self-signed certificates, so it does not verify them.
var healthClient = &http.Client{
	Timeout: 2 * time.Second,
	Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health probes only
		Proxy:           nil,
	},
}

// probe GETs url and returns nil on a 2xx answer.
func probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// errExited means a process ended while it was waited for.
var errExited = errors.New("process exited")

// waitHealthy polls url until it answers 2xx, p (if not nil) exits, or timeout passes.
func waitHealthy(ctx context.Context, name string, p *proc, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if p != nil && p.exited() {
			return fmt.Errorf("%s: %w (%w); see logs/%s.log", name, errExited, p.err, name)
		}
		if last = probe(ctx, url); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy after %s (%s): %w; see logs/%s.log", name, timeout, url, last, name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
