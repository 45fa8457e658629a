package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// fakeProvider answers queries with fn and records them.
type fakeProvider struct {
	fn func(ctx context.Context, query string) (Sample, error)

	mu      sync.Mutex
	queries []string
	times   []time.Time
}

func (p *fakeProvider) Query(ctx context.Context, query string) (Sample, error) {
	p.mu.Lock()
	p.queries = append(p.queries, query)
	if t, ok := EvaluationTime(ctx); ok {
		p.times = append(p.times, t)
	}
	p.mu.Unlock()
	return p.fn(ctx, query)
}

// fakeProviders hands out one provider and records the configurations asked for.
type fakeProviders struct {
	provider Provider

	mu   sync.Mutex
	cfgs []ProviderConfig
}

func (f *fakeProviders) Provider(cfg ProviderConfig) (Provider, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfgs = append(f.cfgs, cfg)
	return f.provider, nil
}

// value answers every query with v.
func value(v float64) func(context.Context, string) (Sample, error) {
	return func(context.Context, string) (Sample, error) { return Sample{Value: v}, nil }
}

// fail answers every query with err.
func fail(err error) func(context.Context, string) (Sample, error) {
	return func(context.Context, string) (Sample, error) { return Sample{}, err }
}

func f64(v float64) *float64 { return &v }

var stepTime = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testCanary(ms ...siskinv1.CanaryMetric) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: siskinv1.CanarySpec{
			TargetRef: siskinv1.TargetReference{Kind: "Deployment", Name: "podinfo"},
			Service:   siskinv1.CanaryService{Port: 9898},
			Analysis:  &siskinv1.CanaryAnalysis{Metrics: ms},
		},
	}
}

// runOne runs one metric against a provider answering with fn.
func runOne(t *testing.T, m siskinv1.CanaryMetric, fn func(context.Context, string) (Sample, error), minSamples map[string]MinSample) siskinv1.CheckResult {
	t.Helper()
	a := NewAnalyzer(AnalyzerOptions{
		Providers: &fakeProviders{provider: &fakeProvider{fn: fn}},
		Default:   ProviderConfig{Address: "http://prometheus:9090"},
	})
	res := a.Run(context.Background(), Step{Canary: testCanary(m), Router: siskinv1.ProviderIstio, Now: stepTime, MinSamples: minSamples})
	if len(res) != 1 {
		t.Fatalf("Run returned %d results, want 1", len(res))
	}
	return res[0]
}

func TestThresholds(t *testing.T) {
	successRate := func(r *siskinv1.CanaryThresholdRange, threshold *float64) siskinv1.CanaryMetric {
		return siskinv1.CanaryMetric{Name: siskinv1.MetricRequestSuccessRate, ThresholdRange: r, Threshold: threshold}
	}
	for _, tc := range []struct {
		name      string
		metric    siskinv1.CanaryMetric
		value     float64
		verdict   siskinv1.CheckVerdict
		message   string
		wantMin   string
		wantMax   string
		wantValue string
	}{
		{"a value below min fails", successRate(&siskinv1.CanaryThresholdRange{Min: f64(99)}, nil), 87.5,
			siskinv1.VerdictFail, "request-success-rate 87.50 below min 99", "99", "", "87.50"},
		{"a value at min passes", successRate(&siskinv1.CanaryThresholdRange{Min: f64(99)}, nil), 99,
			siskinv1.VerdictPass, "request-success-rate 99.00 not below min 99", "99", "", "99.00"},
		{"a value above max fails", siskinv1.CanaryMetric{Name: siskinv1.MetricRequestDuration, ThresholdRange: &siskinv1.CanaryThresholdRange{Max: f64(500)}}, 612,
			siskinv1.VerdictFail, "request-duration 612.00 above max 500", "", "500", "612.00"},
		{"a value within min and max passes", successRate(&siskinv1.CanaryThresholdRange{Min: f64(90), Max: f64(100)}, nil), 95.25,
			siskinv1.VerdictPass, "request-success-rate 95.25 within min 90 and max 100", "90", "100", "95.25"},
		{"the deprecated threshold is a min", successRate(nil, f64(99)), 98,
			siskinv1.VerdictFail, "request-success-rate 98.00 below min 99", "99", "", "98.00"},
		{"thresholdRange.min wins over the deprecated threshold", successRate(&siskinv1.CanaryThresholdRange{Min: f64(90)}, f64(99)), 95,
			siskinv1.VerdictPass, "request-success-rate 95.00 not below min 90", "90", "", "95.00"},
		{"the deprecated threshold is ignored beside a thresholdRange, as in Flagger", successRate(&siskinv1.CanaryThresholdRange{Max: f64(100)}, f64(99)), 98,
			siskinv1.VerdictPass, "request-success-rate 98.00 not above max 100", "", "100", "98.00"},
		{"rounding never hides a violation", successRate(&siskinv1.CanaryThresholdRange{Min: f64(99)}, nil), 98.996,
			siskinv1.VerdictFail, "request-success-rate 98.996 below min 99", "99", "", "99.00"},
		{"a small value keeps its digits", siskinv1.CanaryMetric{Name: siskinv1.MetricRequestDuration, ThresholdRange: &siskinv1.CanaryThresholdRange{Max: f64(0.001)}}, 0.00123,
			siskinv1.VerdictFail, "request-duration 0.00123 above max 0.001", "", "0.001", "0.00123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runOne(t, tc.metric, value(tc.value), nil)
			if r.Verdict != tc.verdict || r.Message != tc.message {
				t.Errorf("got %s %q, want %s %q", r.Verdict, r.Message, tc.verdict, tc.message)
			}
			if r.Min != tc.wantMin || r.Max != tc.wantMax || r.Value != tc.wantValue {
				t.Errorf("got min %q max %q value %q, want %q %q %q", r.Min, r.Max, r.Value, tc.wantMin, tc.wantMax, tc.wantValue)
			}
			if r.Kind != "metric" || r.Name != tc.metric.Name || !r.Time.Time.Equal(stepTime) {
				t.Errorf("got kind %q name %q time %s", r.Kind, r.Name, r.Time)
			}
		})
	}
}

