package controller

import (
	"context"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// lookProvider is a metrics provider whose counts are 100 requests and 1 error for the canary,
// 200 and 2 for the control, and whose other queries (a step's checks) answer 99.5 once a
// look's query has arrived: run one after the other, the check would wait for its deadline.
type lookProvider struct {
	once   sync.Once
	looked chan struct{}
}

func (p *lookProvider) Query(ctx context.Context, query string) (metrics.Sample, error) {
	if strings.HasPrefix(query, "sum( increase(") {
		p.once.Do(func() { close(p.looked) })
		n := map[bool]float64{false: 100, true: 200}[strings.Contains(query, `"podinfo-primary"`)]
		if strings.Contains(query, `response_code=~"5.*"`) {
			n /= 100
		}
		return metrics.Sample{Value: n}, nil
	}
	select {
	case <-p.looked:
		return metrics.Sample{Value: 99.5}, nil
	case <-ctx.Done():
		return metrics.Sample{}, context.Cause(ctx)
	}
}

func (p *lookProvider) QuerySeries(context.Context, string) ([]metrics.Series, error) {
	return []metrics.Series{{Labels: map[string]string{"le": "+Inf"}, Value: 5}}, nil
}

// oneProvider hands out p for every configuration.
type oneProvider struct{ p metrics.Provider }

func (o oneProvider) Provider(metrics.ProviderConfig) (metrics.Provider, error) { return o.p, nil }

// lookReconciler is a reconciler whose analyzer queries a lookProvider.
func lookReconciler() *CanaryReconciler {
	return &CanaryReconciler{
		Webhooks: webhooks.New(),
		Analyzer: metrics.NewAnalyzer(metrics.AnalyzerOptions{
			Providers:   oneProvider{&lookProvider{looked: make(chan struct{})}},
			Default:     metrics.ProviderConfig{Address: "http://prometheus:9090"},
			StepTimeout: 5 * time.Second,
		}),
	}
}

func comparedCanary(ms ...siskinv1.ComparedMetric) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test", UID: "uid-1"},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderIstio,
			TargetRef: siskinv1.TargetReference{Kind: "Deployment", Name: "podinfo"},
			Analysis: &siskinv1.CanaryAnalysis{
				Metrics:    []siskinv1.CanaryMetric{{Name: siskinv1.MetricRequestSuccessRate}},
				Comparison: &siskinv1.CanaryComparison{Metrics: ms},
			},
		},
	}
}

var lookNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func lookNeeds() canary.Needs {
	return canary.Needs{Compare: true, CompareSince: lookNow.Add(-30 * time.Second), Control: "podinfo-primary"}
}

func TestGatherReadsALookWithoutAStep(t *testing.T) {
	r := lookReconciler()
	c := comparedCanary(siskinv1.ComparedMetric{Name: siskinv1.MetricRequestSuccessRate})
	obs := canary.Observation{Now: lookNow, Provider: siskinv1.ProviderIstio}
	if pending := r.gather(context.Background(), c, &obs, lookNeeds()); pending != 0 {
		t.Fatalf("gather is still gathering after %s", pending)
	}
	want := canary.ComparisonSample{Name: siskinv1.MetricRequestSuccessRate,
		Canary: canary.Counts{Requests: 100, Events: 1}, Control: canary.Counts{Requests: 200, Events: 2}}
	if !reflect.DeepEqual(obs.Comparisons, []canary.ComparisonSample{want}) {
		t.Fatalf("Comparisons = %+v, want [%+v]", obs.Comparisons, want)
	}
	if obs.Checks != nil || obs.Gates != nil {
		t.Errorf("a look alone ran a step or gates: checks %+v, gates %+v", obs.Checks, obs.Gates)
	}
}

func TestALookRunsBesideTheStep(t *testing.T) {
	r := lookReconciler()
	c := comparedCanary(
		siskinv1.ComparedMetric{Name: siskinv1.MetricRequestSuccessRate},
		siskinv1.ComparedMetric{Name: siskinv1.MetricRequestDuration},
	)
	obs := canary.Observation{Now: lookNow, Provider: siskinv1.ProviderIstio}
	needs := lookNeeds()
	needs.Step = true
	if pending := r.gather(context.Background(), c, &obs, needs); pending != 0 {
		t.Fatalf("gather is still gathering after %s", pending)
	}
	if len(obs.Checks) != 1 || obs.Checks[0].Verdict != siskinv1.VerdictPass {
		t.Errorf("Checks = %+v, want the metric check to pass once the look ran beside it", obs.Checks)
	}
	if len(obs.Comparisons) != 2 || obs.Comparisons[0].Canary.Requests != 100 {
		t.Fatalf("Comparisons = %+v, want two samples", obs.Comparisons)
	}
	if d := obs.Comparisons[1]; d.Error != "" || len(d.Canary.Buckets) != 1 || !math.IsInf(d.Canary.Buckets[0].UpperBound, 1) || d.Canary.Requests != 5 {
		t.Errorf("request-duration sample %+v, want one +Inf bucket of 5 requests", d)
	}
}

func TestALookWithoutComparedMetricsIsEmpty(t *testing.T) {
	r := lookReconciler()
	c := comparedCanary()
	obs := canary.Observation{Now: lookNow, Provider: siskinv1.ProviderIstio}
	r.gather(context.Background(), c, &obs, lookNeeds())
	if obs.Comparisons == nil || len(obs.Comparisons) != 0 {
		t.Errorf("Comparisons = %#v, want an empty slice", obs.Comparisons)
	}
}

func TestALookThatPanicsIsAnErrorSample(t *testing.T) {
	r := &CanaryReconciler{Webhooks: webhooks.New()} // no Analyzer: Compare panics
	c := comparedCanary(
		siskinv1.ComparedMetric{Name: siskinv1.MetricRequestSuccessRate},
		siskinv1.ComparedMetric{Name: siskinv1.MetricRequestDuration},
	)
	obs := canary.Observation{Now: lookNow, Provider: siskinv1.ProviderIstio}
	r.gather(context.Background(), c, &obs, lookNeeds())
	if len(obs.Comparisons) != 2 {
		t.Fatalf("Comparisons = %+v, want one Error sample per compared metric", obs.Comparisons)
	}
	for i, s := range obs.Comparisons {
		if s.Name != c.Spec.Analysis.Comparison.Metrics[i].Name || !strings.Contains(s.Error, "the comparison could not be read") {
			t.Errorf("sample %d = %+v, want an Error naming its metric", i, s)
		}
	}
}

func TestEachLookIsItsOwnGathering(t *testing.T) {
	c := comparedCanary(siskinv1.ComparedMetric{Name: siskinv1.MetricRequestSuccessRate})
	obs := &canary.Observation{Now: lookNow}
	first, next := lookNeeds(), lookNeeds()
	next.CompareSince = lookNow
	if gatherKey(c, obs, first) == gatherKey(c, obs, next) {
		t.Error("two looks with different starts share a gathering")
	}
	again := first
	again.CompareSince = metav1.NewTime(first.CompareSince).Local() // read back from the API
	if gatherKey(c, obs, first) != gatherKey(c, obs, again) {
		t.Errorf("the same look read back is another gathering:\n%s\n%s", gatherKey(c, obs, first), gatherKey(c, obs, again))
	}
}
