package observability

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Label names.
const (
	LabelName      = "name"
	LabelNamespace = "namespace"
	LabelPhase     = "phase"
	LabelWorkload  = "workload"
	LabelMetric    = "metric"
	LabelResult    = "result"
	LabelProvider  = "provider"
)

// Values of the workload label of siskin_canary_weight.
const (
	WorkloadPrimary = "primary"
	WorkloadCanary  = "canary"
)

// Values of the result label of siskin_canary_rollout_duration_seconds.
const (
	ResultPromoted   = "promoted"
	ResultRolledBack = "rolledback"
)

// phaseUnknown labels a Canary that has no phase yet.
const phaseUnknown = "Unknown"

// Recorder records Siskin's metrics. It is safe for concurrent use.
type Recorder struct {
	status        *prometheus.GaugeVec
	weight        *prometheus.GaugeVec
	duration      *prometheus.HistogramVec
	promotions    *prometheus.CounterVec
	rollbacks     *prometheus.CounterVec
	analysisValue *prometheus.GaugeVec
	analysisMin   *prometheus.GaugeVec
	analysisMax   *prometheus.GaugeVec
	checks        *prometheus.CounterVec
	notifyFailed  *prometheus.CounterVec
	// stepLateness, admissionLimit and eventsDropped are the controller's, not a Canary's.
	stepLateness   prometheus.Histogram
	admissionLimit prometheus.Gauge
	eventsDropped  prometheus.Counter

	// mu guards seen: which phase and analysis metrics each Canary has series for, so that a
	// stale series is deleted without a moment in which the canary has none (a scrape in that
	// moment would mark the series stale). It lives exactly as long as the registry's series,
	// so nothing here needs to survive a restart.
	mu   sync.Mutex
	seen map[canaryKey]*canarySeries
	// perNamespace counts the Canaries in seen by namespace, for flagger_canary_total.
	perNamespace map[string]int

	// flagger holds Flagger's series; nil unless WithFlaggerNames.
	flagger *flaggerSeries
}

type canaryKey struct{ namespace, name string }

type canarySeries struct {
	phase   string
	metrics map[string]bool
	// target is the name label of the Canary's Flagger series (its target's name).
	target string
}

// latenessBuckets span 50ms to about 7 minutes.
var latenessBuckets = prometheus.ExponentialBuckets(0.05, 2, 14)

func asCollectors(vecs []deletableVec) []prometheus.Collector {
	out := make([]prometheus.Collector, len(vecs))
	for i, v := range vecs {
		out[i] = v
	}
	return out
}

// RecordStepLateness records how late an analysis step was served.
func (r *Recorder) RecordStepLateness(d time.Duration) {
	r.stepLateness.Observe(d.Seconds())
}

// RecordEventDropped counts a Kubernetes event that was not written (kubeevents.Options.OnDrop);
// why is in the controller's log.
func (r *Recorder) RecordEventDropped(string) {
	r.eventsDropped.Inc()
}

// RecordAdmissionLimit records the limit of rollouts in flight; 0 when there is none.
func (r *Recorder) RecordAdmissionLimit(n int) {
	r.admissionLimit.Set(float64(n))
}

// rolloutBuckets span 30s to about 4h15m: a rollout is many analysis steps of 10s or more each.
var rolloutBuckets = prometheus.ExponentialBuckets(30, 2, 10)

