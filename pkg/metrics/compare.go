package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// Built-in count queries of the built-in compared metrics, in queries/<router>/<name>.promql:
// request-success-rate counts requests and errors, request-duration the latency buckets. Each
// counts one version, selected exactly by {{ workload }}, over {{ interval }}.
const (
	CompareRequests = "compare-requests"
	CompareErrors   = "compare-errors"
	CompareBuckets  = "compare-buckets"
)

// maxCompareQueries bounds the queries of one look that run at once: a look runs up to four
// queries per compared metric.
const maxCompareQueries = 8

// maxBuckets bounds the series of a bucketsQuery answer; real histograms have a few dozen.
const maxBuckets = 1000

// builtinKinds are the kinds of the built-in compared metrics.
var builtinKinds = map[string]string{
	siskinv1.MetricRequestSuccessRate: siskinv1.CompareRate,
	siskinv1.MetricRequestDuration:    siskinv1.CompareDistribution,
}

// Series is one series of an instant vector.
type Series struct {
	// Labels of the series; a scalar has none.
	Labels map[string]string
	// Value as the backend returned it, NaN and ±Inf included: the caller judges it.
	Value float64
}

// SeriesQuerier is a Provider that can also return every series of an instant vector, as a
// distribution comparison needs (one series per histogram bucket). prometheus.Client is one.
type SeriesQuerier interface {
	// QuerySeries runs an instant query at the evaluation time of ctx (see
	// WithEvaluationTime) and returns its series, none for an empty vector.
	QuerySeries(ctx context.Context, query string) ([]Series, error)
}

// look is one reading of a canary's comparison: where its queries run and over which window.
type look struct {
	c      *siskinv1.Canary
	router string
	// workloads are the canary's and the control's Deployments, in that order.
	workloads [2]string
	vars      Vars
	sem       chan struct{}
}

// Compare reads one look of the canary-versus-control comparison: for each metric of
// spec.analysis.comparison, in spec order, the counts of the canary (spec.targetRef.name) and of
// control from since to now, evaluated at now. router selects the built-in queries. Every query
// of the look runs concurrently, a few at a time, under the analyzer's step timeout, and Compare
// returns by then whatever the providers do. A metric whose counts could not be read has an
// Error, never a missing entry. It returns nil when the canary compares nothing.
func (a *Analyzer) Compare(ctx context.Context, c *siskinv1.Canary, router, control string, since, now time.Time) []canary.ComparisonSample {
	if c == nil || c.Spec.Analysis == nil || c.Spec.Analysis.Comparison == nil || len(c.Spec.Analysis.Comparison.Metrics) == 0 {
		return nil
	}
	specs := c.Spec.Analysis.Comparison.Metrics
	samples := make([]canary.ComparisonSample, len(specs))
	for i, m := range specs {
		samples[i].Name = m.Name
	}
	l := look{c: c, router: router, workloads: [2]string{c.Spec.TargetRef.Name, control}, sem: make(chan struct{}, maxCompareQueries)}
	var err error
	if l.vars, _, err = varsFor(c, siskinv1.CanaryMetric{}, Step{}); err == nil {
		l.vars.Interval, err = lookWindow(since, now)
	}
	if err == nil && control == "" {
		err = errors.New("no control workload to compare with")
	}
	if err != nil {
		for i := range samples {
			samples[i].Error = fmt.Sprintf("%s: %v", samples[i].Name, err)
		}
		return samples
	}

	ctx, cancel := context.WithTimeoutCause(ctx, a.opts.StepTimeout,
		fmt.Errorf("no answer within the look deadline of %s", a.opts.StepTimeout))
	defer cancel()
	ctx = WithEvaluationTime(ctx, now)

	type answer struct {
		i int
		s canary.ComparisonSample
	}
	// Buffered, so a metric that answers after the deadline does not block its goroutine.
	answers := make(chan answer, len(specs))
	for i, m := range specs {
		go func() {
			defer func() {
				if p := recover(); p != nil {
					answers <- answer{i, canary.ComparisonSample{Name: m.Name, Error: fmt.Sprintf("%s: panic: %v", m.Name, p)}}
				}
			}()
			answers <- answer{i, a.compareOne(ctx, l, m)}
		}()
	}
	answered := make([]bool, len(specs))
collect:
	for range specs {
		select {
		case ans := <-answers:
			samples[ans.i], answered[ans.i] = ans.s, true
		case <-ctx.Done():
			break collect
		}
	}
	for drained := false; !drained; {
		select {
		case ans := <-answers:
			samples[ans.i], answered[ans.i] = ans.s, true
		default:
			drained = true
		}
	}
	for i := range samples {
		if !answered[i] {
			samples[i].Error = fmt.Sprintf("%s: %v", samples[i].Name, context.Cause(ctx))
		}
	}
	return samples
}

