package observability

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// flaggerFamilies are the series Flagger exports, all of them.
var flaggerFamilies = []string{
	"flagger_info", "flagger_canary_total", "flagger_canary_status", "flagger_canary_weight",
	"flagger_canary_duration_seconds", "flagger_canary_metric_analysis",
	"flagger_canary_successes_total", "flagger_canary_failures_total",
}

func newFlaggerRecorder(t *testing.T) (*Recorder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := NewRecorder(reg, WithFlaggerNames("v1.2.3", siskinv1.ProviderIstio))
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

// targeting gives c a target whose name differs from the Canary's, and a weighted analysis.
func targeting(c *siskinv1.Canary, target string) *siskinv1.Canary {
	c.Spec.TargetRef = siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target}
	c.Spec.Analysis = &siskinv1.CanaryAnalysis{StepWeight: 10}
	return c
}

// familyNames returns the names of the metric families reg gathers that start with prefix.
func familyNames(t *testing.T, reg *prometheus.Registry, prefix string) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), prefix) {
			out = append(out, f.GetName())
		}
	}
	slices.Sort(out)
	return out
}

// recordRollouts plays a Canary through a step, a promotion after 15 minutes and a rollback
// after 90 seconds.
func recordRollouts(r *Recorder, c *siskinv1.Canary) {
	c.Status = siskinv1.CanaryStatus{Phase: siskinv1.PhaseProgressing, CanaryWeight: 30, LastChecks: []siskinv1.CheckResult{
		metricCheck("request-success-rate", "99.5", "99", "", siskinv1.VerdictPass),
		metricCheck("request-duration", "412", "", "500", siskinv1.VerdictPass),
		{Name: "load", Kind: "webhook", Verdict: siskinv1.VerdictPass},
	}}
	r.RecordStatus(c)
	r.RecordChecks(c, c.Status.LastChecks)
	r.RecordRollout(c, true, 15*time.Minute)
	r.RecordRollout(c, false, 90*time.Second)
}