func TestNoDataWithoutMinSampleFails(t *testing.T) {
	m := siskinv1.CanaryMetric{Name: siskinv1.MetricRequestSuccessRate, ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(99)}}
	for _, err := range []error{ErrNoData, fmt.Errorf("%w: NaN", ErrNoData), fmt.Errorf("%w: empty vector", ErrNoData)} {
		r := runOne(t, m, fail(err), nil)
		if r.Verdict != siskinv1.VerdictFail || r.Value != "" ||
			r.Message != "request-success-rate no data: the query returned no value (is the canary receiving traffic?)" {
			t.Errorf("%v: got %s %q value %q", err, r.Verdict, r.Message, r.Value)
		}
	}
}

// The window of a metric never reaches back before the revision's rollout started: the canary
// Deployment keeps its name across revisions, and a good release must not be judged on the
// requests of the bad one rolled back just before it.
func TestWindowStartsWithTheRollout(t *testing.T) {
	m := siskinv1.CanaryMetric{Name: siskinv1.MetricRequestSuccessRate, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(99)}}
	run := func(since time.Time, fn func(context.Context, string) (Sample, error)) (siskinv1.CheckResult, string) {
		t.Helper()
		var query string
		an := NewAnalyzer(AnalyzerOptions{Providers: &fakeProviders{provider: &fakeProvider{fn: func(ctx context.Context, q string) (Sample, error) {
			query = q
			return fn(ctx, q)
		}}}, Default: ProviderConfig{Address: "http://prometheus:9090"}})
		res := an.Run(context.Background(), Step{Canary: testCanary(m), Router: siskinv1.ProviderIstio, Now: stepTime, Since: since})
		return res[0], query
	}
	value := func(context.Context, string) (Sample, error) { return Sample{Value: 100}, nil }
	if _, q := run(stepTime.Add(-11500*time.Millisecond), value); !strings.Contains(q, "[12s]") {
		t.Errorf("12 s into the rollout the window should be 12s: %s", q)
	}
	if _, q := run(stepTime.Add(-2*time.Minute), value); !strings.Contains(q, "[30s]") {
		t.Errorf("2 min into the rollout the window should be the metric's 30s: %s", q)
	}
	if _, q := run(time.Time{}, value); !strings.Contains(q, "[30s]") {
		t.Errorf("without a rollout start the window should be the metric's 30s: %s", q)
	}
	if r, _ := run(stepTime.Add(-12*time.Second), fail(ErrNoData)); r.Verdict != siskinv1.VerdictNoData || !strings.Contains(r.Message, "since this revision's rollout started") {
		t.Errorf("no data in a shortened window: got %s %q, want NoData (a wait, not a failure)", r.Verdict, r.Message)
	}
	if r, _ := run(stepTime.Add(-2*time.Minute), fail(ErrNoData)); r.Verdict != siskinv1.VerdictFail {
		t.Errorf("no data in a full window without a min sample: got %s, want Fail (the Flagger model)", r.Verdict)
	}
}

