package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/prometheus"
	"github.com/siskin-dev/siskin/pkg/providers"
)

var lookTime = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// promServer is a fake Prometheus on loopback whose instant queries answer with the result
// (a JSON array of series) that answer returns, or with a bad_data error for "".
type promServer struct {
	*httptest.Server

	mu      sync.Mutex
	queries []string
	times   []string
}

func newPromServer(t *testing.T, answer func(query string) string) *promServer {
	t.Helper()
	s := &promServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		q := r.Form.Get("query")
		s.mu.Lock()
		s.queries = append(s.queries, q)
		s.times = append(s.times, r.Form.Get("time"))
		s.mu.Unlock()
		result := answer(q)
		if result == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error"}`))
			return
		}
		_, _ = fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":%s}}`, result)
	}))
	t.Cleanup(s.Close)
	return s
}

// received returns the queries the server received, in no particular order.
func (s *promServer) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

// one is a result of one series without labels.
func one(v string) string {
	return fmt.Sprintf(`[{"metric":{},"value":[1764072000,%q]}]`, v)
}

// les is a result of one series per le label, in the order given: le, value, le, value...
func les(pairs ...string) string {
	var parts []string
	for i := 0; i+1 < len(pairs); i += 2 {
		parts = append(parts, fmt.Sprintf(`{"metric":{"le":%q},"value":[1764072000,%q]}`, pairs[i], pairs[i+1]))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func comparingCanary(ms ...siskinv1.ComparedMetric) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: siskinv1.CanarySpec{
			TargetRef: siskinv1.TargetReference{Kind: "Deployment", Name: "podinfo"},
			Analysis:  &siskinv1.CanaryAnalysis{Comparison: &siskinv1.CanaryComparison{Metrics: ms}},
		},
	}
}

// compare runs one look of c on server s with the window since - lookTime.
func compare(t *testing.T, address string, c *siskinv1.Canary, router string, window time.Duration) []canary.ComparisonSample {
	t.Helper()
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{
		Providers:   prometheus.NewPool(prometheus.Options{}),
		Default:     metrics.ProviderConfig{Address: address},
		StepTimeout: 5 * time.Second,
	})
	got := a.Compare(context.Background(), c, router, "podinfo-primary", lookTime.Add(-window), lookTime)
	if len(got) != len(c.Spec.Analysis.Comparison.Metrics) {
		t.Fatalf("Compare returned %d samples, want %d: %+v", len(got), len(c.Spec.Analysis.Comparison.Metrics), got)
	}
	return got
}

func TestCompareReadsTheBuiltinRateOfIstioByWorkload(t *testing.T) {
	sel := func(workload string) string {
		return `reporter="destination", destination_workload_namespace="test", destination_workload="` + workload + `"`
	}
	want := map[string]string{
		`sum( increase( istio_requests_total{ ` + sel("podinfo") + ` }[37s] ) )`:                               "200",
		`sum( increase( istio_requests_total{ ` + sel("podinfo") + `, response_code=~"5.*" }[37s] ) )`:         "3",
		`sum( increase( istio_requests_total{ ` + sel("podinfo-primary") + ` }[37s] ) )`:                       "400.5",
		`sum( increase( istio_requests_total{ ` + sel("podinfo-primary") + `, response_code=~"5.*" }[37s] ) )`: "2",
	}
	srv := newPromServer(t, func(q string) string {
		if v, ok := want[q]; ok {
			return one(v)
		}
		return ""
	})
	got := compare(t, srv.URL, comparingCanary(siskinv1.ComparedMetric{Name: siskinv1.MetricRequestSuccessRate}),
		siskinv1.ProviderIstio, 36200*time.Millisecond)
	wantSample := canary.ComparisonSample{Name: siskinv1.MetricRequestSuccessRate,
		Canary: canary.Counts{Requests: 200, Events: 3}, Control: canary.Counts{Requests: 400.5, Events: 2}}
	if !reflect.DeepEqual(got[0], wantSample) {
		t.Errorf("got %+v, want %+v (queries received: %q)", got[0], wantSample, srv.received())
	}
	if n := len(srv.received()); n != 4 {
		t.Errorf("the look ran %d queries, want 4", n)
	}
	for _, at := range srv.times {
		if f, err := strconv.ParseFloat(at, 64); err != nil || int64(f) != lookTime.Unix() {
			t.Errorf("a query was evaluated at %q, want the look's time %d", at, lookTime.Unix())
		}
	}
}