func TestFlaggerNamesExportFlaggerSeriesFromTheSameCalls(t *testing.T) {
	r, reg := newFlaggerRecorder(t)
	recordRollouts(r, targeting(testCanary("apps", "podinfo-canary", "", 0), "podinfo"))
	r.RecordStatus(targeting(testCanary("apps", "frontend", siskinv1.PhaseSucceeded, 0), "frontend"))

	if got := familyNames(t, reg, "flagger_"); !slices.Equal(got, sorted(flaggerFamilies)) {
		t.Errorf("flagger families = %v, want %v", got, sorted(flaggerFamilies))
	}
	compare(t, reg, `
# HELP flagger_info Version and default router of the controller (Siskin, exporting Flagger's series); always 1.
# TYPE flagger_info gauge
flagger_info{mesh_provider="istio",version="v1.2.3"} 1
# HELP flagger_canary_total Canaries per namespace; absent for a namespace without Canaries.
# TYPE flagger_canary_total gauge
flagger_canary_total{namespace="apps"} 2
# HELP flagger_canary_status State of a Canary, by target name: 0 a rollout in flight, 1 at rest (last rollout promoted, or none yet), 2 rolled back.
# TYPE flagger_canary_status gauge
flagger_canary_status{name="frontend",namespace="apps"} 1
flagger_canary_status{name="podinfo",namespace="apps"} 0
# HELP flagger_canary_weight Percent of traffic routed to the workload <target> (the canary) and <target>-primary.
# TYPE flagger_canary_weight gauge
flagger_canary_weight{namespace="apps",workload="frontend"} 0
flagger_canary_weight{namespace="apps",workload="frontend-primary"} 100
flagger_canary_weight{namespace="apps",workload="podinfo"} 30
flagger_canary_weight{namespace="apps",workload="podinfo-primary"} 70
# HELP flagger_canary_metric_analysis Last value of an analysis metric, by target name; absent while the metric has no value.
# TYPE flagger_canary_metric_analysis gauge
flagger_canary_metric_analysis{metric="request-duration",name="podinfo",namespace="apps"} 412
flagger_canary_metric_analysis{metric="request-success-rate",name="podinfo",namespace="apps"} 99.5
# HELP flagger_canary_successes_total Rollouts that ended with the new revision promoted, by target name.
# TYPE flagger_canary_successes_total counter
flagger_canary_successes_total{analysis_status="completed",deployment_strategy="canary",name="frontend",namespace="apps"} 0
flagger_canary_successes_total{analysis_status="completed",deployment_strategy="canary",name="podinfo",namespace="apps"} 1
# HELP flagger_canary_failures_total Rollouts that ended with the new revision rolled back, by target name.
# TYPE flagger_canary_failures_total counter
flagger_canary_failures_total{analysis_status="completed",deployment_strategy="canary",name="frontend",namespace="apps"} 0
flagger_canary_failures_total{analysis_status="completed",deployment_strategy="canary",name="podinfo",namespace="apps"} 1
# HELP flagger_canary_duration_seconds Duration of whole rollouts, by target name, from the start of the analysis to promotion or rollback.
# TYPE flagger_canary_duration_seconds histogram
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="apps",le="30"} 0
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="apps",le="60"} 0
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="apps",le="120"} 1
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="apps",le="240"} 1
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="apps",le="480"} 1
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="apps",le="960"} 2
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="apps",le="1920"} 2
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="apps",le="3840"} 2
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="apps",le="7680"} 2
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="apps",le="15360"} 2
flagger_canary_duration_seconds_bucket{name="podinfo",namespace="apps",le="+Inf"} 2
flagger_canary_duration_seconds_sum{name="podinfo",namespace="apps"} 990
flagger_canary_duration_seconds_count{name="podinfo",namespace="apps"} 2
`, flaggerFamilies...)

	// Siskin's own series are still there, by the Canary's name.
	if got := testutil.ToFloat64(r.weight.WithLabelValues("podinfo-canary", "apps", WorkloadCanary)); got != 30 {
		t.Errorf("siskin_canary_weight{name=podinfo-canary,workload=canary} = %v, want 30", got)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestWithoutFlaggerNamesNoFlaggerSeriesExist(t *testing.T) {
	r, reg := newTestRecorder(t)
	c := targeting(testCanary("apps", "podinfo", "", 0), "podinfo")
	recordRollouts(r, c)
	r.RecordNotificationFailure("apps", "podinfo", "slack")
	if got := familyNames(t, reg, "flagger_"); len(got) != 0 {
		t.Errorf("flagger series without WithFlaggerNames: %v", got)
	}
	if got := familyNames(t, reg, "siskin_"); len(got) != len(allFamilies)+len(controllerFamilies) {
		t.Errorf("siskin families = %v, want all %d and the controller's %v", got, len(allFamilies), controllerFamilies)
	}
	r.Forget("apps", "podinfo") // no Flagger bookkeeping to trip over
}

// Every phase has a deliberate value; see FlaggerStatus for why.
func TestFlaggerStatusOfEveryPhase(t *testing.T) {
	want := map[siskinv1.CanaryPhase]float64{
		"":                             1,
		siskinv1.PhaseInitializing:     1,
		siskinv1.PhaseInitialized:      1,
		siskinv1.PhaseWaiting:          1,
		siskinv1.PhaseProgressing:      0,
		siskinv1.PhaseWaitingPromotion: 0,
		siskinv1.PhasePromoting:        0,
		siskinv1.PhaseFinalising:       0,
		siskinv1.PhaseSucceeded:        1,
		siskinv1.PhaseFailed:           2,
		siskinv1.PhaseTerminating:      1,
		siskinv1.PhaseTerminated:       1,
	}
	for phase, v := range want {
		if got, ok := FlaggerStatus(phase); !ok || got != v {
			t.Errorf("FlaggerStatus(%q) = %v, %v; want %v", phase, got, ok, v)
		}
	}
	if _, ok := FlaggerStatus("Exploded"); ok {
		t.Error("an unknown phase has a value")
	}

	// An unknown phase deletes the series rather than keep the last value.
	r, reg := newFlaggerRecorder(t)
	c := targeting(testCanary("apps", "podinfo", siskinv1.PhaseFailed, 0), "podinfo")
	r.RecordStatus(c)
	c.Status.Phase = "Exploded"
	r.RecordStatus(c)
	if n, err := testutil.GatherAndCount(reg, "flagger_canary_status"); err != nil || n != 0 {
		t.Errorf("%d flagger_canary_status series for an unknown phase (err %v), want none", n, err)
	}
}

func TestFlaggerOutcomeLabels(t *testing.T) {
	ab := &siskinv1.CanaryAnalysis{Iterations: 10, Match: []siskinv1.HTTPMatchRequest{{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}}}}
	cases := []struct {
		name     string
		spec     siskinv1.CanarySpec
		strategy string
		status   string
	}{
		{"weighted canary", siskinv1.CanarySpec{Analysis: &siskinv1.CanaryAnalysis{StepWeight: 10}}, StrategyCanary, AnalysisCompleted},
		{"step weights", siskinv1.CanarySpec{Analysis: &siskinv1.CanaryAnalysis{StepWeights: []int32{5, 50}}}, StrategyCanary, AnalysisCompleted},
		{"iterations are blue/green", siskinv1.CanarySpec{Analysis: &siskinv1.CanaryAnalysis{Iterations: 5}}, StrategyBlueGreen, AnalysisCompleted},
		{"iterations and match are A/B testing", siskinv1.CanarySpec{Analysis: ab}, StrategyABTesting, AnalysisCompleted},
		{"the kubernetes provider only switches", siskinv1.CanarySpec{Provider: siskinv1.ProviderKubernetes, Analysis: &siskinv1.CanaryAnalysis{StepWeight: 10}}, StrategyBlueGreen, AnalysisCompleted},
		{"skipAnalysis", siskinv1.CanarySpec{SkipAnalysis: true, Analysis: &siskinv1.CanaryAnalysis{StepWeight: 10}}, StrategyCanary, AnalysisSkipped},
		{"no analysis at all is skipped", siskinv1.CanarySpec{}, StrategyCanary, AnalysisSkipped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newFlaggerRecorder(t)
			c := testCanary("apps", "podinfo", siskinv1.PhaseSucceeded, 0)
			c.Spec = tc.spec
			c.Spec.TargetRef.Name = "podinfo"
			r.RecordRollout(c, true, time.Minute)
			if got := testutil.ToFloat64(r.flagger.successes.WithLabelValues("podinfo", "apps", tc.strategy, tc.status)); got != 1 {
				t.Errorf("successes{%s,%s} = %v, want 1", tc.strategy, tc.status, got)
			}
			if n := testutil.CollectAndCount(r.flagger.successes); n != 1 {
				t.Errorf("%d success series, want 1", n)
			}
		})
	}

	// A Canary that names no router takes the controller's default.
	reg := prometheus.NewRegistry()
	r, err := NewRecorder(reg, WithFlaggerNames("dev", siskinv1.ProviderKubernetes))
	if err != nil {
		t.Fatal(err)
	}
	c := targeting(testCanary("apps", "podinfo", siskinv1.PhaseFailed, 0), "podinfo")
	r.RecordRollout(c, false, -1)
	if got := testutil.ToFloat64(r.flagger.failures.WithLabelValues("podinfo", "apps", StrategyBlueGreen, AnalysisCompleted)); got != 1 {
		t.Errorf("failures{blue-green} under the default provider kubernetes = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(r.flagger.duration); n != 0 {
		t.Errorf("a rollout without a start time observed %d durations, want none", n)
	}
}

func TestFlaggerMetricAnalysisWithoutValueIsDeleted(t *testing.T) {
	r, reg := newFlaggerRecorder(t)
	c := targeting(testCanary("apps", "podinfo", siskinv1.PhaseProgressing, 10,
		metricCheck("errors", "0.5", "", "1", siskinv1.VerdictPass),
		metricCheck("latency", "100", "", "500", siskinv1.VerdictPass)), "podinfo")
	r.RecordStatus(c)
	// Next step: errors had no data; latency was removed from the analysis.
	c.Status.LastChecks = []siskinv1.CheckResult{metricCheck("errors", "", "", "1", siskinv1.VerdictNoData)}
	r.RecordStatus(c)
	if n, err := testutil.GatherAndCount(reg, "flagger_canary_metric_analysis"); err != nil || n != 0 {
		t.Errorf("%d flagger_canary_metric_analysis series left (err %v), want none", n, err)
	}
}

func TestForgetDeletesFlaggerSeriesOfThatCanaryOnly(t *testing.T) {
	r, reg := newFlaggerRecorder(t)
	recordRollouts(r, targeting(testCanary("apps", "podinfo-canary", "", 0), "podinfo"))
	recordRollouts(r, targeting(testCanary("apps", "other", "", 0), "other"))
	recordRollouts(r, targeting(testCanary("staging", "podinfo-canary", "", 0), "podinfo"))
	countOf := func(ns string) map[string]int {
		out := map[string]int{}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == LabelNamespace && l.GetValue() == ns && strings.HasPrefix(f.GetName(), "flagger_") {
						out[f.GetName()]++
					}
				}
			}
		}
		return out
	}
	staging := countOf("staging")

	r.Forget("apps", "podinfo-canary")

	apps := countOf("apps")
	want := map[string]int{
		"flagger_canary_total": 1, "flagger_canary_status": 1, "flagger_canary_weight": 2,
		"flagger_canary_duration_seconds": 1, "flagger_canary_metric_analysis": 2,
		"flagger_canary_successes_total": 1, "flagger_canary_failures_total": 1,
	}
	if fmt.Sprint(apps) != fmt.Sprint(want) {
		t.Errorf("flagger series of namespace apps after Forget = %v, want the other Canary's only: %v", apps, want)
	}
	if got := seriesOf(t, reg, "apps", "podinfo"); len(got) != 0 {
		t.Errorf("series of target apps/podinfo left: %v", got)
	}
	if got := countOf("staging"); fmt.Sprint(got) != fmt.Sprint(staging) {
		t.Errorf("series of namespace staging changed: %v, want %v", got, staging)
	}
	compare(t, reg, `
# HELP flagger_canary_total Canaries per namespace; absent for a namespace without Canaries.
# TYPE flagger_canary_total gauge
flagger_canary_total{namespace="apps"} 1
flagger_canary_total{namespace="staging"} 1
`, "flagger_canary_total")

	// The last Canary of a namespace takes the namespace's total with it.
	r.Forget("staging", "podinfo-canary")
	r.Forget("staging", "podinfo-canary") // twice is harmless
	if got := countOf("staging"); len(got) != 0 {
		t.Errorf("flagger series of namespace staging after its last Canary went: %v", got)
	}
}