// At a step whose route sends the canary no traffic, no data is no data (the step does not
// wait for it and it fails nothing); a failing value still fails, and +Inf is no "no traffic".
func TestNoDataWithoutTrafficIsNotAFailure(t *testing.T) {
	m := siskinv1.CanaryMetric{Name: siskinv1.MetricRequestSuccessRate, ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(99)}}
	a := func(fn func(context.Context, string) (Sample, error)) siskinv1.CheckResult {
		t.Helper()
		an := NewAnalyzer(AnalyzerOptions{Providers: &fakeProviders{provider: &fakeProvider{fn: fn}}, Default: ProviderConfig{Address: "http://prometheus:9090"}})
		return an.Run(context.Background(), Step{Canary: testCanary(m), Router: siskinv1.ProviderIstio, Now: stepTime, NoTraffic: true})[0]
	}
	for _, err := range []error{ErrNoData, &NonFiniteError{Value: math.NaN()}} {
		if r := a(fail(err)); r.Verdict != siskinv1.VerdictNoData || !strings.Contains(r.Message, "no traffic yet") {
			t.Errorf("%v: got %s %q, want NoData", err, r.Verdict, r.Message)
		}
	}
	if r := a(fail(&NonFiniteError{Value: math.Inf(1)})); r.Verdict != siskinv1.VerdictFail {
		t.Errorf("+Inf without traffic: got %s, want Fail", r.Verdict)
	}
	if r := a(func(context.Context, string) (Sample, error) { return Sample{Value: 80}, nil }); r.Verdict != siskinv1.VerdictFail {
		t.Errorf("a failing value without routed traffic (a load test's): got %s, want Fail", r.Verdict)
	}
}

// NaN and ±Inf are no data: no threshold judges them, and +Inf would pass any min. Without a
// declared min sample no data fails the check (the Flagger model); with one, the step waits.
func TestNonFiniteValuesAreNoData(t *testing.T) {
	bounded := func(r *siskinv1.CanaryThresholdRange) siskinv1.CanaryMetric {
		return siskinv1.CanaryMetric{Name: siskinv1.MetricRequestDuration, ThresholdRange: r}
	}
	atLeast, atMost := &siskinv1.CanaryThresholdRange{Min: f64(99)}, &siskinv1.CanaryThresholdRange{Max: f64(500)}
	min20 := map[string]MinSample{siskinv1.MetricRequestDuration: {Min: 20}}
	for _, tc := range []struct {
		name       string
		metric     siskinv1.CanaryMetric
		value      float64
		minSamples map[string]MinSample
		verdict    siskinv1.CheckVerdict
		message    string
	}{
		{"+Inf does not pass a min", bounded(atLeast), math.Inf(1), nil,
			siskinv1.VerdictFail, "request-duration no data: value is +Inf"},
		{"+Inf without a threshold does not pass", bounded(nil), math.Inf(1), nil,
			siskinv1.VerdictFail, "request-duration no data: value is +Inf"},
		{"-Inf does not pass a max", bounded(atMost), math.Inf(-1), nil,
			siskinv1.VerdictFail, "request-duration no data: value is -Inf"},
		{"NaN does not pass a min", bounded(atLeast), math.NaN(), nil,
			siskinv1.VerdictFail, "request-duration no data: the query returned no value (is the canary receiving traffic?)"},
		{"+Inf after the min sample waits", bounded(atLeast), math.Inf(1), min20,
			siskinv1.VerdictNoData, "request-duration no data: value is +Inf (sample 30.00)"},
		{"NaN after the min sample waits", bounded(atMost), math.NaN(), min20,
			siskinv1.VerdictNoData, "request-duration no data: value is NaN (sample 30.00)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runOne(t, tc.metric, answerBy(f64(30), f64(tc.value)), tc.minSamples)
			if r.Verdict != tc.verdict || r.Message != tc.message || r.Value != "" {
				t.Errorf("got %s %q value %q, want %s %q and no value", r.Verdict, r.Message, r.Value, tc.verdict, tc.message)
			}
		})
	}
}

func TestANonFiniteMinSampleWaits(t *testing.T) {
	m := siskinv1.CanaryMetric{Name: siskinv1.MetricRequestSuccessRate, ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(99)}}
	for _, n := range []float64{math.NaN(), math.Inf(1)} {
		r := runOne(t, m, answerBy(f64(n), f64(100)), map[string]MinSample{m.Name: {Min: 20}})
		if r.Verdict != siskinv1.VerdictNoData {
			t.Errorf("sample %v: got %s %q, want NoData", n, r.Verdict, r.Message)
		}
	}
}

// answerBy answers the built-in request-count query (increase) with sample and every other
// query with metric; nil answers ErrNoData.
func answerBy(sample, metric *float64) func(context.Context, string) (Sample, error) {
	return func(_ context.Context, q string) (Sample, error) {
		v := metric
		if strings.Contains(q, "increase(") {
			v = sample
		}
		if v == nil {
			return Sample{}, ErrNoData
		}
		return Sample{Value: *v}, nil
	}
}

