package metrics

import (
	"context"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// TestLegacyThresholdHasFlaggersMeaning checks the deprecated metrics[].threshold as Flagger
// reads it (pkg/controller/scheduler_metrics.go): a minimum for the built-in
// request-success-rate, a maximum for the built-in request-duration and for template and
// inline-query metrics. Flagger's own end-to-end scripts put threshold: 500 on a custom
// duration template whose query answers in seconds.
func TestLegacyThresholdHasFlaggersMeaning(t *testing.T) {
	templates := fakeTemplates{"test/latency": {Spec: siskinv1.MetricTemplateSpec{Query: `latency{ns="{{ namespace }}"}`}}}
	metrics := map[string]siskinv1.CanaryMetric{
		"built-in request-duration": {Name: siskinv1.MetricRequestDuration, Threshold: f64(500)},
		"custom duration template": {Name: "latency", Threshold: f64(500),
			TemplateRef: &siskinv1.CrossNamespaceObjectReference{Name: "latency"}},
		"inline query": {Name: "latency", Threshold: f64(500), Query: `histogram_quantile(0.99, rate(latency_bucket[1m]))`},
	}
	for name, m := range metrics {
		for _, tc := range []struct {
			value   float64
			verdict siskinv1.CheckVerdict
			message string
		}{
			{0.000496, siskinv1.VerdictPass, m.Name + " 0.000496 not above max 500"},
			{300, siskinv1.VerdictPass, m.Name + " 300.00 not above max 500"},
			{600, siskinv1.VerdictFail, m.Name + " 600.00 above max 500"},
		} {
			a := NewAnalyzer(AnalyzerOptions{
				Providers: &fakeProviders{provider: &fakeProvider{fn: value(tc.value)}},
				Templates: templates,
				Default:   ProviderConfig{Address: "http://prometheus:9090"},
			})
			r := a.Run(context.Background(), Step{Canary: testCanary(m), Router: siskinv1.ProviderIstio, Now: stepTime})[0]
			if r.Verdict != tc.verdict || r.Message != tc.message || r.Min != "" || r.Max != "500" {
				t.Errorf("%s at %v: got %s %q (min %q max %q), want %s %q (max 500)", name, tc.value, r.Verdict, r.Message, r.Min, r.Max, tc.verdict, tc.message)
			}
		}
	}

	sr := siskinv1.CanaryMetric{Name: siskinv1.MetricRequestSuccessRate, Threshold: f64(99)}
	for _, tc := range []struct {
		value   float64
		verdict siskinv1.CheckVerdict
	}{{99.5, siskinv1.VerdictPass}, {98, siskinv1.VerdictFail}} {
		r := runOne(t, sr, value(tc.value), nil)
		if r.Verdict != tc.verdict || r.Min != "99" || r.Max != "" {
			t.Errorf("request-success-rate at %v: got %s %q (min %q max %q), want %s with min 99", tc.value, r.Verdict, r.Message, r.Min, r.Max, tc.verdict)
		}
	}
}
