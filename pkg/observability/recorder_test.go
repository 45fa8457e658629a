package observability

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func newTestRecorder(t *testing.T) (*Recorder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

func testCanary(ns, name string, phase siskinv1.CanaryPhase, weight int32, checks ...siskinv1.CheckResult) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Status:     siskinv1.CanaryStatus{Phase: phase, CanaryWeight: weight, LastChecks: checks},
	}
}

func metricCheck(name, value, minimum, maximum string, v siskinv1.CheckVerdict) siskinv1.CheckResult {
	return siskinv1.CheckResult{Name: name, Kind: "metric", Value: value, Min: minimum, Max: maximum, Verdict: v}
}

// gather returns the exposition text of the named metrics.
func gather(t *testing.T, reg *prometheus.Registry, names ...string) string {
	t.Helper()
	got, err := testutil.GatherAndFormat(reg, expfmt.TypeTextPlain, names...)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

func compare(t *testing.T, reg *prometheus.Registry, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func TestRecordStatusSetsPhaseWeightAndAnalysis(t *testing.T) {
	r, reg := newTestRecorder(t)
	r.RecordStatus(testCanary("apps", "podinfo", siskinv1.PhaseProgressing, 30,
		metricCheck("request-success-rate", "99.5", "99", "", siskinv1.VerdictPass),
		metricCheck("request-duration", "412", "", "500", siskinv1.VerdictPass),
		siskinv1.CheckResult{Name: "load", Kind: "webhook", Verdict: siskinv1.VerdictPass},
	))

	compare(t, reg, `
# HELP siskin_canary_status Phase of a Canary: 1 on the series labelled with its current phase; one series per Canary.
# TYPE siskin_canary_status gauge
siskin_canary_status{name="podinfo",namespace="apps",phase="Progressing"} 1
# HELP siskin_canary_weight Percent of a Canary's traffic routed to the primary and to the canary workload.
# TYPE siskin_canary_weight gauge
siskin_canary_weight{name="podinfo",namespace="apps",workload="canary"} 30
siskin_canary_weight{name="podinfo",namespace="apps",workload="primary"} 70
# HELP siskin_canary_analysis_value Last value of an analysis metric; absent while the metric has no value.
# TYPE siskin_canary_analysis_value gauge
siskin_canary_analysis_value{metric="request-duration",name="podinfo",namespace="apps"} 412
siskin_canary_analysis_value{metric="request-success-rate",name="podinfo",namespace="apps"} 99.5
# HELP siskin_canary_analysis_min Lower bound of an analysis metric's threshold range.
# TYPE siskin_canary_analysis_min gauge
siskin_canary_analysis_min{metric="request-success-rate",name="podinfo",namespace="apps"} 99
# HELP siskin_canary_analysis_max Upper bound of an analysis metric's threshold range.
# TYPE siskin_canary_analysis_max gauge
siskin_canary_analysis_max{metric="request-duration",name="podinfo",namespace="apps"} 500
`, "siskin_canary_status", "siskin_canary_weight", "siskin_canary_analysis_value",
		"siskin_canary_analysis_min", "siskin_canary_analysis_max")
}

func TestRecordStatusKeepsOneSeriesPerCanaryAcrossPhases(t *testing.T) {
	r, reg := newTestRecorder(t)
	for _, p := range []siskinv1.CanaryPhase{"", siskinv1.PhaseInitializing, siskinv1.PhaseInitialized,
		siskinv1.PhaseProgressing, siskinv1.PhaseProgressing, siskinv1.PhasePromoting, siskinv1.PhaseSucceeded} {
		r.RecordStatus(testCanary("apps", "podinfo", p, 0))
		r.RecordStatus(testCanary("apps", "other", siskinv1.PhaseFailed, 0))
	}
	compare(t, reg, `
# HELP siskin_canary_status Phase of a Canary: 1 on the series labelled with its current phase; one series per Canary.
# TYPE siskin_canary_status gauge
siskin_canary_status{name="other",namespace="apps",phase="Failed"} 1
siskin_canary_status{name="podinfo",namespace="apps",phase="Succeeded"} 1
`, "siskin_canary_status")
}

func TestRecordStatusDeletesAnalysisSeriesWithoutValue(t *testing.T) {
	r, reg := newTestRecorder(t)
	r.RecordStatus(testCanary("apps", "podinfo", siskinv1.PhaseProgressing, 10,
		metricCheck("errors", "0.5", "", "1", siskinv1.VerdictPass),
		metricCheck("latency", "100", "", "500", siskinv1.VerdictPass)))
	// Next step: errors had no data; latency was removed from the analysis.
	r.RecordStatus(testCanary("apps", "podinfo", siskinv1.PhaseProgressing, 20,
		metricCheck("errors", "", "", "1", siskinv1.VerdictNoData)))

	if n := testutil.CollectAndCount(r.analysisValue); n != 0 {
		t.Errorf("%d analysis value series left, want none:\n%s", n, gather(t, reg, "siskin_canary_analysis_value"))
	}
	compare(t, reg, `
# HELP siskin_canary_analysis_max Upper bound of an analysis metric's threshold range.
# TYPE siskin_canary_analysis_max gauge
siskin_canary_analysis_max{metric="errors",name="podinfo",namespace="apps"} 1
`, "siskin_canary_analysis_max")
	if n := testutil.CollectAndCount(r.analysisMin); n != 0 {
		t.Errorf("%d analysis min series, want none", n)
	}
}

func TestRecordRolloutCountsAndMeasuresWholeRollouts(t *testing.T) {
	r, reg := newTestRecorder(t)
	c := testCanary("apps", "podinfo", siskinv1.PhaseSucceeded, 0)
	r.RecordStatus(c)
	r.RecordRollout(c, true, 12*time.Minute)
	r.RecordRollout(c, true, 20*time.Minute)
	r.RecordRollout(c, false, 90*time.Second)

	if got := testutil.ToFloat64(r.promotions.WithLabelValues("podinfo", "apps")); got != 2 {
		t.Errorf("promotions = %v, want 2", got)
	}
	if got := testutil.ToFloat64(r.rollbacks.WithLabelValues("podinfo", "apps")); got != 1 {
		t.Errorf("rollbacks = %v, want 1", got)
	}
	out := gather(t, reg, "siskin_canary_rollout_duration_seconds")
	for _, want := range []string{
		`siskin_canary_rollout_duration_seconds_sum{name="podinfo",namespace="apps",result="promoted"} 1920`,
		`siskin_canary_rollout_duration_seconds_count{name="podinfo",namespace="apps",result="promoted"} 2`,
		`siskin_canary_rollout_duration_seconds_sum{name="podinfo",namespace="apps",result="rolledback"} 90`,
		`siskin_canary_rollout_duration_seconds_bucket{name="podinfo",namespace="apps",result="rolledback",le="120"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in:\n%s", want, out)
		}
	}
}

func TestRolloutDuration(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	c := testCanary("apps", "podinfo", siskinv1.PhaseSucceeded, 0)
	if _, ok := RolloutDuration(c, start); ok {
		t.Error("duration without a start time")
	}
	c.Status.RolloutStartTime = &metav1.Time{Time: start}
	if d, ok := RolloutDuration(c, start.Add(15*time.Minute)); !ok || d != 15*time.Minute {
		t.Errorf("RolloutDuration = %s, %v", d, ok)
	}
}

func TestRecordChecksCountsByResult(t *testing.T) {
	r, _ := newTestRecorder(t)
	c := testCanary("apps", "podinfo", siskinv1.PhaseProgressing, 10)
	r.RecordStatus(c)
	r.RecordChecks(c, []siskinv1.CheckResult{
		{Verdict: siskinv1.VerdictPass}, {Verdict: siskinv1.VerdictPass}, {Verdict: siskinv1.VerdictFail},
		{Verdict: siskinv1.VerdictNoData}, {Verdict: "Weird"},
	})
	for result, want := range map[string]float64{"pass": 2, "fail": 1, "nodata": 1, "error": 1} {
		if got := testutil.ToFloat64(r.checks.WithLabelValues("podinfo", "apps", result)); got != want {
			t.Errorf("checks{result=%s} = %v, want %v", result, got, want)
		}
	}
	if n := testutil.CollectAndCount(r.checks); n != 4 {
		t.Errorf("%d check series, want 4 (one per result)", n)
	}
}

func TestRolloutCountersStartAtZeroWhenTheFirstRolloutStarts(t *testing.T) {
	r, reg := newTestRecorder(t)
	r.RecordStatus(testCanary("apps", "podinfo", siskinv1.PhaseInitialized, 0))
	if got := seriesOf(t, reg, "apps", "podinfo"); got["siskin_canary_promotions_total"]+got["siskin_canary_rollbacks_total"] != 0 {
		t.Errorf("a Canary that never rolled out has rollout counters: %v", got)
	}
	r.RecordStatus(testCanary("apps", "podinfo", siskinv1.PhaseProgressing, 0))
	r.RecordStatus(testCanary("apps", "podinfo", siskinv1.PhaseSucceeded, 0))
	compare(t, reg, `
# HELP siskin_canary_promotions_total Rollouts that ended with the new revision promoted.
# TYPE siskin_canary_promotions_total counter
siskin_canary_promotions_total{name="podinfo",namespace="apps"} 0
# HELP siskin_canary_rollbacks_total Rollouts that ended with the new revision rolled back.
# TYPE siskin_canary_rollbacks_total counter
siskin_canary_rollbacks_total{name="podinfo",namespace="apps"} 0
`, "siskin_canary_promotions_total", "siskin_canary_rollbacks_total")
}

func TestCheckCountersStartAtZeroForAnAnalysisWithChecks(t *testing.T) {
	r, reg := newTestRecorder(t)
	withMetric := testCanary("apps", "checked", siskinv1.PhaseInitialized, 0)
	withMetric.Spec.Analysis = &siskinv1.CanaryAnalysis{Metrics: []siskinv1.CanaryMetric{{Name: "request-success-rate"}}}
	withoutChecks := testCanary("apps", "unchecked", siskinv1.PhaseProgressing, 10)
	withoutChecks.Spec.Analysis = &siskinv1.CanaryAnalysis{}
	r.RecordStatus(withMetric)
	r.RecordStatus(withoutChecks)
	compare(t, reg, `
# HELP siskin_canary_analysis_checks_total Metric and webhook checks of analysis steps, by result (pass, fail, nodata, error).
# TYPE siskin_canary_analysis_checks_total counter
siskin_canary_analysis_checks_total{name="checked",namespace="apps",result="error"} 0
siskin_canary_analysis_checks_total{name="checked",namespace="apps",result="fail"} 0
siskin_canary_analysis_checks_total{name="checked",namespace="apps",result="nodata"} 0
siskin_canary_analysis_checks_total{name="checked",namespace="apps",result="pass"} 0
`, "siskin_canary_analysis_checks_total")
}

func TestACanaryAtRestHasOnlyItsPhaseAndTheCountersOfWhatItDid(t *testing.T) {
	r, reg := newTestRecorder(t)
	want := func(step string, families map[string]int) {
		t.Helper()
		if got := seriesOf(t, reg, "apps", "podinfo"); fmt.Sprint(got) != fmt.Sprint(families) {
			t.Errorf("%s: series %v, want %v", step, got, families)
		}
	}
	r.RecordStatus(testCanary("apps", "podinfo", siskinv1.PhaseInitialized, 0))
	want("initialized", map[string]int{"siskin_canary_status": 1})

	r.RecordStatus(testCanary("apps", "podinfo", siskinv1.PhaseProgressing, 0))
	want("progressing at weight 0", map[string]int{"siskin_canary_status": 1, "siskin_canary_weight": 2,
		"siskin_canary_promotions_total": 1, "siskin_canary_rollbacks_total": 1})

	c := testCanary("apps", "podinfo", siskinv1.PhaseSucceeded, 0)
	r.RecordStatus(c)
	r.RecordRollout(c, true, time.Minute)
	want("succeeded", map[string]int{"siskin_canary_status": 1, "siskin_canary_rollout_duration_seconds": 1,
		"siskin_canary_promotions_total": 1, "siskin_canary_rollbacks_total": 1})

	// Traffic still on the canary out of a rollout (a suspended Canary) is not at rest.
	r.RecordStatus(testCanary("apps", "podinfo", siskinv1.PhaseFailed, 20))
	if got := testutil.ToFloat64(r.weight.WithLabelValues("podinfo", "apps", WorkloadCanary)); got != 20 {
		t.Errorf("canary weight %v out of a rollout, want 20", got)
	}
}

// seriesOf returns, per metric family, how many series belong to the Canary ns/name.
func seriesOf(t *testing.T, reg *prometheus.Registry, ns, name string) map[string]int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels[LabelName] == name && labels[LabelNamespace] == ns {
				out[f.GetName()]++
			}
		}
	}
	return out
}

// controllerFamilies are the controller's own series, one each whatever the fleet.
var controllerFamilies = []string{"siskin_events_dropped_total", "siskin_rollout_admission_limit", "siskin_step_lateness_seconds"}

var allFamilies = []string{
	"siskin_canary_status", "siskin_canary_weight", "siskin_canary_rollout_duration_seconds",
	"siskin_canary_promotions_total", "siskin_canary_rollbacks_total", "siskin_canary_analysis_value",
	"siskin_canary_analysis_min", "siskin_canary_analysis_max", "siskin_canary_analysis_checks_total",
	"siskin_notifications_failed_total",
}

func TestForgetDeletesEverySeriesOfThatCanaryOnly(t *testing.T) {
	r, reg := newTestRecorder(t)
	record := func(ns, name string) {
		c := testCanary(ns, name, siskinv1.PhaseProgressing, 40,
			metricCheck("request-success-rate", "99", "99", "100", siskinv1.VerdictPass))
		r.RecordStatus(c)
		r.RecordChecks(c, c.Status.LastChecks)
		r.RecordRollout(c, true, time.Minute)
		r.RecordRollout(c, false, time.Minute)
		r.RecordNotificationFailure(ns, name, "slack")
	}
	record("apps", "podinfo")
	record("apps", "other")      // same namespace, other name
	record("staging", "podinfo") // same name, other namespace
	before := seriesOf(t, reg, "apps", "podinfo")
	for _, f := range allFamilies {
		if before[f] == 0 {
			t.Fatalf("no %s series recorded for apps/podinfo", f)
		}
	}

	r.Forget("apps", "podinfo")

	if left := seriesOf(t, reg, "apps", "podinfo"); len(left) != 0 {
		t.Errorf("series of apps/podinfo left after Forget: %v", left)
	}
	for _, c := range []struct{ ns, name string }{{"apps", "other"}, {"staging", "podinfo"}} {
		if got := seriesOf(t, reg, c.ns, c.name); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("series of %s/%s after Forget = %v, want %v", c.ns, c.name, got, before)
		}
	}

	// A Canary recreated under the same name starts afresh.
	r.RecordStatus(testCanary("apps", "podinfo", siskinv1.PhaseInitializing, 0))
	compare(t, reg, `
# HELP siskin_canary_status Phase of a Canary: 1 on the series labelled with its current phase; one series per Canary.
# TYPE siskin_canary_status gauge
siskin_canary_status{name="other",namespace="apps",phase="Progressing"} 1
siskin_canary_status{name="podinfo",namespace="apps",phase="Initializing"} 1
siskin_canary_status{name="podinfo",namespace="staging",phase="Progressing"} 1
`, "siskin_canary_status")
}

func TestNewRecorderRegistersOnControllerRuntimeRegistry(t *testing.T) {
	r, err := NewRecorder(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range r.collectors() {
			ctrlmetrics.Registry.Unregister(c)
		}
	})
	r.RecordStatus(testCanary("apps", "podinfo", siskinv1.PhaseProgressing, 5))
	n, err := testutil.GatherAndCount(ctrlmetrics.Registry, "siskin_canary_weight")
	if err != nil || n != 2 {
		t.Errorf("siskin_canary_weight on controller-runtime's registry: %d series, err %v; want 2", n, err)
	}
	if _, err := NewRecorder(nil); !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
		t.Errorf("second registration: err = %v, want AlreadyRegisteredError", err)
	}
}