func TestCompareParsesTheBucketsOfADistribution(t *testing.T) {
	srv := newPromServer(t, func(q string) string {
		if strings.Contains(q, `destination_workload="podinfo-primary"`) {
			return les("+Inf", "100", "25", "80", "100", "99", "5", "10")
		}
		// Unsorted, a bound written twice, and an le that is no number.
		return les("250", "40", "+Inf", "42", "5", "1", "bogus", "7", "5.0", "2", "25", "30")
	})
	got := compare(t, srv.URL, comparingCanary(siskinv1.ComparedMetric{Name: siskinv1.MetricRequestDuration}),
		siskinv1.ProviderIstio, time.Minute)
	// b is the buckets of le, count pairs.
	b := func(pairs ...float64) []canary.Bucket {
		var out []canary.Bucket
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, canary.Bucket{UpperBound: pairs[i], Count: pairs[i+1]})
		}
		return out
	}
	inf := math.Inf(1)
	want := canary.ComparisonSample{Name: siskinv1.MetricRequestDuration,
		Canary:  canary.Counts{Requests: 42, Buckets: b(5, 3, 25, 30, 250, 40, inf, 42)},
		Control: canary.Counts{Requests: 100, Buckets: b(5, 10, 25, 80, 100, 99, inf, 100)},
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("got %+v\nwant %+v", got[0], want)
	}
	for _, q := range srv.received() {
		if !strings.HasPrefix(q, "sum by (le) ( increase( istio_request_duration_milliseconds_bucket{") || !strings.Contains(q, "[60s]") {
			t.Errorf("unexpected bucket query %s", q)
		}
	}
}

