// Package keptn is the Keptn metric provider: it reads the objects of Keptn's metrics-operator
// (group metrics.keptn.sh, version v1) through the Kubernetes API with the controller's client,
// as Flagger's keptn provider does with its dynamic client. A MetricTemplate's query is one of
//
//	keptnmetric/<namespace>/<name>
//	analysis/<namespace>/<analysis-definition>/<timeframe>/<key>=<value>;<key>=<value>
//
// A keptnmetric query reads the KeptnMetric's status.value, the value the metrics-operator last
// fetched from its own provider; further segments are ignored, as Flagger ignores them (the
// KeptnMetric has its own range). An analysis query creates an Analysis of the named
// AnalysisDefinition over the last <timeframe> (a Go duration; without one, the metric's
// interval) with the arguments given, waits for the metrics-operator to complete it, deletes
// it, and answers 1 when it passed and 0 when it did not, so a thresholdRange min 1 judges it.
// A completed Analysis whose status carries no pass has not passed (Keptn omits pass when false).
//
// The resource kind and the namespace are matched without regard to case, as in Flagger; the
// arguments keep their case (Flagger lowercases them).
//
// Without --allow-cross-namespace-refs a query may only name the MetricTemplate's own
// namespace: the controller's RBAC reads KeptnMetrics and creates Analyses cluster-wide, and a
// template author must not reach another namespace's objects through it.
//
// Keptn's Go module is not a dependency: the objects are read as unstructured.Unstructured, and
// the package's tests install a minimal CRD of the documented shape (testdata/).
package keptn

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// +kubebuilder:rbac:groups=metrics.keptn.sh,resources=keptnmetrics,verbs=get;list
// +kubebuilder:rbac:groups=metrics.keptn.sh,resources=analyses,verbs=create;get;delete

// The kinds the provider reads and writes.
var (
	KeptnMetricKind = schema.GroupVersionKind{Group: "metrics.keptn.sh", Version: "v1", Kind: "KeptnMetric"}
	AnalysisKind    = schema.GroupVersionKind{Group: "metrics.keptn.sh", Version: "v1", Kind: "Analysis"}
)

// Defaults of Options.
const (
	// DefaultAnalysisTimeout is how long an Analysis may take to complete, Flagger's 10 s.
	DefaultAnalysisTimeout = 10 * time.Second
	// DefaultPollInterval is how often a pending Analysis is read again.
	DefaultPollInterval = time.Second
)

// Options tune the provider; the zero value takes the defaults.
type Options struct {
	// AnalysisTimeout bounds the wait for an Analysis to complete.
	AnalysisTimeout time.Duration
	// PollInterval is the pause between two reads of a pending Analysis.
	PollInterval time.Duration
}

// Backend hands out keptn providers on one Kubernetes client; it implements metrics.Providers.
type Backend struct {
	client client.Client
	opts   Options
}

var _ metrics.Providers = (*Backend)(nil)

// New returns a Backend on c, which must reach the API server itself for unstructured objects
// (a manager's default client does: it caches no unstructured kinds).
func New(c client.Client, opts Options) *Backend {
	if opts.AnalysisTimeout <= 0 {
		opts.AnalysisTimeout = DefaultAnalysisTimeout
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	return &Backend{client: c, opts: opts}
}

// Provider implements metrics.Providers: a provider confined to cfg.Namespace (any namespace
// when it is empty).
func (b *Backend) Provider(cfg metrics.ProviderConfig) (metrics.Provider, error) {
	if cfg.Type != metrics.TypeKeptn {
		return nil, fmt.Errorf("provider type %q is not keptn", cfg.Type)
	}
	return &Provider{backend: b, namespace: cfg.Namespace}, nil
}

// Provider runs keptn queries for the MetricTemplates of one namespace.
type Provider struct {
	backend   *Backend
	namespace string
}

var _ metrics.Provider = (*Provider)(nil)

// query is a parsed keptn query.
type query struct {
	kind      schema.GroupVersionKind
	namespace string
	name      string
	timeframe string
	args      map[string]any
}

// ErrQuery is wrapped by the error of a query that is not of the keptn forms.
var ErrQuery = errors.New("keptn query must be keptnmetric/<namespace>/<name> or analysis/<namespace>/<name>/<timeframe>/<key>=<value>;<key>=<value>")

// parse reads a keptn query.
func parse(text string) (query, error) {
	parts := strings.Split(strings.TrimSpace(text), "/")
	if len(parts) < 3 || parts[1] == "" || parts[2] == "" {
		return query{}, fmt.Errorf("%w: got %q", ErrQuery, text)
	}
	q := query{namespace: strings.ToLower(parts[1]), name: strings.ToLower(parts[2])}
	switch strings.ToLower(parts[0]) {
	case "keptnmetric", "keptnmetrics":
		q.kind = KeptnMetricKind
	case "analysis", "analyses":
		q.kind = AnalysisKind
		if len(parts) > 3 && parts[3] != "" {
			if _, err := time.ParseDuration(parts[3]); err != nil {
				return query{}, fmt.Errorf("%w: timeframe %q is not a duration such as 5m", ErrQuery, parts[3])
			}
			q.timeframe = parts[3]
		}
		q.args = map[string]any{}
		if len(parts) > 4 {
			for _, kv := range strings.Split(strings.Join(parts[4:], "/"), ";") {
				if strings.TrimSpace(kv) == "" {
					continue
				}
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return query{}, fmt.Errorf("%w: argument %q is not key=value", ErrQuery, kv)
				}
				q.args[k] = v
			}
		}
	default:
		return query{}, fmt.Errorf("%w: kind %q is neither keptnmetric nor analysis", ErrQuery, parts[0])
	}
	return q, nil
}