func TestMinSample(t *testing.T) {
	m := siskinv1.CanaryMetric{Name: siskinv1.MetricRequestSuccessRate, ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(99)}}
	min20 := map[string]MinSample{siskinv1.MetricRequestSuccessRate: {Min: 20}}
	for _, tc := range []struct {
		name           string
		sample, metric *float64
		verdict        siskinv1.CheckVerdict
		message        string
	}{
		{"a sample below the minimum waits, even on a bad value", f64(3), f64(50), siskinv1.VerdictNoData,
			"request-success-rate waiting for data: sample 3.00 below min sample 20"},
		{"no sample at all waits", nil, nil, siskinv1.VerdictNoData,
			"request-success-rate waiting for data: sample 0.00 below min sample 20"},
		{"a sample at the minimum is judged", f64(20), f64(50), siskinv1.VerdictFail,
			"request-success-rate 50.00 below min 99 (sample 20.00)"},
		{"a large sample with a good value passes", f64(1200), f64(99.5), siskinv1.VerdictPass,
			"request-success-rate 99.50 not below min 99 (sample 1200.00)"},
		{"no value despite the sample still waits", f64(1200), nil, siskinv1.VerdictNoData,
			"request-success-rate no data (sample 1200.00) although the sample reached min sample 20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runOne(t, m, answerBy(tc.sample, tc.metric), min20)
			if r.Verdict != tc.verdict || r.Message != tc.message {
				t.Errorf("got %s %q, want %s %q", r.Verdict, r.Message, tc.verdict, tc.message)
			}
		})
	}
}

func TestMinSampleOfABuiltinDefaultsToTheRequestCountQuery(t *testing.T) {
	p := &fakeProvider{fn: answerBy(f64(100), f64(100))}
	a := NewAnalyzer(AnalyzerOptions{Providers: &fakeProviders{provider: p}, Default: ProviderConfig{Address: "http://prom"}})
	m := siskinv1.CanaryMetric{Name: siskinv1.MetricRequestSuccessRate, Interval: "2m", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(99)}}
	a.Run(context.Background(), Step{Canary: testCanary(m), Router: siskinv1.ProviderIstio, Now: stepTime,
		MinSamples: map[string]MinSample{m.Name: {Min: 1}}})
	count, _ := BuiltinQuery(siskinv1.ProviderIstio, RequestCount)
	want, _ := Render(context.Background(), count, Vars{Namespace: "test", Target: "podinfo", Interval: "2m"})
	if len(p.queries) != 2 || p.queries[0] != want {
		t.Fatalf("queries = %q, want the request count first: %s", p.queries, want)
	}
}

func TestMinSampleQueryOfATemplateMetric(t *testing.T) {
	p := &fakeProvider{fn: func(_ context.Context, q string) (Sample, error) {
		if strings.HasPrefix(q, "count") {
			return Sample{Value: 5}, nil
		}
		return Sample{Value: 1}, nil
	}}
	a := NewAnalyzer(AnalyzerOptions{
		Providers: &fakeProviders{provider: p},
		Templates: fakeTemplates{"test/errors": {Spec: siskinv1.MetricTemplateSpec{Query: `errors{ns="{{ namespace }}"}`}}},
		Default:   ProviderConfig{Address: "http://prom"},
	})
	m := siskinv1.CanaryMetric{Name: "errors", TemplateRef: &siskinv1.CrossNamespaceObjectReference{Name: "errors"},
		ThresholdRange: &siskinv1.CanaryThresholdRange{Max: f64(2)}}
	for _, tc := range []struct {
		ms      MinSample
		verdict siskinv1.CheckVerdict
		message string
	}{
		{MinSample{Query: `count{ns="{{ namespace }}"}`, Min: 10}, siskinv1.VerdictNoData, "errors waiting for data: sample 5.00 below min sample 10"},
		{MinSample{Query: `count{ns="{{ namespace }}"}`, Min: 5}, siskinv1.VerdictPass, "errors 1.00 not above max 2 (sample 5.00)"},
		{MinSample{Min: 5}, siskinv1.VerdictError, "errors: the min sample needs a query: only built-in metrics have a default"},
		{MinSample{Query: `{{ variables.nope }}`, Min: 5}, siskinv1.VerdictError, ""},
	} {
		r := a.Run(context.Background(), Step{Canary: testCanary(m), Router: siskinv1.ProviderIstio, Now: stepTime,
			MinSamples: map[string]MinSample{"errors": tc.ms}})[0]
		if r.Verdict != tc.verdict || (tc.message != "" && r.Message != tc.message) {
			t.Errorf("%+v: got %s %q, want %s %q", tc.ms, r.Verdict, r.Message, tc.verdict, tc.message)
		}
	}
}

func TestQueryErrorsAreErrorVerdicts(t *testing.T) {
	m := siskinv1.CanaryMetric{Name: siskinv1.MetricRequestDuration, ThresholdRange: &siskinv1.CanaryThresholdRange{Max: f64(500)}}
	for _, err := range []error{
		errors.New("connection refused"),
		fmt.Errorf("%w: 3 series, want 1", ErrResultShape),
	} {
		r := runOne(t, m, fail(err), nil)
		want := "request-duration query failed: " + err.Error()
		if r.Verdict != siskinv1.VerdictError || r.Message != want || r.Value != "" {
			t.Errorf("got %s %q, want Error %q", r.Verdict, r.Message, want)
		}
	}
	r := runOne(t, m, fail(errors.New("boom")), map[string]MinSample{m.Name: {Min: 1}})
	if r.Verdict != siskinv1.VerdictError || r.Message != "request-duration min sample query failed: boom" {
		t.Errorf("min sample error: got %s %q", r.Verdict, r.Message)
	}
}