func TestAnEmptyVectorIsNoTraffic(t *testing.T) {
	srv := newPromServer(t, func(string) string { return "[]" })
	got := compare(t, srv.URL, comparingCanary(
		siskinv1.ComparedMetric{Name: siskinv1.MetricRequestSuccessRate},
		siskinv1.ComparedMetric{Name: siskinv1.MetricRequestDuration},
	), siskinv1.ProviderKubernetes, time.Minute)
	zero := canary.Counts{Buckets: []canary.Bucket{{UpperBound: math.Inf(1)}}}
	want := []canary.ComparisonSample{
		{Name: siskinv1.MetricRequestSuccessRate},
		{Name: siskinv1.MetricRequestDuration, Canary: zero, Control: zero},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestCountsThatAreNoCountsAreErrors(t *testing.T) {
	rate := siskinv1.ComparedMetric{Name: "errors", Kind: siskinv1.CompareRate,
		RequestsQuery: `requests{w="{{ workload }}"}`, EventsQuery: `errors{w="{{ workload }}"}`}
	for _, tc := range []struct {
		name   string
		metric siskinv1.ComparedMetric
		answer func(q string) string
		want   string
	}{
		{"NaN events", rate, func(q string) string {
			if strings.HasPrefix(q, "errors") {
				return one("NaN")
			}
			return one("10")
		}, "errors: eventsQuery of podinfo"},
		{"negative requests", rate, func(q string) string {
			if strings.HasPrefix(q, "requests") {
				return one("-1")
			}
			return one("0")
		}, "returned -1.00, a negative count"},
		{"an infinite bucket", siskinv1.ComparedMetric{Name: siskinv1.MetricRequestDuration},
			func(string) string { return les("5", "+Inf", "+Inf", "3") }, "returned +Inf"},
		{"no le that is a number", siskinv1.ComparedMetric{Name: siskinv1.MetricRequestDuration},
			func(string) string { return les("fast", "1", "slow", "2") }, "none with a number in its le label"},
		{"no +Inf bucket", siskinv1.ComparedMetric{Name: siskinv1.MetricRequestDuration},
			func(string) string { return les("5", "1") }, "no +Inf bucket"},
		{"several series of a count", rate,
			func(string) string { return les("5", "1", "10", "2") }, "not a single value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newPromServer(t, tc.answer)
			got := compare(t, srv.URL, comparingCanary(tc.metric), siskinv1.ProviderIstio, time.Minute)
			if !strings.Contains(got[0].Error, tc.want) || !strings.HasPrefix(got[0].Error, tc.metric.Name+": ") {
				t.Errorf("error %q, want one naming the metric and containing %q", got[0].Error, tc.want)
			}
		})
	}
	t.Run("NaN is named", func(t *testing.T) {
		srv := newPromServer(t, func(string) string { return one("NaN") })
		got := compare(t, srv.URL, comparingCanary(rate), siskinv1.ProviderIstio, time.Minute)
		if !strings.HasSuffix(got[0].Error, "returned NaN") {
			t.Errorf("error %q, want one saying the query returned NaN", got[0].Error)
		}
	})
}

func TestABuiltinOfARouterWithoutBuiltinsIsAnError(t *testing.T) {
	srv := newPromServer(t, func(string) string { return one("1") })
	got := compare(t, srv.URL, comparingCanary(
		siskinv1.ComparedMetric{Name: siskinv1.MetricRequestSuccessRate},
		siskinv1.ComparedMetric{Name: "custom", Kind: siskinv1.CompareRate, RequestsQuery: "r", EventsQuery: "e"},
	), "kuma", time.Minute)
	if e := got[0].Error; !strings.Contains(e, `"kuma"`) || !strings.Contains(e, "istio, gatewayapi, ") || !strings.Contains(e, "kubernetes, replicas") {
		t.Errorf("error %q, want one naming the router and the providers that have built-ins", e)
	}
	if got[1].Error != "" || got[1].Canary.Requests != 1 {
		t.Errorf("a metric with its own queries needs no built-ins, got %+v", got[1])
	}
}

func TestTheWindowIsTheLookRoundedUpToWholeSeconds(t *testing.T) {
	for _, tc := range []struct {
		window time.Duration
		want   string
	}{
		{37 * time.Second, "[37s]"},
		{36*time.Second + time.Millisecond, "[37s]"},
		{90 * time.Second, "[90s]"},
		{2 * time.Hour, "[7200s]"},
		{0, "[1s]"},
		{-time.Minute, "[1s]"}, // a start after the end
	} {
		t.Run(tc.window.String(), func(t *testing.T) {
			srv := newPromServer(t, func(string) string { return one("1") })
			compare(t, srv.URL, comparingCanary(siskinv1.ComparedMetric{Name: "custom", Kind: siskinv1.CompareDistribution,
				BucketsQuery: `sum by (le) (increase(b{w="{{ workload }}"}[{{ interval }}]))`}), siskinv1.ProviderIstio, tc.window)
			for _, q := range srv.received() {
				if !strings.Contains(q, tc.want) {
					t.Errorf("query %s, want the window %s", q, tc.want)
				}
			}
		})
	}
}

func TestAFailedQueryIsAnErrorWithoutTheCredentials(t *testing.T) {
	srv := newPromServer(t, func(string) string { return "" })
	address := strings.Replace(srv.URL, "http://", "http://siskin:s3cret@", 1)
	got := compare(t, address, comparingCanary(siskinv1.ComparedMetric{Name: siskinv1.MetricRequestSuccessRate}),
		siskinv1.ProviderGatewayAPIV1, time.Minute)
	if e := got[0].Error; !strings.Contains(e, "parse error") || strings.Contains(e, "s3cret") || strings.Contains(e, "siskin:") {
		t.Errorf("error %q, want the server's answer with the address redacted", e)
	}
}

func TestALookReturnsByItsDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{
		Providers:   prometheus.NewPool(prometheus.Options{}),
		Default:     metrics.ProviderConfig{Address: srv.URL},
		StepTimeout: 200 * time.Millisecond,
	})
	start := time.Now()
	got := a.Compare(context.Background(), comparingCanary(siskinv1.ComparedMetric{Name: siskinv1.MetricRequestDuration}),
		siskinv1.ProviderIstio, "podinfo-primary", lookTime.Add(-time.Minute), lookTime)
	if len(got) != 1 || !strings.Contains(got[0].Error, "look deadline") {
		t.Fatalf("got %+v, want an Error naming the look deadline", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Compare returned after %s", d)
	}
}

