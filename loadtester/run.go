package loadtester

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/siskin-dev/siskin/loadtester/gate"
	"github.com/siskin-dev/siskin/loadtester/task"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// Gate store choices for Config.GateStore.
const (
	GateStoreAuto      = "auto" // configmap in a cluster, memory elsewhere
	GateStoreMemory    = "memory"
	GateStoreConfigMap = "configmap"
)

const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Config is what the siskin-loadtester command line sets.
type Config struct {
	Addr                   string
	GateStore              string
	GateConfigMapName      string
	GateConfigMapNamespace string // empty: POD_NAMESPACE, then the service account's namespace
	GateTTL                time.Duration
	NamespaceRegexp        string
	AllowTargetHost        string
	RequireSignature       bool
	SignatureSecretFile    string
	AcceptLegacySignature  bool
	EnableShell            bool
	EnableKubectl          bool
	EnableHelm             bool
	AllowCommands          []string
	KubectlPath            string
	HelmPath               string
	TaskTimeout            time.Duration
	MaxOutputBytes         int
	MaxLoadDuration        time.Duration
	MaxConcurrency         int
	MaxRate                float64
	MaxTasks               int
	MaxWorkers             int
	ShutdownTimeout        time.Duration
}

// Run builds the server from cfg and serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config, log logr.Logger) error {
	opts, err := cfg.options(log)
	if err != nil {
		return err
	}
	srv, err := New(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	hs := &http.Server{
		Addr:              cfg.Addr,
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: a blocking load run answers only when it ends.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				srv.panicked("listener", v, debug.Stack())
				errc <- fmt.Errorf("listener panicked: %v", v)
			}
		}()
		errc <- hs.ListenAndServe()
	}()
	log.Info("load tester listening", "addr", cfg.Addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

func (cfg Config) options(log logr.Logger) (Options, error) {
	allow, err := task.CompileAllowList(cfg.AllowCommands)
	if err != nil {
		return Options{}, err
	}
	opts := Options{
		Logger: log,
		Exec: task.Policy{
			EnableShell: cfg.EnableShell, EnableKubectl: cfg.EnableKubectl, EnableHelm: cfg.EnableHelm,
			Allow: allow, Timeout: cfg.TaskTimeout, MaxOutput: cfg.MaxOutputBytes,
			Programs: map[task.Kind]string{task.Kubectl: cfg.KubectlPath, task.Helm: cfg.HelmPath},
		},
		MaxLoadDuration:  cfg.MaxLoadDuration,
		MaxConcurrency:   cfg.MaxConcurrency,
		MaxRate:          cfg.MaxRate,
		MaxTasks:         cfg.MaxTasks,
		MaxWorkers:       cfg.MaxWorkers,
		RequireSignature: cfg.RequireSignature,
	}
	opts.AcceptLegacySignature = cfg.AcceptLegacySignature
	if cfg.NamespaceRegexp != "" {
		if opts.Namespaces, err = regexp.Compile(`^(?:` + cfg.NamespaceRegexp + `)$`); err != nil {
			return Options{}, fmt.Errorf("compile --namespace-regexp: %w", err)
		}
	}
	if cfg.AllowTargetHost != "" {
		if opts.TargetHosts, err = regexp.Compile(`^(?:` + cfg.AllowTargetHost + `)$`); err != nil {
			return Options{}, fmt.Errorf("compile --allow-target-host: %w", err)
		}
	}
	if _, err := withLimits(opts); err != nil {
		return Options{}, err
	}
	if cfg.SignatureSecretFile != "" {
		b, err := os.ReadFile(cfg.SignatureSecretFile)
		if err != nil {
			return Options{}, fmt.Errorf("read signature secret: %w", err)
		}
		// The controller normalises its key the same way, so that both sides agree.
		opts.Secret = webhooks.NormalizeKey(b)
		if len(opts.Secret) == 0 {
			return Options{}, fmt.Errorf("signature secret file %s is empty", cfg.SignatureSecretFile)
		}
	}
	if opts.Gates, err = cfg.gateStore(log); err != nil {
		return Options{}, err
	}
	return opts, nil
}

func (cfg Config) gateStore(log logr.Logger) (GateStore, error) {
	kind := cfg.GateStore
	if kind == "" || kind == GateStoreAuto {
		kind = GateStoreMemory
		if _, err := rest.InClusterConfig(); err == nil {
			kind = GateStoreConfigMap
		}
	}
	switch kind {
	case GateStoreMemory:
		log.Info("gates kept in memory: they do not survive a restart", "reason", "gate store memory")
		return gate.NewMemory(cfg.GateTTL), nil
	case GateStoreConfigMap:
		ns := cfg.GateConfigMapNamespace
		if ns == "" {
			ns = os.Getenv("POD_NAMESPACE")
		}
		if ns == "" {
			if b, err := os.ReadFile(serviceAccountNamespaceFile); err == nil {
				ns = strings.TrimSpace(string(b))
			}
		}
		if ns == "" {
			return nil, errors.New("gate ConfigMap namespace unknown: set --gate-configmap-namespace")
		}
		restCfg, err := config.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes client config: %w", err)
		}
		c, err := client.New(restCfg, client.Options{})
		if err != nil {
			return nil, fmt.Errorf("kubernetes client: %w", err)
		}
		log.Info("gates kept in a ConfigMap", "configMap", ns+"/"+cfg.GateConfigMapName)
		return gate.NewConfigMap(c, ns, cfg.GateConfigMapName, cfg.GateTTL), nil
	}
	return nil, fmt.Errorf("unknown gate store %q: want auto, memory or configmap", cfg.GateStore)
}