func TestRunChecksAllMetricsConcurrentlyInSpecOrder(t *testing.T) {
	const n = 6
	var started sync.WaitGroup
	started.Add(n)
	p := &fakeProvider{fn: func(ctx context.Context, q string) (Sample, error) {
		started.Done()
		// Every query waits for all others to start: only concurrent checks get past this.
		done := make(chan struct{})
		go func() { started.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return Sample{}, ctx.Err()
		}
		var i float64
		_, _ = fmt.Sscanf(q, "q%g", &i)
		return Sample{Value: i}, nil
	}}
	var ms []siskinv1.CanaryMetric
	for i := range n {
		ms = append(ms, siskinv1.CanaryMetric{Name: fmt.Sprintf("m%d", i), Query: fmt.Sprintf("q%d", i),
			ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(0)}})
	}
	a := NewAnalyzer(AnalyzerOptions{Providers: &fakeProviders{provider: p}, Default: ProviderConfig{Address: "http://prom"},
		StepTimeout: 10 * time.Second})
	res := a.Run(context.Background(), Step{Canary: testCanary(ms...), Router: siskinv1.ProviderIstio, Now: stepTime})
	for i, r := range res {
		if r.Name != ms[i].Name || r.Verdict != siskinv1.VerdictPass || r.Value != fmt.Sprintf("%d.00", i) {
			t.Errorf("result %d = %s %s %s %q", i, r.Name, r.Verdict, r.Value, r.Message)
		}
	}
	for _, at := range p.times {
		if !at.Equal(stepTime) {
			t.Errorf("query evaluated at %s, want the step time %s", at, stepTime)
		}
	}
	if len(p.times) != n {
		t.Errorf("%d queries carried an evaluation time, want %d", len(p.times), n)
	}
}

func TestRunReturnsByTheStepDeadline(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	p := &fakeProvider{fn: func(ctx context.Context, q string) (Sample, error) {
		switch q {
		case "fast":
			return Sample{Value: 1}, nil
		case "polite": // honours its context
			<-ctx.Done()
			return Sample{}, ctx.Err()
		default: // ignores its context
			<-stuck
			return Sample{Value: 1}, nil
		}
	}}
	ms := []siskinv1.CanaryMetric{
		{Name: "polite", Query: "polite", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(0)}},
		{Name: "fast", Query: "fast", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(0)}},
		{Name: "stuck", Query: "stuck", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(0)}},
	}
	a := NewAnalyzer(AnalyzerOptions{Providers: &fakeProviders{provider: p}, Default: ProviderConfig{Address: "http://prom"},
		StepTimeout: 200 * time.Millisecond})
	start := time.Now()
	res := a.Run(context.Background(), Step{Canary: testCanary(ms...), Router: siskinv1.ProviderIstio, Now: stepTime})
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Run took %s with a step deadline of 200ms", took)
	}
	want := []struct {
		verdict siskinv1.CheckVerdict
		message string
	}{
		{siskinv1.VerdictError, "polite: no answer within the step deadline of 200ms"},
		{siskinv1.VerdictPass, "fast 1.00 not below min 0"},
		{siskinv1.VerdictError, "stuck: no answer within the step deadline of 200ms"},
	}
	for i, w := range want {
		if res[i].Verdict != w.verdict || res[i].Message != w.message {
			t.Errorf("%s: got %s %q, want %s %q", ms[i].Name, res[i].Verdict, res[i].Message, w.verdict, w.message)
		}
	}
}

func TestRunWithoutMetricsReturnsNil(t *testing.T) {
	a := NewAnalyzer(AnalyzerOptions{})
	c := testCanary()
	if res := a.Run(context.Background(), Step{Canary: c}); res != nil {
		t.Errorf("Run = %v, want nil", res)
	}
	c.Spec.Analysis = nil
	if res := a.Run(context.Background(), Step{Canary: c}); res != nil {
		t.Errorf("Run = %v, want nil", res)
	}
}

// fakeTemplates maps "namespace/name" to a MetricTemplate.
type fakeTemplates map[string]*siskinv1.MetricTemplate

func (f fakeTemplates) MetricTemplate(_ context.Context, ns, name string) (*siskinv1.MetricTemplate, error) {
	t, ok := f[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("metrictemplates.siskin.dev %q not found", name)
	}
	t = t.DeepCopy()
	t.Namespace, t.Name = ns, name
	return t, nil
}

// fakeSecrets maps "namespace/name" to Secret data.
type fakeSecrets map[string]map[string][]byte

func (f fakeSecrets) SecretData(_ context.Context, ns, name string) (map[string][]byte, error) {
	d, ok := f[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("secrets %q not found", name)
	}
	return d, nil
}

