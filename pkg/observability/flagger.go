package observability

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// Label names of Flagger's series that Siskin's own do not use.
const (
	LabelVersion            = "version"
	LabelMeshProvider       = "mesh_provider"
	LabelDeploymentStrategy = "deployment_strategy"
	LabelAnalysisStatus     = "analysis_status"
)

// Values of the deployment_strategy label of flagger_canary_successes_total and
// flagger_canary_failures_total, as Flagger spells them.
const (
	StrategyCanary    = "canary"
	StrategyBlueGreen = "blue-green"
	StrategyABTesting = "ab-testing"
)

// Values of the analysis_status label of flagger_canary_successes_total and
// flagger_canary_failures_total.
const (
	AnalysisCompleted = "completed"
	AnalysisSkipped   = "skipped"
)

// Values of flagger_canary_status.
const (
	flaggerRunning    = 0
	flaggerSuccessful = 1
	flaggerFailed     = 2
)

// Option configures a Recorder.
type Option func(*Recorder)

// WithFlaggerNames makes the Recorder export, besides Siskin's own series, the series that
// Flagger exports (flagger_info, flagger_canary_*), with Flagger's names, labels and values, so
// that dashboards and alerts written for Flagger keep working. version and meshProvider label
// flagger_info; meshProvider is also the router of Canaries that name none, which decides the
// deployment_strategy label of the kubernetes provider.
func WithFlaggerNames(version, meshProvider string) Option {
	return func(r *Recorder) { r.flagger = newFlaggerSeries(version, meshProvider) }
}

// flaggerSeries are Flagger's series. They are fed by the same Recorder calls as Siskin's own
// and share their bookkeeping (Recorder.seen), so a deleted Canary leaves none behind.
type flaggerSeries struct {
	meshProvider string

	info      *prometheus.GaugeVec
	total     *prometheus.GaugeVec
	status    *prometheus.GaugeVec
	weight    *prometheus.GaugeVec
	duration  *prometheus.HistogramVec
	analysis  *prometheus.GaugeVec
	successes *prometheus.CounterVec
	failures  *prometheus.CounterVec
}

func newFlaggerSeries(version, meshProvider string) *flaggerSeries {
	byTarget := []string{LabelName, LabelNamespace}
	outcome := []string{LabelName, LabelNamespace, LabelDeploymentStrategy, LabelAnalysisStatus}
	f := &flaggerSeries{
		meshProvider: meshProvider,
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagger_info",
			Help: "Version and default router of the controller (Siskin, exporting Flagger's series); always 1.",
		}, []string{LabelVersion, LabelMeshProvider}),
		total: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagger_canary_total",
			Help: "Canaries per namespace; absent for a namespace without Canaries.",
		}, []string{LabelNamespace}),
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagger_canary_status",
			Help: "State of a Canary, by target name: 0 a rollout in flight, 1 at rest (last rollout promoted, or none yet), 2 rolled back.",
		}, byTarget),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagger_canary_weight",
			Help: "Percent of traffic routed to the workload <target> (the canary) and <target>-primary.",
		}, []string{LabelWorkload, LabelNamespace}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flagger_canary_duration_seconds",
			Help: "Duration of whole rollouts, by target name, from the start of the analysis to promotion or rollback.",
			// The buckets of siskin_canary_rollout_duration_seconds: this histogram measures the
			// same thing, not Flagger's one analysis tick.
			Buckets: rolloutBuckets,
		}, byTarget),
		analysis: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flagger_canary_metric_analysis",
			Help: "Last value of an analysis metric, by target name; absent while the metric has no value.",
		}, []string{LabelName, LabelNamespace, LabelMetric}),
		successes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagger_canary_successes_total",
			Help: "Rollouts that ended with the new revision promoted, by target name.",
		}, outcome),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flagger_canary_failures_total",
			Help: "Rollouts that ended with the new revision rolled back, by target name.",
		}, outcome),
	}
	f.info.WithLabelValues(version, meshProvider).Set(1)
	return f
}

func (f *flaggerSeries) collectors() []prometheus.Collector {
	return []prometheus.Collector{f.info, f.total, f.status, f.weight, f.duration, f.analysis, f.successes, f.failures}
}

// FlaggerStatus is the value of flagger_canary_status for a phase, and false for a phase it
// does not know (whose series is then left out rather than guessed). 0 (running) is every phase
// of a rollout in flight: Progressing, WaitingPromotion, Promoting and Finalising. Flagger
// itself reports 0 for Progressing only, and 1 while a promotion is still under way. 2 (failed)
// is Failed. 1 (successful) is a Canary at rest: no phase yet, Initializing, Initialized,
// Waiting (a new revision held at its closed confirm-rollout gate, its analysis not started),
// Succeeded, and the deletion phases Terminating and Terminated.
func FlaggerStatus(phase siskinv1.CanaryPhase) (float64, bool) {
	switch phase {
	case siskinv1.PhaseProgressing, siskinv1.PhaseWaitingPromotion, siskinv1.PhasePromoting, siskinv1.PhaseFinalising:
		return flaggerRunning, true
	case siskinv1.PhaseFailed:
		return flaggerFailed, true
	case "", siskinv1.PhaseInitializing, siskinv1.PhaseInitialized, siskinv1.PhaseWaiting, siskinv1.PhaseSucceeded,
		siskinv1.PhaseTerminating, siskinv1.PhaseTerminated:
		return flaggerSuccessful, true
	}
	return 0, false
}