func TestCompareWithoutComparedMetricsIsNil(t *testing.T) {
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{})
	c := comparingCanary()
	if got := a.Compare(context.Background(), c, siskinv1.ProviderIstio, "podinfo-primary", lookTime, lookTime); got != nil {
		t.Errorf("got %+v, want nil", got)
	}
	c.Spec.Analysis.Comparison = nil
	if got := a.Compare(context.Background(), c, siskinv1.ProviderIstio, "podinfo-primary", lookTime, lookTime); got != nil {
		t.Errorf("got %+v, want nil", got)
	}
}

func TestALookWithoutAWindowOrControlIsAnError(t *testing.T) {
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{Default: metrics.ProviderConfig{Address: "http://prometheus:9090"}})
	c := comparingCanary(siskinv1.ComparedMetric{Name: siskinv1.MetricRequestSuccessRate})
	for name, got := range map[string][]canary.ComparisonSample{
		"no start":   a.Compare(context.Background(), c, siskinv1.ProviderIstio, "podinfo-primary", time.Time{}, lookTime),
		"no control": a.Compare(context.Background(), c, siskinv1.ProviderIstio, "", lookTime.Add(-time.Minute), lookTime),
	} {
		if len(got) != 1 || got[0].Name != siskinv1.MetricRequestSuccessRate || got[0].Error == "" {
			t.Errorf("%s: got %+v, want one Error sample", name, got)
		}
	}
}

func TestWorkloadIsOnlySetInComparisons(t *testing.T) {
	q := `x{w="{{ workload }}"}`
	if _, err := metrics.Render(context.Background(), q, metrics.Vars{}); !errors.Is(err, metrics.ErrNoWorkload) {
		t.Errorf("Render without a workload: %v, want ErrNoWorkload", err)
	}
	if got, err := metrics.Render(context.Background(), q, metrics.Vars{Workload: "podinfo-baseline"}); err != nil || got != `x{w="podinfo-baseline"}` {
		t.Errorf("Render = %q, %v", got, err)
	}
}

func TestBuiltinCompareQueriesSelectOneWorkload(t *testing.T) {
	vars := metrics.Vars{Namespace: "test", Workload: "podinfo", Interval: "30s"}
	for _, router := range metrics.BuiltinRouters() {
		if !providers.MetricsOf(router).Compare {
			continue // no compared metrics: Validate refuses a comparison (replicas, nginx)
		}
		for _, name := range []string{metrics.CompareRequests, metrics.CompareErrors, metrics.CompareBuckets} {
			text, err := metrics.BuiltinQuery(router, name)
			if err != nil {
				t.Fatal(err)
			}
			q, err := metrics.Render(context.Background(), text, vars)
			if err != nil {
				t.Fatalf("%s/%s: %v", router, name, err)
			}
			exact := strings.Contains(q, `destination_workload="podinfo"`) || strings.Contains(q, `pod=~"podinfo-[0-9a-zA-Z]+-[0-9a-zA-Z]+"`) ||
				strings.Contains(q, `deployment="podinfo"`)
			if !exact || !strings.Contains(q, "[30s]") || strings.Count(q, "(") != strings.Count(q, ")") {
				t.Errorf("%s/%s rendered to %s", router, name, q)
			}
		}
	}
}

func TestReplicasHasNoBuiltinComparedMetrics(t *testing.T) {
	for _, name := range []string{metrics.CompareRequests, metrics.CompareErrors, metrics.CompareBuckets} {
		if _, err := metrics.BuiltinQuery(siskinv1.ProviderReplicas, name); !errors.Is(err, metrics.ErrUnknownBuiltin) {
			t.Errorf("BuiltinQuery(replicas, %s) = %v, want ErrUnknownBuiltin", name, err)
		}
	}
}

func TestPodsVariables(t *testing.T) {
	q := `x{pod=~"{{ canaryPods }}"} / y{pod=~"{{ primaryPods }}"}`
	if _, err := metrics.Render(context.Background(), q, metrics.Vars{}); !errors.Is(err, metrics.ErrNoPods) {
		t.Errorf("Render without pods: %v, want ErrNoPods", err)
	}
	got, err := metrics.Render(context.Background(), q, metrics.Vars{CanaryPods: "web-(3|4)", PrimaryPods: "web-(0|1|2)"})
	if want := `x{pod=~"web-(3|4)"} / y{pod=~"web-(0|1|2)"}`; err != nil || got != want {
		t.Errorf("Render = %q, %v; want %q", got, err, want)
	}
}