func TestTemplateMetrics(t *testing.T) {
	templates := fakeTemplates{
		"test/latency":  {Spec: siskinv1.MetricTemplateSpec{Query: `q{w="{{ target }}", s="{{ service }}", c="{{ name }}", r="{{ variables.route }}"}[{{ interval }}]`}},
		"shared/errors": {Spec: siskinv1.MetricTemplateSpec{Query: `errors[{{ interval }}]`, Provider: siskinv1.MetricTemplateProvider{Address: "https://thanos.example:9091"}}},
		"test/tls": {Spec: siskinv1.MetricTemplateSpec{Query: "up", Provider: siskinv1.MetricTemplateProvider{
			Type: "prometheus", Address: "https://secure.example", InsecureSkipVerify: true,
			Headers:   map[string][]string{"x-scope-orgid": {"team-a"}},
			SecretRef: &siskinv1.LocalObjectReference{Name: "prom-token"},
		}}},
		"test/basic": {Spec: siskinv1.MetricTemplateSpec{Query: "up", Provider: siskinv1.MetricTemplateProvider{
			Address:   "http://prometheus:9090/",
			SecretRef: &siskinv1.LocalObjectReference{Name: "prom-basic"},
		}}},
		"test/empty-secret": {Spec: siskinv1.MetricTemplateSpec{Query: "up", Provider: siskinv1.MetricTemplateProvider{
			Address:   "https://secure.example",
			SecretRef: &siskinv1.LocalObjectReference{Name: "prom-empty"},
		}}},
		"test/appdynamics": {Spec: siskinv1.MetricTemplateSpec{Query: "up", Provider: siskinv1.MetricTemplateProvider{Type: "appdynamicscloud"}}},
	}
	secrets := fakeSecrets{
		"test/prom-token": {"token": []byte("s3cret\n")},
		"test/prom-basic": {"username": []byte("siskin"), "password": []byte("pw")},
		"test/prom-empty": {"other": []byte("x")},
	}
	def := ProviderConfig{Address: "http://prometheus:9090", BearerToken: "default-token", Headers: http.Header{"X-Default": {"1"}}}
	ref := func(ns, name string) *siskinv1.CrossNamespaceObjectReference {
		return &siskinv1.CrossNamespaceObjectReference{Namespace: ns, Name: name}
	}
	anyValue := &siskinv1.CanaryThresholdRange{Min: f64(0)}

	for _, tc := range []struct {
		name          string
		metric        siskinv1.CanaryMetric
		metricsServer string
		wantQuery     string
		wantCfg       ProviderConfig
		wantVerdict   siskinv1.CheckVerdict
		wantMessage   string
	}{
		{
			name: "a template gets every variable and the default interval of 1m",
			metric: siskinv1.CanaryMetric{Name: "latency", TemplateRef: ref("", "latency"), ThresholdRange: anyValue,
				TemplateVariables: map[string]string{"route": "api"}},
			wantQuery: `q{w="podinfo", s="podinfo", c="podinfo", r="api"}[1m]`,
			wantCfg:   ProviderConfig{Type: "prometheus", Address: "http://prometheus:9090", BearerToken: "default-token", Headers: http.Header{"X-Default": {"1"}}},
		},
		{
			name:        "a missing template variable is an error that names it",
			metric:      siskinv1.CanaryMetric{Name: "latency", TemplateRef: ref("", "latency"), ThresholdRange: anyValue},
			wantVerdict: siskinv1.VerdictError,
			wantMessage: `latency: query uses template variables that are not set: "route" (set them in the metric's templateVariables)`,
		},
		{
			name:      "a template in another namespace with its own address gets no default credentials",
			metric:    siskinv1.CanaryMetric{Name: "errors", TemplateRef: ref("shared", "errors"), Interval: "90s", ThresholdRange: anyValue},
			wantQuery: `errors[90s]`,
			wantCfg:   ProviderConfig{Type: "prometheus", Address: "https://thanos.example:9091"},
		},
		{
			name:          "the canary's metrics server gets no default credentials",
			metric:        siskinv1.CanaryMetric{Name: "errors", TemplateRef: ref("shared", "errors"), ThresholdRange: anyValue},
			metricsServer: "http://other:9090",
			wantQuery:     `errors[1m]`,
			wantCfg:       ProviderConfig{Type: "prometheus", Address: "https://thanos.example:9091"},
		},
		{
			name:      "a bearer token from the template's Secret, with headers and TLS settings",
			metric:    siskinv1.CanaryMetric{Name: "tls", TemplateRef: ref("", "tls"), ThresholdRange: anyValue},
			wantQuery: `up`,
			wantCfg: ProviderConfig{Type: "prometheus", Address: "https://secure.example", BearerToken: "s3cret",
				InsecureSkipVerify: true, Headers: http.Header{"X-Scope-Orgid": {"team-a"}}},
		},
		{
			name:      "basic auth from the template's Secret replaces the default's on the default's address, which the template names",
			metric:    siskinv1.CanaryMetric{Name: "basic", TemplateRef: ref("", "basic"), ThresholdRange: anyValue},
			wantQuery: `up`,
			wantCfg: ProviderConfig{Type: "prometheus", Address: "http://prometheus:9090", Username: "siskin", Password: "pw",
				Headers: http.Header{"X-Default": {"1"}}},
		},
		{
			name:        "a Secret without credentials is an error",
			metric:      siskinv1.CanaryMetric{Name: "empty", TemplateRef: ref("", "empty-secret"), ThresholdRange: anyValue},
			wantVerdict: siskinv1.VerdictError,
			wantMessage: "empty: MetricTemplate test/empty-secret: Secret prom-empty has neither the key token nor the keys username and password",
		},
		{
			name:        "a missing template is an error that names it",
			metric:      siskinv1.CanaryMetric{Name: "gone", TemplateRef: ref("", "gone"), ThresholdRange: anyValue},
			wantVerdict: siskinv1.VerdictError,
			wantMessage: `gone: MetricTemplate test/gone: metrictemplates.siskin.dev "gone" not found`,
		},
		{
			name:        "an unsupported provider type is an error, not Prometheus",
			metric:      siskinv1.CanaryMetric{Name: "ad", TemplateRef: ref("", "appdynamics"), ThresholdRange: anyValue},
			wantVerdict: siskinv1.VerdictError,
			wantMessage: `ad: MetricTemplate test/appdynamics: provider type "appdynamicscloud" is not supported: set provider.type to one of ` + strings.Join(ProviderTypes, ", "),
		},
		{
			name:      "a deprecated inline query runs on the canary's metrics server",
			metric:    siskinv1.CanaryMetric{Name: "inline", Query: `sum(x{ns="{{ namespace }}"})`, ThresholdRange: anyValue},
			wantQuery: `sum(x{ns="test"})`,
			wantCfg:   ProviderConfig{Type: "prometheus", Address: "http://prometheus:9090", BearerToken: "default-token", Headers: http.Header{"X-Default": {"1"}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakeProvider{fn: value(1)}
			providers := &fakeProviders{provider: p}
			// Cross-namespace references have a test of their own.
			a := NewAnalyzer(AnalyzerOptions{Providers: providers, Templates: templates, Secrets: secrets, Default: def,
				AllowCrossNamespaceRefs: true})
			c := testCanary(tc.metric)
			c.Spec.MetricsServer = tc.metricsServer
			r := a.Run(context.Background(), Step{Canary: c, Router: siskinv1.ProviderIstio, Now: stepTime})[0]
			wantVerdict := tc.wantVerdict
			if wantVerdict == "" {
				wantVerdict = siskinv1.VerdictPass
			}
			if r.Verdict != wantVerdict || (tc.wantMessage != "" && r.Message != tc.wantMessage) {
				t.Fatalf("got %s %q, want %s %q", r.Verdict, r.Message, wantVerdict, tc.wantMessage)
			}
			if tc.wantQuery == "" {
				return
			}
			if len(p.queries) != 1 || p.queries[0] != tc.wantQuery {
				t.Errorf("queries = %q, want %q", p.queries, tc.wantQuery)
			}
			if len(providers.cfgs) != 1 || !reflect.DeepEqual(providers.cfgs[0], tc.wantCfg) {
				t.Errorf("provider configs = %s, want %s", dump(providers.cfgs...), dump(tc.wantCfg))
			}
		})
	}
	if def.Headers.Get("X-Scope-Orgid") != "" || len(def.Headers) != 1 {
		t.Errorf("the default configuration's headers were modified: %v", def.Headers)
	}
}

// dump shows configurations with their credentials, which String hides.
func dump(cfgs ...ProviderConfig) string {
	var parts []string
	for _, c := range cfgs {
		parts = append(parts, fmt.Sprintf("{%s %s headers %v token %q user %q password %q insecure %t}",
			c.Type, c.Address, c.Headers, c.BearerToken, c.Username, c.Password, c.InsecureSkipVerify))
	}
	return strings.Join(parts, ", ")
}

func TestBuiltinMetricErrors(t *testing.T) {
	m := siskinv1.CanaryMetric{Name: siskinv1.MetricRequestSuccessRate, ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(99)}}
	a := NewAnalyzer(AnalyzerOptions{Providers: &fakeProviders{provider: &fakeProvider{fn: value(100)}}, Default: ProviderConfig{Address: "http://prom"}})
	r := a.Run(context.Background(), Step{Canary: testCanary(m), Router: "kuma", Now: stepTime})[0]
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, `router provider "kuma"`) {
		t.Errorf("unknown router: got %s %q", r.Verdict, r.Message)
	}
	a = NewAnalyzer(AnalyzerOptions{Providers: &fakeProviders{provider: &fakeProvider{fn: value(100)}}})
	r = a.Run(context.Background(), Step{Canary: testCanary(m), Router: siskinv1.ProviderIstio, Now: stepTime})[0]
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "no metrics server") {
		t.Errorf("no metrics server: got %s %q", r.Verdict, r.Message)
	}
	bad := m
	bad.Interval = "soon"
	r = runOne(t, bad, value(100), nil)
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, `interval "soon"`) {
		t.Errorf("bad interval: got %s %q", r.Verdict, r.Message)
	}
}

