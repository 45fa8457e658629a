// Command siskin-loadtester serves Siskin's load tester: built-in load generation that can fail
// a canary step, manual gates that survive restarts, and allow-listed command tasks.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/siskin-dev/siskin/loadtester"
	"github.com/siskin-dev/siskin/loadtester/gate"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ", ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var (
		cfg      loadtester.Config
		allow    stringList
		logLevel = zap.LevelFlag("log-level", zapcore.InfoLevel, "log level: debug, info, warn or error")
		logDev   = flag.Bool("log-dev", false, "human-readable console logs instead of JSON")
	)
	flag.StringVar(&cfg.Addr, "listen-address", ":8080", "address the HTTP server listens on")
	flag.StringVar(&cfg.GateStore, "gate-store", loadtester.GateStoreAuto,
		"where gate state lives: auto (configmap in a cluster, memory elsewhere), memory or configmap")
	flag.StringVar(&cfg.GateConfigMapName, "gate-configmap", "siskin-loadtester-gates", "name of the gate ConfigMap")
	flag.StringVar(&cfg.GateConfigMapNamespace, "gate-configmap-namespace", "",
		"namespace of the gate ConfigMap (default: $POD_NAMESPACE, then the service account's namespace)")
	flag.DurationVar(&cfg.GateTTL, "gate-ttl", gate.DefaultTTL,
		"how long a gate entry (the revision waiting and its approval) lives without being written")
	flag.StringVar(&cfg.NamespaceRegexp, "namespace-regexp", "",
		"only serve canaries whose namespace matches this regular expression as a whole (default: all)")
	flag.BoolVar(&cfg.RequireSignature, "require-signature", false,
		"refuse webhook calls without a valid X-Siskin-Signature-V2 (401)")
	flag.BoolVar(&cfg.AcceptLegacySignature, "accept-legacy-signature", false,
		"also accept the replayable body-only X-Siskin-Signature of controllers older than v2 signatures")
	flag.StringVar(&cfg.SignatureSecretFile, "signature-secret-file", "", "file holding the webhook HMAC secret")
	flag.BoolVar(&cfg.EnableShell, "enable-shell", false, "allow cmd (sh -c) and bash tasks that match --allow-command")
	flag.BoolVar(&cfg.EnableKubectl, "enable-kubectl", false, "allow kubectl tasks that match --allow-command")
	flag.BoolVar(&cfg.EnableHelm, "enable-helm", false, "allow helm tasks that match --allow-command")
	flag.Var(&allow, "allow-command",
		"regular expression a command line must match as a whole to run; repeatable (default: none)")
	flag.StringVar(&cfg.KubectlPath, "kubectl-path", "kubectl", "kubectl program")
	flag.StringVar(&cfg.HelmPath, "helm-path", "helm", "helm program")
	flag.DurationVar(&cfg.TaskTimeout, "task-timeout", time.Hour, "deadline of each command task")
	flag.IntVar(&cfg.MaxOutputBytes, "max-output-bytes", 64<<10, "command output kept per task")
	flag.DurationVar(&cfg.MaxLoadDuration, "max-load-duration", loadtester.DefaultMaxLoadDuration,
		fmt.Sprintf("longest load run (and request timeout) accepted; every run is cut off after it (at most %s)", loadtester.CeilingLoadDuration))
	flag.IntVar(&cfg.MaxTasks, "max-tasks", loadtester.DefaultMaxTasks,
		fmt.Sprintf("load and command tasks running at once; more are answered 429 (at most %d)", loadtester.CeilingTasks))
	flag.IntVar(&cfg.MaxConcurrency, "max-concurrency", loadtester.DefaultMaxConcurrency,
		fmt.Sprintf("most workers of one load run (hey -c); more is answered 400 (at most %d)", loadtester.CeilingConcurrency))
	flag.Float64Var(&cfg.MaxRate, "max-rate", loadtester.DefaultMaxRate,
		fmt.Sprintf("most requests per second of one load run (hey -q × -c); more is answered 400 (at most %g)", loadtester.CeilingRate))
	flag.IntVar(&cfg.MaxWorkers, "max-workers", loadtester.DefaultMaxWorkers,
		fmt.Sprintf("most workers of all load runs together; more are answered 429 (at most %d)", loadtester.CeilingWorkers))
	flag.StringVar(&cfg.AllowTargetHost, "allow-target-host", "",
		"regular expression of load target hosts (host or host:port, matched as a whole) allowed outside the canary's namespace (default: none)")
	flag.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "grace period on SIGTERM")
	flag.Parse()
	cfg.AllowCommands = allow

	zc := zap.NewProductionConfig()
	if *logDev {
		zc = zap.NewDevelopmentConfig()
	}
	zc.Level = zap.NewAtomicLevelAt(*logLevel)
	zl, err := zc.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "build logger:", err)
		os.Exit(2)
	}
	log := zapr.NewLogger(zl)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := loadtester.Run(ctx, cfg, log); err != nil {
		log.Error(err, "load tester stopped")
		_ = zl.Sync()
		stop()
		os.Exit(1)
	}
	_ = zl.Sync()
}