// lookWindow returns the window from since to now as a PromQL duration of whole seconds,
// rounded up, at least one: 37s.
func lookWindow(since, now time.Time) (string, error) {
	if since.IsZero() || now.IsZero() {
		return "", errors.New("the look has no window: its start or end is not set")
	}
	d := max(now.Sub(since), 0)
	return fmt.Sprintf("%ds", max(int64((d+time.Second-1)/time.Second), 1)), nil
}

// comparedTexts are the query templates of one compared metric; a kind uses some of them.
type comparedTexts struct {
	requests, events, buckets string
}

// compareOne reads the counts of one compared metric for both versions.
func (a *Analyzer) compareOne(ctx context.Context, l look, m siskinv1.ComparedMetric) canary.ComparisonSample {
	out := canary.ComparisonSample{Name: m.Name}
	kind, texts, err := comparedQueries(l.c, l.router, m)
	var p Provider
	if err == nil {
		p, err = a.comparisonProvider(l.c)
	}
	if err == nil {
		versions := [2]*canary.Counts{&out.Canary, &out.Control}
		err = cmp.Or(parallel(
			func() error { return l.countsOf(ctx, p, kind, texts, l.workloads[0], versions[0]) },
			func() error { return l.countsOf(ctx, p, kind, texts, l.workloads[1], versions[1]) },
		)...)
	}
	if err != nil {
		return canary.ComparisonSample{Name: m.Name, Error: fmt.Sprintf("%s: %v", m.Name, err)}
	}
	return out
}

// comparedQueries returns the kind of m and its query templates: those m names, else the
// built-in ones of router (and of c's route kind) for a built-in metric of its built-in kind.
func comparedQueries(c *siskinv1.Canary, router string, m siskinv1.ComparedMetric) (string, comparedTexts, error) {
	kind := cmp.Or(m.Kind, builtinKinds[m.Name])
	texts := comparedTexts{requests: m.RequestsQuery, events: m.EventsQuery, buckets: m.BucketsQuery}
	fill := func(text *string, field, builtin string) error {
		if *text != "" {
			return nil
		}
		if builtinKinds[m.Name] != kind {
			return fmt.Errorf("a %s comparison needs %s", kind, field)
		}
		var err error
		*text, err = builtinFor(c, router, builtin)
		return err
	}
	var err error
	switch kind {
	case siskinv1.CompareRate:
		err = cmp.Or(fill(&texts.requests, "requestsQuery", CompareRequests), fill(&texts.events, "eventsQuery", CompareErrors))
	case siskinv1.CompareDistribution:
		err = fill(&texts.buckets, "bucketsQuery", CompareBuckets)
	default:
		err = fmt.Errorf("kind %q is neither %s nor %s", kind, siskinv1.CompareRate, siskinv1.CompareDistribution)
	}
	return kind, texts, err
}

// comparisonProvider returns the provider of the canary's metrics server, as for its checks.
func (a *Analyzer) comparisonProvider(c *siskinv1.Canary) (Provider, error) {
	cfg := a.configFor(c.Spec.MetricsServer)
	if cfg.Address == "" {
		return nil, errors.New("no metrics server: set spec.metricsServer or the controller's --metrics-server")
	}
	if a.opts.Providers == nil {
		return nil, errors.New("no metric providers configured")
	}
	p, err := a.opts.Providers.Provider(cfg)
	if err != nil {
		return nil, fmt.Errorf("metric provider %s: %w", cfg, err)
	}
	return p, nil
}