func TestProviderConfigStringHidesCredentials(t *testing.T) {
	cfg := ProviderConfig{Address: "http://p", BearerToken: "tok", Username: "u", Password: "pw"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(s, "tok") || strings.Contains(s, "pw") {
			t.Errorf("%q shows credentials", s)
		}
	}
}

// A Canary in any namespace could otherwise point its metricsServer at its own server and
// receive the bearer token of a template whose secretRef has no address beside it.
func TestTemplateWithSecretRefButNoAddressIsRefused(t *testing.T) {
	templates := fakeTemplates{"platform/latency": {Spec: siskinv1.MetricTemplateSpec{Query: "up", Provider: siskinv1.MetricTemplateProvider{
		SecretRef: &siskinv1.LocalObjectReference{Name: "prom-token"},
	}}}}
	secrets := fakeSecrets{"platform/prom-token": {"token": []byte("platform-secret")}}
	for _, ns := range []string{"platform", "mallory"} {
		providers := &fakeProviders{provider: &fakeProvider{fn: value(1)}}
		a := NewAnalyzer(AnalyzerOptions{Providers: providers, Templates: templates, Secrets: secrets,
			Default: ProviderConfig{Address: "http://prometheus:9090"}, AllowCrossNamespaceRefs: true})
		c := testCanary(siskinv1.CanaryMetric{Name: "latency", ThresholdRange: &siskinv1.CanaryThresholdRange{Max: f64(2)},
			TemplateRef: &siskinv1.CrossNamespaceObjectReference{Namespace: "platform", Name: "latency"}})
		c.Namespace, c.Spec.MetricsServer = ns, "http://collector."+ns+":9090"
		r := a.Run(context.Background(), Step{Canary: c, Router: siskinv1.ProviderIstio, Now: stepTime})[0]
		want := "latency: MetricTemplate platform/latency has a secretRef but no provider.address: set provider.address beside secretRef; " +
			"credentials are only sent to the address written in the same object"
		if r.Verdict != siskinv1.VerdictError || r.Message != want {
			t.Errorf("canary in %s: got %s %q, want Error %q", ns, r.Verdict, r.Message, want)
		}
		if len(providers.cfgs) != 0 {
			t.Errorf("canary in %s: the check asked for providers %s", ns, dump(providers.cfgs...))
		}
	}
}

