package main

import (
	"math"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/sequential"
)

// mode is a way of judging a release.
type mode int

const (
	// modeThreshold is Flagger's: request-success-rate min 99 and request-duration max 500 ms
	// over 1m at every step, threshold failed checks roll back.
	modeThreshold mode = iota
	// modeFixed runs the threshold-free schedule and tests canary against control once, at
	// the promotion step, on all counts of the rollout.
	modeFixed
	// modeSequential is analysis.comparison: sequential tests at every look.
	modeSequential
	nModes
)

func (m mode) String() string {
	return [...]string{"threshold", "fixed", "sequential"}[m]
}

// Statistical settings shared by the fixed and sequential modes (the comparison's defaults).
const (
	alpha  = 0.01
	margin = 0.1
)

// schedule is a traffic schedule with the settings of each mode.
type schedule struct {
	name        string
	title       string
	interval    time.Duration
	stepWeight  int32
	stepWeights []int32
	maxWeight   int32
	// threshold is analysis.threshold in threshold mode.
	threshold int32
	earlyPass bool
	// control is the comparison's control of this schedule; "" takes the -control flag.
	control string
	// warmup is the comparison's warmup: the canary's first traffic left out.
	warmup time.Duration
}

// schedules are (a) the Flagger tutorial's and (b) Siskin's own defaults for a comparison.
var schedules = []schedule{
	{
		name: "a", title: "Flagger tutorial: interval 1m, stepWeight 10, maxWeight 50, threshold 5; comparison against the primary with the same steps, warmup 1m, lookInterval 10s, no early pass",
		interval: time.Minute, stepWeight: 10, maxWeight: 50, threshold: 5, warmup: time.Minute,
	},
	{
		name: "b", title: "Siskin defaults: interval 1m, stepWeights 5,10,25,50, comparison against a baseline (control: baseline), lookInterval 10s (interval/6), earlyPass; threshold mode keeps threshold 5",
		interval: time.Minute, stepWeights: []int32{5, 10, 25, 50}, maxWeight: 50, threshold: 5, earlyPass: true, control: siskinv1.ControlBaseline,
	},
}

// canaryFor is the Canary of schedule s judged by mode m, with the comparison's control.
func canaryFor(m mode, s schedule, control string) *siskinv1.Canary {
	maxWeight := s.maxWeight
	a := &siskinv1.CanaryAnalysis{
		Interval:    s.interval.String(),
		Threshold:   s.threshold,
		StepWeight:  s.stepWeight,
		StepWeights: s.stepWeights,
		MaxWeight:   &maxWeight,
	}
	switch m {
	case modeThreshold:
		lo, hi := 99.0, float64(slowMS)
		a.Metrics = []siskinv1.CanaryMetric{
			{Name: siskinv1.MetricRequestSuccessRate, Interval: "1m", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: &lo}},
			{Name: siskinv1.MetricRequestDuration, Interval: "1m", ThresholdRange: &siskinv1.CanaryThresholdRange{Max: &hi}},
		}
	case modeFixed:
		// The one test, at the promotion step, decides.
		a.Threshold = 1
	case modeSequential:
		al, mg := alpha, margin
		a.Comparison = &siskinv1.CanaryComparison{
			Control: control, Alpha: &al, Margin: &mg, EarlyPass: s.earlyPass,
			Metrics: []siskinv1.ComparedMetric{{Name: siskinv1.MetricRequestSuccessRate}, {Name: siskinv1.MetricRequestDuration}},
		}
		if s.warmup > 0 && control == siskinv1.ControlPrimary {
			a.Comparison.Warmup = s.warmup.String()
		}
	}
	deadline := int32(600)
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "bench", Generation: 1},
		Spec: siskinv1.CanarySpec{
			Provider:                siskinv1.ProviderIstio,
			TargetRef:               siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "app"},
			Service:                 siskinv1.CanaryService{Port: 80},
			ProgressDeadlineSeconds: &deadline,
			Analysis:                a,
		},
	}
}

// judgeFor is the judge of mode m.
func judgeFor(m mode, s schedule, control version) judge {
	switch m {
	case modeThreshold:
		return thresholdJudge{}
	case modeFixed:
		return fixedJudge{maxWeight: s.maxWeight, control: control}
	}
	return noChecks{}
}

// thresholdJudge gives the planner what the analyzer gives it for the two built-in metrics:
// their values over the last minute, the window clamped to the rollout's start; without data
// NoData when the route sends the canary nothing or the window was clamped, else a failed
// check (the Flagger model without minSample).
type thresholdJudge struct{}

func (thresholdJudge) checks(w *world, needs canary.Needs) []siskinv1.CheckResult {
	now := w.now
	from := now - 60
	clamped := from < w.out.start
	if clamped {
		from = w.out.start
	}
	t := w.tr.window(vCanary, from, now)
	sr := siskinv1.CheckResult{Name: siskinv1.MetricRequestSuccessRate, Kind: "metric", Min: "99", Time: metav1.NewTime(at(now))}
	dur := siskinv1.CheckResult{Name: siskinv1.MetricRequestDuration, Kind: "metric", Max: strconv.Itoa(slowMS), Time: metav1.NewTime(at(now))}
	if t.req == 0 {
		v := siskinv1.VerdictFail
		if needs.NoTraffic || clamped {
			v = siskinv1.VerdictNoData
		}
		sr.Verdict, dur.Verdict = v, v
		return []siskinv1.CheckResult{sr, dur}
	}
	rate := 100 * (1 - t.err/t.req)
	sr.Value, sr.Verdict = formatValue(rate), verdict(rate >= 99)
	p99 := sequential.Quantile(toBuckets(t.cumulative(false)), 0.99)
	dur.Value, dur.Verdict = formatValue(p99), verdict(p99 <= slowMS)
	return []siskinv1.CheckResult{sr, dur}
}

// fixedJudge gives the planner no check before the promotion step, and at it one check: the
// fixed-horizon tests of both metrics on all counts since the rollout started.
type fixedJudge struct {
	maxWeight int32
	control   version
}

func (j fixedJudge) checks(w *world, _ canary.Needs) []siskinv1.CheckResult {
	if w.c.Status.CanaryWeight < j.maxWeight {
		return nil
	}
	cn, ct := w.tr.window(vCanary, w.out.start, w.now), w.tr.window(j.control, w.out.start, w.now)
	res := fixedTest(&cn, &ct, alpha, margin)
	c := siskinv1.CheckResult{Name: "fixed-horizon", Kind: "metric", Verdict: verdict(!res.reject), Message: res.String(), Time: metav1.NewTime(at(w.now))}
	return []siskinv1.CheckResult{c}
}

// noChecks is the sequential mode: the comparison is read at the planner's looks, and steps
// have nothing to check.
type noChecks struct{}

func (noChecks) checks(*world, canary.Needs) []siskinv1.CheckResult { return nil }

func verdict(pass bool) siskinv1.CheckVerdict {
	if pass {
		return siskinv1.VerdictPass
	}
	return siskinv1.VerdictFail
}

func formatValue(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

func toBuckets(bs []canary.Bucket) []sequential.Bucket {
	out := make([]sequential.Bucket, len(bs))
	for i, b := range bs {
		out[i] = sequential.Bucket{UpperBound: b.UpperBound, Count: b.Count}
	}
	return out
}