// A Canary whose targetRef is renamed moves its series to the new target's name.
func TestFlaggerSeriesFollowARenamedTarget(t *testing.T) {
	r, reg := newFlaggerRecorder(t)
	c := targeting(testCanary("apps", "podinfo", "", 0), "podinfo-v1")
	recordRollouts(r, c)
	c.Spec.TargetRef.Name = "podinfo-v2"
	c.Status = siskinv1.CanaryStatus{Phase: siskinv1.PhaseInitialized}
	r.RecordStatus(c)
	compare(t, reg, `
# HELP flagger_canary_status State of a Canary, by target name: 0 a rollout in flight, 1 at rest (last rollout promoted, or none yet), 2 rolled back.
# TYPE flagger_canary_status gauge
flagger_canary_status{name="podinfo-v2",namespace="apps"} 1
# HELP flagger_canary_weight Percent of traffic routed to the workload <target> (the canary) and <target>-primary.
# TYPE flagger_canary_weight gauge
flagger_canary_weight{namespace="apps",workload="podinfo-v2"} 0
flagger_canary_weight{namespace="apps",workload="podinfo-v2-primary"} 100
`, "flagger_canary_status", "flagger_canary_weight", "flagger_canary_metric_analysis", "flagger_canary_duration_seconds")
	if got := seriesOf(t, reg, "apps", "podinfo-v1"); len(got) != 0 {
		t.Errorf("series of the old target left: %v", got)
	}
	r.Forget("apps", "podinfo")
	if got := familyNames(t, reg, "flagger_canary"); len(got) != 0 {
		t.Errorf("flagger series left after Forget: %v", got)
	}
}
