// Command siskin is the Siskin controller: it watches Canaries and rolls out new revisions of
// their targets in steps, promoting or rolling back on what the analysis says.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/controller"
	"github.com/siskin-dev/siskin/pkg/kubeevents"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/notify"
	"github.com/siskin-dev/siskin/pkg/observability"
	"github.com/siskin-dev/siskin/pkg/providers"
	"github.com/siskin-dev/siskin/pkg/router/all"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type options struct {
	metricsAddr      string
	probeAddr        string
	leaderElect      bool
	leaderElectionNS string
	leaderElectionID string
	pprofAddr        string
	namespaces       string
	provider         string
	metricsServer    string
	qps              float64
	burst            int
	concurrent       int
	maxCanaries      int
	latenessTarget   time.Duration
	selectorLabels   string
	signingKeyFile   string
	logLevel         string
	logEncoding      string
	showVersion      bool
	notify           notify.GlobalOptions
	allowCrossNSRefs bool
	flaggerMetrics   bool

	// The webhook client's outbound policy and legacy signature.
	webhookAllowCIDRs string
	webhookDenyCIDRs  string
	webhookLegacySig  bool
	// Namespaces whose Canaries take over Flagger's objects without siskin.dev/adopt.
	adoptFlaggerNamespaces string
	// Sharding across replicas (internal/controller/shard.go).
	shards     int
	shardIndex int
	shardLease time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader through a Lease so that only one replica reconciles.")
	flag.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader-election Lease; defaults to the pod's namespace.")
	flag.StringVar(&o.leaderElectionID, "leader-election-id", "siskin-leader-election", "Name of the leader-election Lease; give each installation watching the same namespace its own.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "", "Address of the Go profiler's /debug/pprof endpoints; empty disables it. Keep it on loopback or behind a network policy.")
	flag.StringVar(&o.namespaces, "watch-namespaces", "", "Comma-separated namespaces to watch; empty watches all.")
	flag.StringVar(&o.provider, "provider", siskinv1.ProviderIstio, "Router provider of Canaries that name none: "+providers.Names(true)+".")
	flag.StringVar(&o.metricsServer, "metrics-server", "http://prometheus:9090", "Prometheus address of Canaries and MetricTemplates that name none.")
	flag.Float64Var(&o.qps, "kube-api-qps", 50, "Queries per second to the Kubernetes API.")
	flag.IntVar(&o.burst, "kube-api-burst", 100, "Burst of queries to the Kubernetes API.")
	flag.IntVar(&o.concurrent, "concurrent", 4, "Canaries reconciled at once.")
	flag.IntVar(&o.maxCanaries, "max-concurrent-canaries", 0, "Rollouts in flight at once; a new revision beyond the limit waits for a slot. 0 means no limit.")
	flag.DurationVar(&o.latenessTarget, "step-lateness-target", 2*time.Second, "Adaptive admission: while analysis steps of rollouts in flight are served later than this after they were due, fewer new rollouts start (never fewer than 10 in flight), so the rollouts already started keep their schedule. 0 turns it off.")
	flag.StringVar(&o.selectorLabels, "selector-labels", "app,name,app.kubernetes.io/name", "Label keys, in order, that select a target's pods; the first found in the target's selector is used.")
	flag.StringVar(&o.signingKeyFile, "webhook-signing-key-file", "", "File with a key that signs every webhook call (X-Siskin-Signature-V2: HMAC of time, method, path and body).")
	flag.StringVar(&o.logLevel, "log-level", "info", "Log level: debug, info, warn or error.")
	flag.StringVar(&o.logEncoding, "log-encoding", "json", "Log encoding: json or console.")
	flag.BoolVar(&o.showVersion, "version", false, "Print the version and exit.")
	flag.BoolVar(&o.flaggerMetrics, "flagger-metrics", false, "Also export Flagger's metrics (flagger_info, flagger_canary_*), with Flagger's names and labels, beside Siskin's own, for dashboards and alerts written for Flagger.")
	flag.BoolVar(&o.allowCrossNSRefs, "allow-cross-namespace-refs", false, "Let a Canary's templateRef and alert providerRef name an object in another namespace, whose credentials it then uses. Off, such references are refused.")
	flag.StringVar(&o.webhookAllowCIDRs, "webhook-allow-cidrs", "", "Comma-separated CIDR ranges that webhooks may be called at although the default outbound policy refuses them (link-local, cloud metadata and unspecified addresses).")
	flag.StringVar(&o.webhookDenyCIDRs, "webhook-deny-cidrs", "", "Comma-separated CIDR ranges that webhooks may not be called at, besides link-local, cloud metadata and unspecified addresses.")
	flag.BoolVar(&o.webhookLegacySig, "webhook-legacy-signature", false, "Also send the replayable body-only X-Siskin-Signature with signed webhook calls, for receivers that do not verify X-Siskin-Signature-V2 yet.")
	flag.StringVar(&o.adoptFlaggerNamespaces, "adopt-flagger-namespaces", "", "Comma-separated namespaces (* for all) whose Canaries take over the primary Deployment, Services and routes that Flagger made for the Flagger Canary of the same name, as the siskin.dev/adopt=flagger annotation does for one Canary. Stop Flagger first.")
	flag.IntVar(&o.shards, "shards", 0, "Shards the Canaries are split into among replicas, each owned by the replica holding the Lease <leader-election-id>-shard-<i>; a Canary's shard is its siskin.dev/shard label or a hash of its namespace and name. 0 or 1 is no sharding.")
	flag.IntVar(&o.shardIndex, "shard-index", -1, "With --shards, the shard this replica prefers; -1 takes the ordinal at the end of the pod's name (POD_NAME or the host name, as in a StatefulSet), else none.")
	flag.DurationVar(&o.shardLease, "shard-lease-duration", 15*time.Second, "With --shards, how long a shard's Lease lasts unrenewed before another replica takes the shard over; the holder stops at two thirds of it.")
	o.notify.AddFlags(flag.CommandLine)
	flag.Parse()

	if o.showVersion {
		fmt.Println(version)
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "siskin:", err)
		os.Exit(1)
	}
}

