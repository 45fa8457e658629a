package metrics

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// DefaultStepTimeout bounds the queries of one analysis step when AnalyzerOptions names no
// StepTimeout.
const DefaultStepTimeout = 15 * time.Second

// MinSample is the least data a metric needs before its value is judged. While the sample is
// below Min the check's verdict is NoData: the step waits instead of judging too few requests,
// and only the engine's progress deadline turns waiting into a failure.
//
// It stands in for a field of CanaryMetric until the API has one.
type MinSample struct {
	// Query returns the sample size, for example the canary's requests in the window. It is a
	// template like the metric's query and runs on the same provider. Empty means the router
	// provider's built-in request-count query, which only built-in metrics may use.
	Query string
	// Min is the least sample size at which the value is judged.
	Min float64
}

// AnalyzerOptions configure an Analyzer.
type AnalyzerOptions struct {
	// Providers hands out provider clients; normally a prometheus.Pool. Required.
	Providers Providers
	// Templates reads MetricTemplates; needed by metrics with a templateRef.
	Templates TemplateReader
	// Secrets reads provider Secrets; needed by MetricTemplates with a secretRef.
	Secrets SecretReader
	// Default is the controller's metrics server (--metrics-server), used by canaries and
	// MetricTemplates that name no address. Its credentials and headers are sent to its own
	// address only, never to an address a Canary or MetricTemplate names.
	Default ProviderConfig
	// StepTimeout bounds one step's queries; zero means DefaultStepTimeout.
	StepTimeout time.Duration
	// AllowCrossNamespaceRefs lets a Canary's templateRef name a MetricTemplate in another
	// namespace (--allow-cross-namespace-refs). Off, such a metric's check is an Error, so a
	// tenant cannot run another namespace's template, with its provider settings, as its own.
	AllowCrossNamespaceRefs bool
}

// Analyzer runs the metric checks of analysis steps. It holds no per-canary state and is safe
// for concurrent use.
type Analyzer struct {
	opts AnalyzerOptions
}

// NewAnalyzer returns an Analyzer.
func NewAnalyzer(opts AnalyzerOptions) *Analyzer {
	if opts.StepTimeout <= 0 {
		opts.StepTimeout = DefaultStepTimeout
	}
	return &Analyzer{opts: opts}
}

// Step is one analysis step of one canary.
type Step struct {
	// Canary whose spec.analysis.metrics are checked.
	Canary *siskinv1.Canary
	// Router is the provider name the Canary uses (spec.provider or the controller's default),
	// aliases unresolved: it selects the built-in queries (gatewayapi:contour has its own).
	Router string
	// Now is the time of the step: every query is evaluated at it and every result carries it.
	Now time.Time
	// Since is when the revision under analysis started receiving traffic (the rollout's
	// start). A metric's window ({{ interval }}) never reaches back before it: the canary
	// Deployment keeps its name from one revision to the next, so a longer window would judge
	// the new revision on the requests of the one before it (a rolled-back bad release fails
	// the good one after it). Zero means no bound.
	Since time.Time
	// NoTraffic is true when the route sends the canary no traffic in this step (weight 0, no
	// mirroring): a metric without data is then NoData, never a failed check, with or without
	// a minimum sample.
	NoTraffic bool
	// CanaryPods and PrimaryPods are anchored regular expressions of the names of the canary's
	// and the primary's pods ({{ canaryPods }}, {{ primaryPods }}), set by the controller when
	// the target's kind knows them; empty, a query that uses them fails with ErrNoPods.
	CanaryPods, PrimaryPods string
	// MinSamples are minimum samples by metric name for metrics whose spec declares none
	// (spec.analysis.metrics[].minSample wins); tests and callers use it to impose one.
	MinSamples map[string]MinSample
}

// Run checks every metric of the step's canary concurrently and returns one result per metric,
// in spec order. It returns by the step deadline whatever the providers do: a check without an
// answer by then has verdict Error. It returns nil when the canary has no metrics.
func (a *Analyzer) Run(ctx context.Context, step Step) []siskinv1.CheckResult {
	if step.Canary == nil || step.Canary.Spec.Analysis == nil || len(step.Canary.Spec.Analysis.Metrics) == 0 {
		return nil
	}
	specs := step.Canary.Spec.Analysis.Metrics

	ctx, cancel := context.WithTimeoutCause(ctx, a.opts.StepTimeout,
		fmt.Errorf("no answer within the step deadline of %s", a.opts.StepTimeout))
	defer cancel()
	if !step.Now.IsZero() {
		ctx = WithEvaluationTime(ctx, step.Now)
	}

	type answer struct {
		i int
		r siskinv1.CheckResult
	}
	// Buffered, so a check that answers after the deadline does not block its goroutine.
	answers := make(chan answer, len(specs))
	for i, m := range specs {
		go func() {
			defer func() {
				if p := recover(); p != nil {
					answers <- answer{i, errorResult(step, m, fmt.Sprintf("%s: panic: %v", m.Name, p))}
				}
			}()
			answers <- answer{i, a.check(ctx, step, m)}
		}()
	}

	results := make([]siskinv1.CheckResult, len(specs))
	answered := make([]bool, len(specs))
	take := func(ans answer) {
		results[ans.i], answered[ans.i] = ans.r, true
	}
collect:
	for range specs {
		select {
		case ans := <-answers:
			take(ans)
		case <-ctx.Done():
			break collect
		}
	}
	for drained := false; !drained; {
		select {
		case ans := <-answers:
			take(ans)
		default:
			drained = true
		}
	}
	for i, m := range specs {
		if !answered[i] {
			results[i] = errorResult(step, m, fmt.Sprintf("%s: %v", m.Name, context.Cause(ctx)))
		}
	}
	return results
}

// errorResult is the result of a check that could not be judged.
func errorResult(step Step, m siskinv1.CanaryMetric, msg string) siskinv1.CheckResult {
	r := newResult(step, m)
	r.Verdict = siskinv1.VerdictError
	r.Message = msg
	return r
}

func newResult(step Step, m siskinv1.CanaryMetric) siskinv1.CheckResult {
	b := boundsOf(m)
	return siskinv1.CheckResult{
		Name: m.Name,
		Kind: checkKind,
		Min:  formatBound(b.min),
		Max:  formatBound(b.max),
		Time: metav1.NewTime(step.Now),
	}
}