// Query runs a keptnmetric or analysis query.
func (p *Provider) Query(ctx context.Context, text string) (metrics.Sample, error) {
	q, err := parse(text)
	if err != nil {
		return metrics.Sample{}, err
	}
	if p.namespace != "" && q.namespace != p.namespace {
		return metrics.Sample{}, fmt.Errorf("keptn query names namespace %s: a MetricTemplate in %s reads only its own namespace's Keptn objects unless the controller runs with --allow-cross-namespace-refs", q.namespace, p.namespace)
	}
	if q.kind == KeptnMetricKind {
		return p.metric(ctx, q)
	}
	if q.timeframe == "" {
		q.timeframe = metrics.Window(ctx).String()
	}
	return p.analysis(ctx, q)
}

// metric reads a KeptnMetric's status.value.
func (p *Provider) metric(ctx context.Context, q query) (metrics.Sample, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(KeptnMetricKind)
	if err := p.backend.client.Get(ctx, client.ObjectKey{Namespace: q.namespace, Name: q.name}, u); err != nil {
		return metrics.Sample{}, failed("read KeptnMetric", q, err)
	}
	value, _, _ := unstructured.NestedString(u.Object, "status", "value")
	if strings.TrimSpace(value) == "" {
		if msg, _, _ := unstructured.NestedString(u.Object, "status", "errMsg"); msg != "" {
			return metrics.Sample{}, fmt.Errorf("KeptnMetric %s/%s has no value: the metrics-operator says: %s", q.namespace, q.name, msg)
		}
		return metrics.Sample{}, fmt.Errorf("%w: KeptnMetric %s/%s has no status.value yet", metrics.ErrNoData, q.namespace, q.name)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil {
		return metrics.Sample{}, fmt.Errorf("KeptnMetric %s/%s: status.value %q is not a number", q.namespace, q.name, value)
	}
	s := metrics.Sample{Value: v}
	if ts, ok, _ := unstructured.NestedString(u.Object, "status", "lastUpdated"); ok {
		if t, err := time.Parse(time.RFC3339, ts); err == nil {
			s.Time = t
		}
	}
	return s, nil
}

// analysis creates an Analysis, waits for its result and deletes it.
func (p *Provider) analysis(ctx context.Context, q query) (metrics.Sample, error) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"analysisDefinition": map[string]any{"name": q.name, "namespace": q.namespace},
			"timeframe":          map[string]any{"recent": q.timeframe},
			"args":               q.args,
		},
	}}
	u.SetGroupVersionKind(AnalysisKind)
	u.SetNamespace(q.namespace)
	u.SetGenerateName(q.name + "-")
	u.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "siskin"})
	if err := p.backend.client.Create(ctx, u); err != nil {
		return metrics.Sample{}, failed("create Analysis of", q, err)
	}
	name := u.GetName()
	defer func() {
		// The check's context may be over; the deletion still gets a few seconds.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = client.IgnoreNotFound(p.backend.client.Delete(dctx, u))
	}()

	ctx, cancel := context.WithTimeout(ctx, p.backend.opts.AnalysisTimeout)
	defer cancel()
	tick := time.NewTicker(p.backend.opts.PollInterval)
	defer tick.Stop()
	state := ""
	for {
		select {
		case <-ctx.Done():
			return metrics.Sample{}, fmt.Errorf("keptn Analysis %s/%s of AnalysisDefinition %s did not complete within %s (state %q): is Keptn's metrics-operator running?",
				q.namespace, name, q.name, p.backend.opts.AnalysisTimeout, state)
		case <-tick.C:
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(AnalysisKind)
		if err := p.backend.client.Get(ctx, client.ObjectKey{Namespace: q.namespace, Name: name}, got); err != nil {
			if dl, _ := ctx.Deadline(); ctx.Err() != nil || time.Until(dl) < p.backend.opts.PollInterval {
				continue // the wait is over (the client's rate limiter says so before the context): reported as the timeout above
			}
			return metrics.Sample{}, failed("read Analysis of", q, err)
		}
		state, _, _ = unstructured.NestedString(got.Object, "status", "state")
		if state != "Completed" {
			continue
		}
		pass, _, _ := unstructured.NestedBool(got.Object, "status", "pass")
		if pass {
			return metrics.Sample{Value: 1}, nil
		}
		return metrics.Sample{Value: 0}, nil
	}
}

// failed says what went wrong with a Keptn object, naming a missing CRD plainly.
func failed(what string, q query, err error) error {
	switch {
	case meta.IsNoMatchError(err):
		return fmt.Errorf("keptn %s %s/%s: the metrics.keptn.sh/v1 CRDs of Keptn's metrics-operator are not installed: %w", what, q.namespace, q.name, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("keptn %s %s/%s: not found: %w", what, q.namespace, q.name, err)
	}
	return fmt.Errorf("keptn %s %s/%s: %w", what, q.namespace, q.name, err)
}
