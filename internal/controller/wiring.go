package controller

import (
	"fmt"
	"os"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/siskin-dev/siskin/pkg/kubeevents"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/cloudwatch"
	"github.com/siskin-dev/siskin/pkg/metrics/datadog"
	"github.com/siskin-dev/siskin/pkg/metrics/dynatrace"
	"github.com/siskin-dev/siskin/pkg/metrics/graphite"
	"github.com/siskin-dev/siskin/pkg/metrics/influxdb"
	"github.com/siskin-dev/siskin/pkg/metrics/keptn"
	"github.com/siskin-dev/siskin/pkg/metrics/newrelic"
	"github.com/siskin-dev/siskin/pkg/metrics/prometheus"
	"github.com/siskin-dev/siskin/pkg/metrics/splunk"
	"github.com/siskin-dev/siskin/pkg/metrics/stackdriver"
	"github.com/siskin-dev/siskin/pkg/observability"
	"github.com/siskin-dev/siskin/pkg/router/all"
	"github.com/siskin-dev/siskin/pkg/router/kubernetes"
	"github.com/siskin-dev/siskin/pkg/target"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// Options configure a CanaryReconciler built by New.
type Options struct {
	// DefaultProvider is the router provider of Canaries that name none.
	DefaultProvider string
	// MetricsServer is the Prometheus of Canaries and MetricTemplates that name none.
	MetricsServer string
	// Concurrency bounds the Canaries reconciled at once.
	Concurrency int
	// MaxConcurrentCanaries bounds the rollouts in flight at once; 0 means no limit.
	MaxConcurrentCanaries int
	// StepLatenessTarget turns on adaptive admission of new rollouts: the step lateness the
	// limit of rollouts in flight is kept under (see rolloutAdmission); 0 is off.
	StepLatenessTarget time.Duration
	// SelectorLabels are the label keys that tell a target's pods from the primary's; empty
	// means target.DefaultSelectorLabels.
	SelectorLabels []string
	// WebhookSigningKeyFile holds a key that signs every webhook call (X-Siskin-Signature).
	WebhookSigningKeyFile string
	// AllowCrossNamespaceRefs lets a metric's templateRef name a MetricTemplate in another
	// namespace (--allow-cross-namespace-refs).
	AllowCrossNamespaceRefs bool
	// WebhookOptions are added to the webhook client's: its outbound policy
	// (--webhook-allow-cidrs, --webhook-deny-cidrs) and the legacy signature.
	WebhookOptions []webhooks.Option
	// AdoptFlaggerNamespaces are namespaces whose Canaries take over what Flagger made for
	// them without the siskin.dev/adopt annotation ("*" for all; --adopt-flagger-namespaces).
	AdoptFlaggerNamespaces []string
	// Events records Kubernetes events about Canaries; nil makes a kubeevents.Recorder on the
	// manager.
	Events events.EventRecorder
	// Notifier announces events to alert providers; nil sends nothing.
	Notifier Notifier
	// Registry receives Siskin's own metrics when Metrics is nil; nil means controller-runtime's
	// registry, which the manager serves on its metrics endpoint.
	Registry prom.Registerer
	// Metrics records Siskin's own metrics; nil creates a Recorder on Registry.
	Metrics *observability.Recorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Shards splits the Canaries among replicas (NewShards); nil reconciles every Canary.
	Shards Shards
}

// New builds a CanaryReconciler on the manager's cache and client.
func New(mgr ctrl.Manager, o Options) (*CanaryReconciler, error) {
	c := mgr.GetClient()
	reader := mgr.GetCache()
	var hookOpts []webhooks.Option
	hookOpts = append(hookOpts, webhooks.WithHeaderSource(metrics.CacheReader{Reader: c}))
	if o.WebhookSigningKeyFile != "" {
		key, err := os.ReadFile(o.WebhookSigningKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read webhook signing key: %w", err)
		}
		// WithSigningKey normalises the key as the load tester does (webhooks.NormalizeKey).
		hookOpts = append(hookOpts, webhooks.WithSigningKey(key))
	}
	hookOpts = append(hookOpts, o.WebhookOptions...)
	recorder := o.Metrics
	if recorder == nil {
		var err error
		if recorder, err = observability.NewRecorder(o.Registry); err != nil {
			return nil, err
		}
	}
	rec := o.Events
	if rec == nil {
		var err error
		if rec, err = kubeevents.ForManager(mgr, "siskin", recorder.RecordEventDropped); err != nil {
			return nil, err
		}
	}
	pool := metrics.Backends{
		metrics.TypePrometheus:  prometheus.NewPool(prometheus.Options{}),
		metrics.TypeDatadog:     datadog.NewPool(datadog.Options{}),
		metrics.TypeCloudWatch:  cloudwatch.NewPool(cloudwatch.Options{}),
		metrics.TypeKeptn:       keptn.New(c, keptn.Options{}),
		metrics.TypeStackdriver: stackdriver.NewPool(stackdriver.Options{}),
		metrics.TypeSplunk:      splunk.NewPool(splunk.Options{}),
		metrics.TypeNewRelic:    newrelic.NewPool(newrelic.Options{}),
		metrics.TypeInfluxDB:    influxdb.NewPool(influxdb.Options{}),
		metrics.TypeGraphite:    graphite.NewPool(graphite.Options{}),
		metrics.TypeDynatrace:   dynatrace.NewPool(dynatrace.Options{}),
	}
	// The routers and the target adapters write through a client that records their writes,
	// so that a round meeting a cache without them waits for it (objectWrites).
	objects := &objectWrites{reader: reader}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	oc := expectingClient{Client: c, writes: objects, now: now}
	kinds := target.NewKinds(reader, oc, o.SelectorLabels, o.AdoptFlaggerNamespaces)
	services := kubernetes.New(reader, oc, o.SelectorLabels)
	return &CanaryReconciler{
		Client:                  c,
		Recorder:                rec,
		DefaultProvider:         o.DefaultProvider,
		MaxConcurrentReconciles: o.Concurrency,
		MaxConcurrentCanaries:   o.MaxConcurrentCanaries,
		Target:                  kinds,
		Services:                services,
		Routers:                 all.New(reader, oc, services, kinds),
		Webhooks:                webhooks.New(hookOpts...),
		Analyzer: metrics.NewAnalyzer(metrics.AnalyzerOptions{
			Providers: pool,
			Templates: metrics.CacheReader{Reader: c},
			Secrets:   metrics.CacheReader{Reader: c},
			Default:   metrics.ProviderConfig{Address: o.MetricsServer},

			AllowCrossNamespaceRefs: o.AllowCrossNamespaceRefs,
		}),
		Metrics:   recorder,
		Notifier:  o.Notifier,
		Now:       o.Now,
		objects:   objects,
		shards:    o.Shards,
		admission: rolloutAdmission{target: o.StepLatenessTarget},
	}, nil
}