// NewRecorder creates Siskin's metrics and registers them on reg; a nil reg means
// controller-runtime's registry, which the manager serves. WithFlaggerNames adds Flagger's
// series on the same registry.
func NewRecorder(reg prometheus.Registerer, opts ...Option) (*Recorder, error) {
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	canary := []string{LabelName, LabelNamespace}
	with := func(extra ...string) []string { return append(append([]string{}, canary...), extra...) }
	r := &Recorder{
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "siskin_canary_status",
			Help: "Phase of a Canary: 1 on the series labelled with its current phase; one series per Canary.",
		}, with(LabelPhase)),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "siskin_canary_weight",
			Help: "Percent of a Canary's traffic routed to the primary and to the canary workload.",
		}, with(LabelWorkload)),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "siskin_canary_rollout_duration_seconds",
			Help:    "Duration of whole rollouts, from the start of the analysis to promotion or rollback.",
			Buckets: rolloutBuckets,
		}, with(LabelResult)),
		promotions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siskin_canary_promotions_total",
			Help: "Rollouts that ended with the new revision promoted.",
		}, canary),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siskin_canary_rollbacks_total",
			Help: "Rollouts that ended with the new revision rolled back.",
		}, canary),
		analysisValue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "siskin_canary_analysis_value",
			Help: "Last value of an analysis metric; absent while the metric has no value.",
		}, with(LabelMetric)),
		analysisMin: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "siskin_canary_analysis_min",
			Help: "Lower bound of an analysis metric's threshold range.",
		}, with(LabelMetric)),
		analysisMax: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "siskin_canary_analysis_max",
			Help: "Upper bound of an analysis metric's threshold range.",
		}, with(LabelMetric)),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siskin_canary_analysis_checks_total",
			Help: "Metric and webhook checks of analysis steps, by result (pass, fail, nodata, error).",
		}, with(LabelResult)),
		notifyFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siskin_notifications_failed_total",
			Help: "Notifications about a Canary that could not be delivered, by alert provider type.",
		}, with(LabelProvider)),
		stepLateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "siskin_step_lateness_seconds",
			Help:    "How long after it was due each analysis step of a rollout in flight was served.",
			Buckets: latenessBuckets,
		}),
		admissionLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "siskin_rollout_admission_limit",
			Help: "Rollouts in flight at once above which new rollouts wait: the adaptive limit (--step-lateness-target) or --max-concurrent-canaries, whichever is lower; 0 when there is none.",
		}),
		eventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "siskin_events_dropped_total",
			Help: "Kubernetes events not written: the queue of events to write was full, the API server refused one, or its retries were spent.",
		}),
		seen:         map[canaryKey]*canarySeries{},
		perNamespace: map[string]int{},
	}
	for _, o := range opts {
		o(r)
	}
	for _, c := range append([]prometheus.Collector{r.stepLateness, r.admissionLimit, r.eventsDropped}, asCollectors(r.collectors())...) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register siskin metrics: %w", err)
		}
	}
	if r.flagger != nil {
		for _, c := range r.flagger.collectors() {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register flagger metrics: %w", err)
			}
		}
	}
	return r, nil
}

type deletableVec interface {
	prometheus.Collector
	DeletePartialMatch(prometheus.Labels) int
}

func (r *Recorder) collectors() []deletableVec {
	return []deletableVec{
		r.status, r.weight, r.duration, r.promotions, r.rollbacks,
		r.analysisValue, r.analysisMin, r.analysisMax, r.checks, r.notifyFailed,
	}
}