// defaultGCPercent is the garbage collector's target unless GOGC says otherwise: the heap may
// grow by half of what is live before a collection instead of doubling. The controller spends
// well under a tenth of a core at a thousand Canaries, so a little more collection is cheap,
// while most of its resident memory is the informer caches' live objects and their garbage.
const defaultGCPercent = 50

func run(o options) error {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
	if err := checkProvider(o.provider); err != nil {
		return err
	}
	webhookPolicy, err := webhooks.ParseOutboundPolicy(o.webhookAllowCIDRs, o.webhookDenyCIDRs)
	if err != nil {
		return err
	}
	logger, err := newLogger(o.logLevel, o.logEncoding)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zapr.NewLogger(logger))
	log := ctrl.Log.WithName("setup")

	scheme, err := all.Scheme()
	if err != nil {
		return fmt.Errorf("build scheme: %w", err)
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS = float32(o.qps)
	cfg.Burst = o.burst
	cfg.UserAgent = "siskin/" + version

	// The transform keeps out of memory what the controller never reads (managed fields,
	// last-applied copies, the data of token and Helm release Secrets).
	cacheOpts := cache.Options{DefaultTransform: controller.TrimForCache}
	if ns := splitList(o.namespaces); len(ns) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, n := range ns {
			cacheOpts.DefaultNamespaces[n] = cache.Config{}
		}
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		MapperProvider:                controller.NewRESTMapper,
		Metrics:                       metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:        o.probeAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              o.leaderElectionID,
		PprofBindAddress:              o.pprofAddr,
		LeaderElectionNamespace:       o.leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}

	var metricsOpts []observability.Option
	if o.flaggerMetrics {
		metricsOpts = append(metricsOpts, observability.WithFlaggerNames(version, o.provider))
	}
	recorder, err := observability.NewRecorder(nil, metricsOpts...)
	if err != nil {
		return err
	}
	// One recorder writes the events of the Canary controller and of the notifier.
	events, err := kubeevents.ForManager(mgr, "siskin", recorder.RecordEventDropped)
	if err != nil {
		return err
	}
	healthChanges, onHealthChange := controller.HealthChanges()
	notifier, err := notify.New(notify.Options{
		Reader:         mgr.GetCache(),
		Global:         o.notify,
		OnFailure:      recorder.RecordNotificationFailure,
		OnHealthChange: onHealthChange,
		Events:         events,

		AllowCrossNamespaceRefs: o.allowCrossNSRefs,
	})
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	if err := mgr.Add(notifier); err != nil {
		return fmt.Errorf("add notifier: %w", err)
	}
	shards, err := controller.NewShards(mgr, controller.ShardOptions{
		Shards: o.shards, Index: o.shardIndex, Namespace: o.leaderElectionNS, ID: o.leaderElectionID, LeaseDuration: o.shardLease,
	})
	if err != nil {
		return err
	}
	rec, err := controller.New(mgr, controller.Options{
		Metrics:               recorder,
		Events:                events,
		Notifier:              notifier,
		DefaultProvider:       o.provider,
		MetricsServer:         o.metricsServer,
		Concurrency:           o.concurrent,
		MaxConcurrentCanaries: o.maxCanaries,
		StepLatenessTarget:    o.latenessTarget,
		SelectorLabels:        splitList(o.selectorLabels),
		WebhookSigningKeyFile: o.signingKeyFile,

		AdoptFlaggerNamespaces: splitList(o.adoptFlaggerNamespaces),

		AllowCrossNamespaceRefs: o.allowCrossNSRefs,
		Shards:                  shards,
		WebhookOptions: []webhooks.Option{
			webhooks.WithOutboundPolicy(webhookPolicy), webhooks.WithLegacySignature(o.webhookLegacySig),
		},
	})
	if err != nil {
		return err
	}
	if err := rec.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up canary controller: %w", err)
	}

	if err := (&controller.AlertProviderReconciler{
		Client: mgr.GetClient(), Health: notifier, Changes: healthChanges,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up alertprovider controller: %w", err)
	}

	synced := cacheSynced(mgr)
	if err := mgr.AddHealthzCheck("informers", synced); err != nil {
		return fmt.Errorf("add healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("informers", synced); err != nil {
		return fmt.Errorf("add readyz check: %w", err)
	}

	log.Info("starting siskin", "version", version, "provider", o.provider, "metricsServer", metrics.RedactURL(o.metricsServer))
	return mgr.Start(ctrl.SetupSignalHandler())
}

// cacheSynced fails until every informer the manager started has synced.
func cacheSynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), 50*time.Millisecond)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informer caches are not synced")
		}
		return nil
	}
}

func checkProvider(name string) error {
	if p, ok := providers.Lookup(name); ok && p.Default {
		return nil
	}
	return fmt.Errorf("--provider %q is not one of %s", name, providers.Names(true))
}

func newLogger(level, encoding string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	var cfg zap.Config
	switch encoding {
	case "json":
		cfg = zap.NewProductionConfig()
	case "console":
		cfg = zap.NewDevelopmentConfig()
	default:
		return nil, fmt.Errorf("--log-encoding %q is not json or console", encoding)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil
	return cfg.Build()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