func TestCrossNamespaceTemplateRefsAreRefusedUnlessAllowed(t *testing.T) {
	templates := fakeTemplates{
		"shared/errors": {Spec: siskinv1.MetricTemplateSpec{Query: "errors", Provider: siskinv1.MetricTemplateProvider{Address: "http://thanos:9090"}}},
		"test/errors":   {Spec: siskinv1.MetricTemplateSpec{Query: "errors"}},
	}
	metric := func(ns string) siskinv1.CanaryMetric {
		return siskinv1.CanaryMetric{Name: "errors", ThresholdRange: &siskinv1.CanaryThresholdRange{Max: f64(2)},
			TemplateRef: &siskinv1.CrossNamespaceObjectReference{Namespace: ns, Name: "errors"}}
	}
	for _, tc := range []struct {
		name    string
		ns      string
		allow   bool
		verdict siskinv1.CheckVerdict
		message string
	}{
		{"another namespace is refused by default", "shared", false, siskinv1.VerdictError,
			"errors: MetricTemplate shared/errors is in another namespace than the canary: cross-namespace references are refused unless the controller runs with --allow-cross-namespace-refs"},
		{"another namespace is read when the controller allows it", "shared", true, siskinv1.VerdictPass, "errors 1.00 not above max 2"},
		{"the canary's own namespace, named, is not cross-namespace", "test", false, siskinv1.VerdictPass, "errors 1.00 not above max 2"},
		{"the canary's own namespace, unnamed", "", false, siskinv1.VerdictPass, "errors 1.00 not above max 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAnalyzer(AnalyzerOptions{Providers: &fakeProviders{provider: &fakeProvider{fn: value(1)}}, Templates: templates,
				Default: ProviderConfig{Address: "http://prometheus:9090"}, AllowCrossNamespaceRefs: tc.allow})
			r := a.Run(context.Background(), Step{Canary: testCanary(metric(tc.ns)), Router: siskinv1.ProviderIstio, Now: stepTime})[0]
			if r.Verdict != tc.verdict || r.Message != tc.message {
				t.Errorf("got %s %q, want %s %q", r.Verdict, r.Message, tc.verdict, tc.message)
			}
		})
	}
}