// countsOf reads the counts of one version (workload) into out.
func (l look) countsOf(ctx context.Context, p Provider, kind string, texts comparedTexts, workload string, out *canary.Counts) error {
	vars := l.vars
	vars.Workload = workload
	if kind == siskinv1.CompareDistribution {
		what := "bucketsQuery of " + workload
		var buckets []canary.Bucket
		err := l.run(ctx, what, texts.buckets, vars, func(q string) (err error) {
			buckets, err = readBuckets(ctx, p, what, q)
			return err
		})
		if err != nil {
			return err
		}
		out.Buckets, out.Requests = buckets, buckets[len(buckets)-1].Count
		return nil
	}
	var requests, events float64
	err := cmp.Or(parallel(
		func() error {
			what := "requestsQuery of " + workload
			return l.run(ctx, what, texts.requests, vars, func(q string) (err error) {
				requests, err = readCount(ctx, p, what, q)
				return err
			})
		},
		func() error {
			what := "eventsQuery of " + workload
			return l.run(ctx, what, texts.events, vars, func(q string) (err error) {
				events, err = readCount(ctx, p, what, q)
				return err
			})
		},
	)...)
	out.Requests, out.Events = requests, events
	return err
}

// run renders text and reads the query with read once one of the look's query slots is free.
// A failed query names what it was and, at the deadline, the deadline.
func (l look) run(ctx context.Context, what, text string, vars Vars, read func(query string) error) error {
	q, err := Render(ctx, text, vars)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	select {
	case l.sem <- struct{}{}:
		defer func() { <-l.sem }()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	if err := read(q); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}
	return nil
}

// readCount runs a query of one count: an empty vector is 0 (no traffic), a value that is no
// count (NaN, ±Inf, negative) an error.
func readCount(ctx context.Context, p Provider, what, query string) (float64, error) {
	s, err := p.Query(ctx, query)
	if err == nil {
		err = finite(s.Value)
	}
	var nonFinite *NonFiniteError
	switch {
	case errors.As(err, &nonFinite):
		return 0, fmt.Errorf("%s returned %s", what, formatValue(nonFinite.Value))
	case errors.Is(err, ErrNoData):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("%s failed: %w", what, err)
	}
	return s.Value, countError(what, s.Value)
}

// countError says why v is no count.
func countError(what string, v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("%s returned %s", what, formatValue(v))
	case v < 0:
		return fmt.Errorf("%s returned %s, a negative count", what, formatValue(v))
	}
	return nil
}

// readBuckets runs a bucketsQuery and returns its cumulative buckets.
func readBuckets(ctx context.Context, p Provider, what, query string) ([]canary.Bucket, error) {
	sq, ok := p.(SeriesQuerier)
	if !ok {
		return nil, fmt.Errorf("%s: the metric provider cannot return several series", what)
	}
	series, err := sq.QuerySeries(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("%s failed: %w", what, err)
	}
	return parseBuckets(what, series)
}

// parseBuckets turns the series of a bucketsQuery into cumulative buckets by increasing upper
// bound (the le label), +Inf last. Series whose le is no number are dropped, series of one bound
// added up. An empty answer is a version without traffic: one +Inf bucket of 0.
func parseBuckets(what string, series []Series) ([]canary.Bucket, error) {
	if len(series) == 0 {
		return []canary.Bucket{{UpperBound: math.Inf(1)}}, nil
	}
	if len(series) > maxBuckets {
		return nil, fmt.Errorf("%s returned %d series, more than %d buckets", what, len(series), maxBuckets)
	}
	counts := make(map[float64]float64, len(series))
	for _, s := range series {
		le, err := strconv.ParseFloat(s.Labels["le"], 64)
		if err != nil || math.IsNaN(le) {
			continue
		}
		if err := countError(what, s.Value); err != nil {
			return nil, err
		}
		counts[le] += s.Value
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("%s returned %d series, none with a number in its le label", what, len(series))
	}
	if _, ok := counts[math.Inf(1)]; !ok {
		return nil, fmt.Errorf("%s returned no +Inf bucket, which counts the requests", what)
	}
	buckets := make([]canary.Bucket, 0, len(counts))
	for le, n := range counts {
		buckets = append(buckets, canary.Bucket{UpperBound: le, Count: n})
	}
	slices.SortFunc(buckets, func(x, y canary.Bucket) int { return cmp.Compare(x.UpperBound, y.UpperBound) })
	return buckets, nil
}

// parallel runs fns concurrently and returns their errors in order; a panic is an error, so
// that a provider's bug fails one sample instead of the controller.
func parallel(fns ...func() error) []error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					errs[i] = fmt.Errorf("panic: %v", p)
				}
			}()
			errs[i] = fn()
		})
	}
	wg.Wait()
	return errs
}