// RecordStatus sets the phase, weight and analysis gauges of c from its status. It is cheap
// and idempotent, so the controller calls it after every status write.
func (r *Recorder) RecordStatus(c *siskinv1.Canary) {
	name, ns := c.Name, c.Namespace
	phase := string(c.Status.Phase)
	if phase == "" {
		phase = phaseUnknown
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.entry(ns, name)

	// Set the new phase before deleting the old one: a scrape in between sees two series for
	// an instant rather than none.
	r.status.WithLabelValues(name, ns, phase).Set(1)
	if s.phase != "" && s.phase != phase {
		r.status.DeleteLabelValues(name, ns, s.phase)
	}
	s.phase = phase

	canaryWeight := float64(min(max(c.Status.CanaryWeight, 0), 100))
	inFlight := rolloutPhases[c.Status.Phase]
	if inFlight || canaryWeight != 0 {
		r.weight.WithLabelValues(name, ns, WorkloadCanary).Set(canaryWeight)
		r.weight.WithLabelValues(name, ns, WorkloadPrimary).Set(100 - canaryWeight)
	} else {
		// At rest all traffic is the primary's: the series would say nothing the phase does
		// not, and a fleet of Canaries at rest would carry two each.
		r.weight.DeleteLabelValues(name, ns, WorkloadCanary)
		r.weight.DeleteLabelValues(name, ns, WorkloadPrimary)
	}
	// Counters exist before their first increment, so that increase() sees it: the rollout
	// counters from the start of the Canary's first rollout (its end is steps later), the
	// check counters from the first sight of an analysis that has checks. A Canary that never
	// rolled out, or whose analysis checks nothing, has none.
	if inFlight {
		r.promotions.WithLabelValues(name, ns)
		r.rollbacks.WithLabelValues(name, ns)
	}
	if hasChecks(c) {
		for _, v := range verdictResults {
			r.checks.WithLabelValues(name, ns, v)
		}
	}

	current := map[string]bool{}
	for _, check := range c.Status.LastChecks {
		if check.Kind != "metric" {
			continue
		}
		current[check.Name] = true
		setOrDelete(r.analysisValue, check.Value, name, ns, check.Name)
		setOrDelete(r.analysisMin, check.Min, name, ns, check.Name)
		setOrDelete(r.analysisMax, check.Max, name, ns, check.Name)
	}
	for metric := range s.metrics {
		if !current[metric] {
			r.deleteAnalysis(name, ns, metric)
		}
	}
	if r.flagger != nil {
		r.flagger.recordStatus(c, s, canaryWeight)
	}
	s.metrics = current
}

// entry returns the bookkeeping of the Canary ns/name, creating it and the Canary's counters on
// first sight. The caller holds mu.
func (r *Recorder) entry(ns, name string) *canarySeries {
	key := canaryKey{ns, name}
	if s := r.seen[key]; s != nil {
		return s
	}
	s := &canarySeries{metrics: map[string]bool{}}
	r.seen[key] = s
	r.perNamespace[ns]++
	if r.flagger != nil {
		r.flagger.setTotal(ns, r.perNamespace[ns])
	}
	return s
}

// rolloutPhases are the phases of a rollout in flight.
var rolloutPhases = map[siskinv1.CanaryPhase]bool{
	siskinv1.PhaseWaiting: true, siskinv1.PhaseProgressing: true, siskinv1.PhaseWaitingPromotion: true,
	siskinv1.PhasePromoting: true, siskinv1.PhaseFinalising: true,
}

// hasChecks reports whether the analysis of c has checks to count: metrics, webhooks or a
// comparison.
func hasChecks(c *siskinv1.Canary) bool {
	a := c.Spec.Analysis
	return a != nil && (len(a.Metrics) > 0 || len(a.Webhooks) > 0 || a.Comparison != nil)
}

// setOrDelete sets the gauge to the decimal value, or deletes it when there is no value: a
// stale number would read as a current one.
func setOrDelete(vec *prometheus.GaugeVec, value string, labels ...string) {
	f, err := strconv.ParseFloat(value, 64)
	if value == "" || err != nil {
		vec.DeleteLabelValues(labels...)
		return
	}
	vec.WithLabelValues(labels...).Set(f)
}

func (r *Recorder) deleteAnalysis(name, ns, metric string) {
	r.analysisValue.DeleteLabelValues(name, ns, metric)
	r.analysisMin.DeleteLabelValues(name, ns, metric)
	r.analysisMax.DeleteLabelValues(name, ns, metric)
}

// verdictResults are the values of the result label of siskin_canary_analysis_checks_total.
var verdictResults = []string{"pass", "fail", "nodata", "error"}

// RecordChecks counts the checks of one analysis step. The controller calls it once per step
// that ran, with that step's results (not from status, which outlives the step).
func (r *Recorder) RecordChecks(c *siskinv1.Canary, checks []siskinv1.CheckResult) {
	for _, check := range checks {
		result := strings.ToLower(string(check.Verdict))
		if !slices.Contains(verdictResults, result) {
			// Keep the label's values to the four documented ones.
			result = "error"
		}
		r.checks.WithLabelValues(c.Name, c.Namespace, result).Inc()
	}
}

// RecordRollout records the end of a rollout of c: promoted or rolled back after d, the time
// from status.rolloutStartTime to Succeeded or Failed. The controller calls it once, on the
// transition; see RolloutDuration. A negative d counts the rollout without observing a
// duration, for a rollout whose start time is unknown.
func (r *Recorder) RecordRollout(c *siskinv1.Canary, promoted bool, d time.Duration) {
	result, counter := ResultRolledBack, r.rollbacks
	if promoted {
		result, counter = ResultPromoted, r.promotions
	}
	counter.WithLabelValues(c.Name, c.Namespace).Inc()
	if d >= 0 {
		r.duration.WithLabelValues(c.Name, c.Namespace, result).Observe(d.Seconds())
	}
	if r.flagger != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		// Forget must know the target's name to delete the series counted here.
		r.entry(c.Namespace, c.Name).target = flaggerName(c)
		seconds := -1.0
		if d >= 0 {
			seconds = d.Seconds()
		}
		r.flagger.recordRollout(c, promoted, seconds)
	}
}

// RolloutDuration returns the time from c's status.rolloutStartTime to now, and false when the
// rollout has no start time.
func RolloutDuration(c *siskinv1.Canary, now time.Time) (time.Duration, bool) {
	if c.Status.RolloutStartTime == nil {
		return 0, false
	}
	return now.Sub(c.Status.RolloutStartTime.Time), true
}

// RecordNotificationFailure counts a notification about the Canary namespace/name that the
// alert provider of type provider (slack, msteams, ...) did not deliver.
func (r *Recorder) RecordNotificationFailure(namespace, name, provider string) {
	r.notifyFailed.WithLabelValues(name, namespace, provider).Inc()
}

// Forget deletes every series of the Canary namespace/name, so a deleted Canary leaves no
// metrics behind; the controller calls it once the Canary is gone (NotFound, or its finalizer
// removed). Other Canaries' series are untouched.
func (r *Recorder) Forget(namespace, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := canaryKey{namespace, name}
	if s, ok := r.seen[key]; ok {
		delete(r.seen, key)
		r.perNamespace[namespace]--
		if r.perNamespace[namespace] <= 0 {
			delete(r.perNamespace, namespace)
		}
		if r.flagger != nil {
			r.flagger.setTotal(namespace, r.perNamespace[namespace])
			if s.target != "" {
				r.flagger.forget(namespace, s.target)
			}
		}
	}
	labels := prometheus.Labels{LabelName: name, LabelNamespace: namespace}
	for _, vec := range r.collectors() {
		vec.DeletePartialMatch(labels)
	}
}
