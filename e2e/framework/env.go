package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/siskin-dev/siskin/e2e/localenv/envfile"
	"github.com/siskin-dev/siskin/pkg/router/all"
)

// Env is a running local environment and a client for its API server.
type Env struct {
	// Repo is the repository root; binaries are taken from Repo/bin.
	Repo string
	// StateDir is the environment's absolute state directory.
	StateDir string
	// Info is the environment's record (env.json): every address.
	Info *envfile.Env
	// Client talks to the API server, with Siskin, Istio and Gateway API types registered.
	Client client.Client
	// Config is the REST config of Client.
	Config *rest.Config
}

// UpOptions say where and how to bring an environment up.
type UpOptions struct {
	// Repo is the repository root; default: RepoRoot().
	Repo string
	// StateDir is the state directory, relative to Repo unless absolute.
	StateDir string
	// Loadtester starts bin/siskin-loadtester with the environment.
	Loadtester bool
	// Progress receives localenv's progress, a line at a time; nil discards it.
	Progress io.Writer
}

// Up brings a fresh local environment up (`bin/localenv up`), relaying its progress, and
// returns it once every component is healthy. Call Down when done, also after an error: a
// half-started environment is stopped by Down too.
func Up(ctx context.Context, o UpOptions) (*Env, error) {
	e, err := newEnv(o.Repo, o.StateDir)
	if err != nil {
		return nil, err
	}
	localenv, err := e.localenvBinary(ctx, o.Progress)
	if err != nil {
		return e, err
	}
	args := []string{"up", "--state-dir", e.StateDir, "--repo", e.Repo}
	if o.Loadtester {
		lt := e.Bin("siskin-loadtester")
		if _, err := os.Stat(lt); err != nil {
			return e, fmt.Errorf("load tester not found at %s: run `make build`", lt)
		}
		args = append(args, "--loadtester", lt)
	}
	out := o.Progress
	if out == nil {
		out = io.Discard
	}
	cmd := exec.CommandContext(ctx, localenv, args...)
	cmd.Dir = e.Repo
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: a Ctrl-C reaches the caller, which then tears down in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Run(); err != nil {
		return e, fmt.Errorf("localenv up (logs in %s): %w", filepath.Join(e.StateDir, "logs"), err)
	}
	return e, e.connect()
}

// Attach returns the environment already running in stateDir (relative to the repository root
// unless absolute), without starting anything.
func Attach(stateDir string) (*Env, error) {
	e, err := newEnv("", stateDir)
	if err != nil {
		return nil, err
	}
	return e, e.connect()
}

func newEnv(repo, stateDir string) (*Env, error) {
	if repo == "" {
		r, err := RepoRoot()
		if err != nil {
			return nil, err
		}
		repo = r
	}
	if stateDir == "" {
		stateDir = envfile.DefaultStateDir
	}
	if !filepath.IsAbs(stateDir) {
		stateDir = filepath.Join(repo, stateDir)
	}
	return &Env{Repo: repo, StateDir: stateDir}, nil
}

// Bin returns the path of a binary in the repository's bin/.
func (e *Env) Bin(name string) string { return filepath.Join(e.Repo, "bin", name) }

// localenvBinary builds bin/localenv from the repository and returns its path. It builds every
// time (`make e2e` builds the controller and the tools, not localenv), so that an environment
// never runs a data plane or test app older than the code under test; the Go build cache makes
// an unchanged build take a moment.
func (e *Env) localenvBinary(ctx context.Context, progress io.Writer) (string, error) {
	bin := e.Bin("localenv")
	if progress != nil {
		_, _ = fmt.Fprintf(progress, "building %s\n", bin)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./e2e/localenv")
	cmd.Dir = e.Repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build localenv: %w\n%s", err, out)
	}
	return bin, nil
}

func (e *Env) connect() error {
	info, err := envfile.Read(e.StateDir)
	if err != nil {
		return err
	}
	if !info.Ready {
		return fmt.Errorf("local environment in %s is not ready", e.StateDir)
	}
	e.Info = info
	cfg, err := clientcmd.BuildConfigFromFlags("", info.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", info.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	cl, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return fmt.Errorf("create API client: %w", err)
	}
	e.Config, e.Client = cfg, cl
	return nil
}

// Scheme returns a scheme with the Kubernetes, Siskin, Istio and Gateway API types.
func Scheme() *runtime.Scheme {
	s, err := all.Scheme()
	if err != nil {
		panic(fmt.Sprintf("build scheme: %v", err))
	}
	return s
}

// Down stops the environment (`bin/localenv down`). It is safe on an environment that never
// came up. ctx should not be the one a Ctrl-C cancelled.
func (e *Env) Down(ctx context.Context, progress io.Writer) error {
	if e == nil {
		return nil
	}
	if _, err := os.Stat(e.StateDir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	bin := e.Bin("localenv")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("cannot stop the environment in %s: %s is missing", e.StateDir, bin)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out := progress
	if out == nil {
		out = io.Discard
	}
	cmd := exec.CommandContext(ctx, bin, "down", "--state-dir", e.StateDir)
	cmd.Dir = e.Repo
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("localenv down: %w", err)
	}
	return nil
}
