package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/siskin-dev/siskin/e2e/freeport"
)

// ControllerOptions configure a Siskin controller process.
type ControllerOptions struct {
	// Binary is the controller; default <repo>/bin/siskin.
	Binary string
	// LogFile receives its log (appended, so a restart continues it).
	LogFile string
	// Provider is --provider; default istio.
	Provider string
	// Namespaces limits the watch (--watch-namespaces); empty watches all.
	Namespaces []string
	// Args are added to the command line.
	Args []string
}

// Controller is a running bin/siskin pointed at an Env: Prometheus as its metrics server and
// the Slack sink as its global Slack webhook.
type Controller struct {
	env  *Env
	opts ControllerOptions

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	probe   string
}

// StartController starts the controller and returns once its /readyz answers 200 (its
// informer caches have synced).
func (e *Env) StartController(ctx context.Context, o ControllerOptions) (*Controller, error) {
	if o.Binary == "" {
		o.Binary = e.Bin("siskin")
	}
	if o.Provider == "" {
		o.Provider = "istio"
	}
	if o.LogFile == "" {
		return nil, errors.New("start controller: LogFile is required")
	}
	if _, err := os.Stat(o.Binary); err != nil {
		return nil, fmt.Errorf("controller not found at %s: run `make build`", o.Binary)
	}
	c := &Controller{env: e, opts: o}
	return c, c.Start(ctx)
}

// LogFile is the controller's log.
func (c *Controller) LogFile() string { return c.opts.LogFile }

// errPortTaken is why a start failed when another process took a port picked for the
// controller between the pick and the controller's listen.
var errPortTaken = errors.New("a port picked for the controller was taken before it listened")

// startAttempts bounds the starts Start makes when a picked port is taken meanwhile.
const startAttempts = 3

// Start (re)starts a stopped controller and waits until it is ready. A port taken between its
// pick and the controller's listen (the scenarios start controllers in parallel) is not the
// controller's failure: Start picks new ports and starts it again.
func (c *Controller) Start(ctx context.Context) error {
	var err error
	for range startAttempts {
		if err = c.start(ctx); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

func (c *Controller) start(ctx context.Context) error {
	c.mu.Lock()
	if c.cmd != nil && !c.exited() {
		c.mu.Unlock()
		return errors.New("controller is already running")
	}
	ports, err := freeport.Ports(ctx, 2)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	metrics, probe := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	log, err := os.OpenFile(c.opts.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("open controller log: %w", err)
	}
	args := []string{
		"--kubeconfig", c.env.Info.Kubeconfig,
		"--provider", c.opts.Provider,
		"--metrics-server", c.env.Info.Prometheus,
		"--slack-url", c.env.Info.Slack.WebhookURL,
		"--log-encoding", "console",
		"--metrics-bind-address", metrics,
		"--health-probe-bind-address", probe,
	}
	if len(c.opts.Namespaces) > 0 {
		args = append(args, "--watch-namespaces", strings.Join(c.opts.Namespaces, ","))
	}
	args = append(args, c.opts.Args...)
	// Not tied to ctx: the controller runs until Stop or Kill, whatever ctx was for.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), c.opts.Binary, args...)
	cmd.Dir = c.env.Repo
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: the test or the demo decides when it stops, not a terminal's Ctrl-C.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	_, _ = fmt.Fprintf(log, "---- %s starting %s %s\n", time.Now().Format(time.RFC3339), c.opts.Binary, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		c.mu.Unlock()
		return fmt.Errorf("start controller: %w", err)
	}
	done := make(chan struct{})
	c.cmd, c.done, c.exitErr, c.probe = cmd, done, nil, probe
	go func() {
		err := cmd.Wait()
		_ = log.Close()
		c.mu.Lock()
		c.exitErr = err
		c.mu.Unlock()
		close(done)
	}()
	c.mu.Unlock()
	return c.waitReady(ctx, done, probe)
}

func (c *Controller) waitReady(ctx context.Context, done chan struct{}, probe string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+probe+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			tail := c.LogTail(30)
			if strings.Contains(tail, "bind: address already in use") {
				return fmt.Errorf("%w; log tail:\n%s", errPortTaken, tail)
			}
			return fmt.Errorf("controller exited before it was ready (%w); log tail:\n%s", c.exitError(), tail)
		case <-ctx.Done():
			return fmt.Errorf("controller not ready: %w; log tail:\n%s", ctx.Err(), c.LogTail(30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Controller) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *Controller) exitError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exitErr
}

// Exited reports whether the process of the last Start has ended, and how (nil for a clean
// exit), so that a scenario can assert that nothing it did brought the controller down.
func (c *Controller) Exited() (bool, error) {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if done == nil {
		return false, nil
	}
	select {
	case <-done:
		return true, c.exitError()
	default:
		return false, nil
	}
}

// Stop asks the controller to stop (SIGTERM) and kills it after 15 s. Stopping a stopped
// controller does nothing.
func (c *Controller) Stop() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("controller did not stop within 15s of SIGTERM; killed")
	}
}

// Kill kills the controller at once (SIGKILL), as a crashed pod or a lost node would.
func (c *Controller) Kill() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// LogTail returns the last n lines of the controller's log.
func (c *Controller) LogTail(n int) string {
	if c == nil {
		return ""
	}
	return tail(c.opts.LogFile, n)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