// flaggerName is the name label of Flagger's series: the target's name, as in Flagger, or the
// Canary's while the spec names no target.
func flaggerName(c *siskinv1.Canary) string {
	if c.Spec.TargetRef.Name != "" {
		return c.Spec.TargetRef.Name
	}
	return c.Name
}

// strategy is the deployment_strategy label of c. It follows the rule of the planner
// (pkg/canary strategyFor): the kubernetes provider can only switch (blue/green); otherwise
// iterations with match are A/B testing, iterations alone blue/green, anything else a weighted
// canary.
func (f *flaggerSeries) strategy(c *siskinv1.Canary) string {
	provider := c.Spec.Provider
	if provider == "" {
		provider = f.meshProvider
	}
	a := c.Spec.Analysis
	switch {
	case !providers.Weighs(provider):
		return StrategyBlueGreen
	case a == nil:
		return StrategyCanary
	case a.Iterations > 0 && len(a.Match) > 0:
		return StrategyABTesting
	case a.Iterations > 0:
		return StrategyBlueGreen
	}
	return StrategyCanary
}

// analysisStatus is the analysis_status label of c: skipped for a Canary that promotes without
// analysis (spec.skipAnalysis, or no analysis at all).
func analysisStatus(c *siskinv1.Canary) string {
	if c.Spec.SkipAnalysis || c.Spec.Analysis == nil {
		return AnalysisSkipped
	}
	return AnalysisCompleted
}

// recordStatus sets the status, weight and metric gauges of c, whose bookkeeping is s, and
// moves its series when its target was renamed. The caller holds Recorder.mu.
func (f *flaggerSeries) recordStatus(c *siskinv1.Canary, s *canarySeries, canaryWeight float64) {
	ns, name := c.Namespace, flaggerName(c)
	if s.target != "" && s.target != name {
		f.forget(ns, s.target)
	}
	s.target = name

	if v, ok := FlaggerStatus(c.Status.Phase); ok {
		f.status.WithLabelValues(name, ns).Set(v)
	} else {
		f.status.DeleteLabelValues(name, ns)
	}
	f.weight.WithLabelValues(name, ns).Set(canaryWeight)
	f.weight.WithLabelValues(name+"-primary", ns).Set(100 - canaryWeight)

	current := map[string]bool{}
	for _, check := range c.Status.LastChecks {
		if check.Kind != "metric" {
			continue
		}
		current[check.Name] = true
		if v, err := strconv.ParseFloat(check.Value, 64); check.Value != "" && err == nil {
			f.analysis.WithLabelValues(name, ns, check.Name).Set(v)
		} else {
			f.analysis.DeleteLabelValues(name, ns, check.Name)
		}
	}
	for metric := range s.metrics {
		if !current[metric] {
			f.analysis.DeleteLabelValues(name, ns, metric)
		}
	}

	// The counters of the Canary's current strategy exist from the start, so that increase()
	// sees their first increment.
	strategy, status := f.strategy(c), analysisStatus(c)
	f.successes.WithLabelValues(name, ns, strategy, status)
	f.failures.WithLabelValues(name, ns, strategy, status)
}

// recordRollout counts the end of a rollout of c and observes its duration, in seconds, unless
// negative.
func (f *flaggerSeries) recordRollout(c *siskinv1.Canary, promoted bool, seconds float64) {
	ns, name := c.Namespace, flaggerName(c)
	counter := f.failures
	if promoted {
		counter = f.successes
	}
	counter.WithLabelValues(name, ns, f.strategy(c), analysisStatus(c)).Inc()
	if seconds >= 0 {
		f.duration.WithLabelValues(name, ns).Observe(seconds)
	}
}

// setTotal sets flagger_canary_total of a namespace, deleting it at zero: a namespace whose
// last Canary is gone has no series, rather than one stuck at its last count.
func (f *flaggerSeries) setTotal(namespace string, n int) {
	if n <= 0 {
		f.total.DeleteLabelValues(namespace)
		return
	}
	f.total.WithLabelValues(namespace).Set(float64(n))
}

// forget deletes the series of the target name in namespace ns.
func (f *flaggerSeries) forget(ns, name string) {
	f.status.DeleteLabelValues(name, ns)
	f.weight.DeleteLabelValues(name, ns)
	f.weight.DeleteLabelValues(name+"-primary", ns)
	f.duration.DeleteLabelValues(name, ns)
	byTarget := prometheus.Labels{LabelName: name, LabelNamespace: ns}
	f.analysis.DeletePartialMatch(byTarget)
	f.successes.DeletePartialMatch(byTarget)
	f.failures.DeletePartialMatch(byTarget)
}
