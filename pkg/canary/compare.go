package canary

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/sequential"
)

// Defaults of analysis.comparison.
const (
	defaultAlpha       = 0.01
	defaultMargin      = 0.1
	defaultMinRequests = 100
	// minLook is the shortest look interval: Prometheus scrapes every few seconds, and a
	// shorter window holds nothing new.
	minLook = 5 * time.Second
	// intervalLevel is the level of the confidence sequences shown to people.
	intervalLevel = 0.05
)

// comparison is analysis.comparison with defaults applied; nil without one.
type comparison struct {
	baseline    bool
	alpha       float64 // per compared metric: the rollout's alpha shared equally
	margin      int     // grid index of 1+margin
	look        time.Duration
	minRequests int64
	earlyPass   bool
	warmup      time.Duration
	metrics     []siskinv1.ComparedMetric
}

func comparisonFor(a *siskinv1.CanaryAnalysis, interval time.Duration, s *strategy) *comparison {
	cmp := a.Comparison
	if cmp == nil || len(cmp.Metrics) == 0 {
		return nil
	}
	c := &comparison{
		baseline:    cmp.Control == siskinv1.ControlBaseline && s.kind == weightedCanary && s.canRoute,
		alpha:       defaultAlpha,
		minRequests: defaultMinRequests,
		earlyPass:   cmp.EarlyPass,
		metrics:     cmp.Metrics,
		look:        max(interval/6, minLook),
	}
	if cmp.Alpha != nil && *cmp.Alpha > 0 && *cmp.Alpha < 1 {
		c.alpha = *cmp.Alpha
	}
	c.alpha /= float64(len(cmp.Metrics))
	margin := defaultMargin
	if cmp.Margin != nil && *cmp.Margin >= 0 {
		margin = *cmp.Margin
	}
	c.margin = sequential.Index(1 + margin)
	if cmp.MinRequests != nil && *cmp.MinRequests > 0 {
		c.minRequests = *cmp.MinRequests
	}
	if d, err := time.ParseDuration(cmp.LookInterval); err == nil && d > 0 {
		c.look = max(d, minLook)
	}
	if d, err := time.ParseDuration(cmp.Warmup); err == nil && d > 0 {
		c.warmup = d
	}
	return c
}

// kindOf is a compared metric's kind, built-in names implying theirs.
func kindOf(m *siskinv1.ComparedMetric) string {
	switch {
	case m.Kind != "":
		return m.Kind
	case m.Name == siskinv1.MetricRequestDuration:
		return siskinv1.CompareDistribution
	}
	return siskinv1.CompareRate
}

// controlName is the workload the canary is compared with.
func (p *planner) controlName() string { return controlWorkload(p.c, &p.set) }

func baselineOf(target string) string { return target + "-baseline" }

// evidenceOf returns the comparison status of the revision under analysis, or nil when the
// status holds another revision's (or none).
func evidenceOf(st *siskinv1.CanaryStatus) *siskinv1.ComparisonStatus {
	if st.Comparison == nil || st.Comparison.Revision != st.LastAppliedSpec {
		return nil
	}
	return st.Comparison
}

// lookSince is where the next look's window starts: the last look, else the rollout's start.
func lookSince(st *siskinv1.CanaryStatus) time.Time {
	if e := evidenceOf(st); e != nil && e.LastLookTime != nil {
		return e.LastLookTime.Time
	}
	if st.RolloutStartTime != nil {
		return st.RolloutStartTime.Time
	}
	if st.LastStepTime != nil {
		return st.LastStepTime.Time
	}
	return time.Time{}
}

// lookDue reports whether a look of the comparison is due at now.
func lookDue(c *comparison, st *siskinv1.CanaryStatus, now time.Time) bool {
	since := lookSince(st)
	return c != nil && (since.IsZero() || !now.Before(since.Add(c.look)))
}

// nextLook is when the next look is due (zero without a comparison).
func (p *planner) nextLook() time.Time {
	if p.set.compare == nil {
		return time.Time{}
	}
	return lookSince(&p.st).Add(p.set.compare.look)
}

// look folds this round's comparison samples into the evidence, and reports whether the
// rollout ended or paused because of it (a regression).
func (p *planner) look() (decided bool) {
	c, st := p.set.compare, &p.st
	ev := evidenceOf(st)
	if ev == nil {
		ev = &siskinv1.ComparisonStatus{Revision: st.LastAppliedSpec, Control: p.controlName()}
	} else {
		ev = ev.DeepCopy()
	}
	ev.Control = p.controlName()
	since := lookSince(st)
	ev.LastLookTime = stampPtr(p.now)
	if ev.CanaryTrafficSince == nil && canaryServed(p.obs.Comparisons) {
		ev.CanaryTrafficSince = stampPtr(since)
	}
	if until, warming := c.warming(ev, p.now); warming {
		for i := range c.metrics {
			ms := metricStatus(ev, &c.metrics[i])
			ms.Verdict = siskinv1.ComparisonNoData
			ms.Message = fmt.Sprintf("%s: warming up: the canary's first %s of traffic are not compared", ms.Name, c.warmup)
			if !until.IsZero() {
				ms.Message += " (until " + until.UTC().Format(time.RFC3339) + ")"
			}
		}
		st.Comparison = ev
		return false
	}
	seen := false
	var regressions []string
	for i := range c.metrics {
		m := &c.metrics[i]
		ms := metricStatus(ev, m)
		sample := sampleOf(p.obs.Comparisons, m.Name)
		switch {
		case sample == nil:
			ms.Verdict, ms.Message = siskinv1.ComparisonError, "no sample was read in this look"
			continue
		case sample.Error != "":
			ms.Message = "the last look could not be read: " + sample.Error
			if ms.Verdict != siskinv1.ComparisonAcknowledged {
				ms.Verdict = siskinv1.ComparisonError
			}
			continue
		}
		if sample.Canary.Requests > 0 || sample.Control.Requests > 0 {
			seen = true
		}
		c.fold(ms, sample, p.controlRole())
		if ms.Verdict == siskinv1.ComparisonRegression {
			regressions = append(regressions, ms.Message)
		}
	}
	if seen {
		ev.Looks++
	}
	st.Comparison = ev
	if len(regressions) == 0 {
		return false
	}
	detail := strings.Join(regressions, "; ")
	if p.set.advise != nil {
		p.askAdvice(siskinv1.ReasonRegressionDetected, detail)
		return true
	}
	p.rollback(siskinv1.ReasonRegressionDetected, detail)
	return true
}

// canaryServed reports whether a look's samples show canary requests.
func canaryServed(samples []ComparisonSample) bool {
	for i := range samples {
		if samples[i].Error == "" && samples[i].Canary.Requests > 0 {
			return true
		}
	}
	return false
}

// warming reports whether the canary's counts are still left out (analysis.comparison.warmup),
// and until when (zero before the canary served a request).
func (c *comparison) warming(ev *siskinv1.ComparisonStatus, now time.Time) (time.Time, bool) {
	if c.warmup <= 0 {
		return time.Time{}, false
	}
	if ev.CanaryTrafficSince == nil {
		return time.Time{}, true
	}
	until := ev.CanaryTrafficSince.Add(c.warmup)
	return until, now.Before(until)
}

// controlRole names the control in messages: "the primary's" or "the baseline's".
func (p *planner) controlRole() string {
	if p.set.compare.baseline {
		return "the baseline's"
	}
	return "the primary's"
}

// metricStatus returns the status entry of m in ev, adding it when missing.
func metricStatus(ev *siskinv1.ComparisonStatus, m *siskinv1.ComparedMetric) *siskinv1.ComparedMetricStatus {
	for i := range ev.Metrics {
		if ev.Metrics[i].Name == m.Name {
			return &ev.Metrics[i]
		}
	}
	ev.Metrics = append(ev.Metrics, siskinv1.ComparedMetricStatus{Name: m.Name, Kind: kindOf(m), Verdict: siskinv1.ComparisonNoData})
	return &ev.Metrics[len(ev.Metrics)-1]
}

func sampleOf(samples []ComparisonSample, name string) *ComparisonSample {
	for i := range samples {
		if samples[i].Name == name {
			return &samples[i]
		}
	}
	return nil
}

// fold adds one look's sample to a compared metric's evidence and sets its verdict.
func (c *comparison) fold(ms *siskinv1.ComparedMetricStatus, s *ComparisonSample, control string) {
	var reg, pass float64
	var test sequential.Ratio
	var what string
	ms.CanaryRequests += round(s.Canary.Requests)
	ms.ControlRequests += round(s.Control.Requests)
	if ms.Kind == siskinv1.CompareDistribution {
		var tail sequential.Tail
		if tail.Unmarshal(ms.State) != nil {
			tail = sequential.Tail{}
		}
		tail.Observe(toBuckets(s.Canary.Buckets), toBuckets(s.Control.Buckets))
		ms.State = tail.Marshal()
		var worst int
		reg, pass, worst = tail.Evidence(c.margin)
		if worst < 0 {
			ms.Verdict, ms.Message = siskinv1.ComparisonNoData, fmt.Sprintf("%s: waiting for %d control requests to choose the latency thresholds", ms.Name, sequential.MinControl)
			return
		}
		b := tail.Bounds[worst]
		test = tail.Test(worst)
		ms.Threshold = formatFloat(b)
		ms.CanaryEvents, ms.ControlEvents = round(sequential.CountAbove(tail.Canary, b)), round(sequential.CountAbove(tail.Control, b))
		what = fmt.Sprintf("%s: requests slower than %s", ms.Name, ms.Threshold)
		what += fmt.Sprintf(" (p99 %s vs %s)", formatFloat(sequential.Quantile(tail.Canary, 0.99)), formatFloat(sequential.Quantile(tail.Control, 0.99)))
	} else {
		if test.Unmarshal(ms.State) != nil {
			test = sequential.Ratio{}
		}
		test.Observe(s.Canary.Events, s.Canary.Requests, s.Control.Events, s.Control.Requests)
		ms.State = test.Marshal()
		ms.CanaryEvents += round(s.Canary.Events)
		ms.ControlEvents += round(s.Control.Events)
		reg, pass = test.Regression(c.margin), test.NotWorse(c.margin)
		what = ms.Name + ": errors"
	}
	ms.Evidence, ms.PassEvidence = formatEvidence(reg), formatEvidence(pass)
	ratio := rateRatio(ms, &test)
	lo, hi := test.Interval(intervalLevel)
	ms.Ratio, ms.RatioLow, ms.RatioHigh = formatRatio(ratio), formatRatio(lo), formatRatio(hi)
	ms.Message = fmt.Sprintf("%s %s× %s (95%% CS %s–%s) after %s canary requests", what, ms.Ratio, control, ms.RatioLow, ms.RatioHigh, thousands(ms.CanaryRequests))
	if ms.Verdict == siskinv1.ComparisonAcknowledged {
		return
	}
	switch {
	case ms.CanaryRequests < c.minRequests:
		ms.Verdict = siskinv1.ComparisonNoData
		ms.Message += fmt.Sprintf("; no verdict before %s", thousands(c.minRequests))
	case reg >= 1/c.alpha:
		ms.Verdict = siskinv1.ComparisonRegression
		ms.Message += fmt.Sprintf("; evidence of a regression %s ≥ %s", ms.Evidence, formatEvidence(1/c.alpha))
	case pass >= 1/c.alpha:
		ms.Verdict = siskinv1.ComparisonNotWorse
		ms.Message += fmt.Sprintf("; not worse by more than the margin (evidence %s)", ms.PassEvidence)
	default:
		ms.Verdict = siskinv1.ComparisonPending
	}
}

// rateRatio is the ratio of the canary's event rate to the control's over the rollout; the
// most likely grid ratio when the control has no events.
func rateRatio(ms *siskinv1.ComparedMetricStatus, t *sequential.Ratio) float64 {
	if ms.CanaryRequests > 0 && ms.ControlRequests > 0 && ms.ControlEvents > 0 {
		return (float64(ms.CanaryEvents) / float64(ms.CanaryRequests)) / (float64(ms.ControlEvents) / float64(ms.ControlRequests))
	}
	return t.MostLikely()
}

func toBuckets(bs []Bucket) []sequential.Bucket {
	out := make([]sequential.Bucket, len(bs))
	for i, b := range bs {
		out[i] = sequential.Bucket{UpperBound: b.UpperBound, Count: b.Count}
	}
	return out
}

func round(v float64) int64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return 0
	}
	return int64(math.Round(v))
}

func formatRatio(r float64) string { return strconv.FormatFloat(r, 'f', 2, 64) }

func formatFloat(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// formatEvidence writes an e-value for people: small ones with two decimals, large ones as
// powers of ten.
func formatEvidence(e float64) string {
	switch {
	case math.IsInf(e, 1) || e > 1e9:
		return ">1e9"
	case e >= 1000:
		return strconv.FormatFloat(e, 'e', 1, 64)
	}
	return strconv.FormatFloat(e, 'f', 2, 64)
}

// thousands writes n with thousands separators: 4,210.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// earlyPass reports whether every compared metric shows the canary not worse than its control,
// so the remaining weight steps may be skipped.
func (p *planner) earlyPass() bool {
	c := p.set.compare
	ev := evidenceOf(&p.st)
	if c == nil || !c.earlyPass || ev == nil || len(ev.Metrics) < len(c.metrics) {
		return false
	}
	for i := range ev.Metrics {
		if ev.Metrics[i].Verdict != siskinv1.ComparisonNotWorse {
			return false
		}
	}
	return true
}

// missingEvidence names a compared metric that has not seen the minimum canary requests, or is
// "" when all have: a rollout is not promoted on evidence it never had.
func (p *planner) missingEvidence() string {
	c := p.set.compare
	if c == nil {
		return ""
	}
	ev := evidenceOf(&p.st)
	for i := range c.metrics {
		name := c.metrics[i].Name
		var n int64
		if ev != nil {
			for j := range ev.Metrics {
				if ev.Metrics[j].Name == name {
					n = ev.Metrics[j].CanaryRequests
				}
			}
		}
		if n < c.minRequests {
			return fmt.Sprintf("compared metric %s has seen %s of the %s canary requests it needs", name, thousands(n), thousands(c.minRequests))
		}
	}
	return ""
}

// acknowledge marks the regressions of the current evidence as let go by a person or by the
// advise timeout, so they do not ask again in this rollout.
func (p *planner) acknowledge() {
	ev := evidenceOf(&p.st)
	if ev == nil {
		return
	}
	for i := range ev.Metrics {
		if ev.Metrics[i].Verdict == siskinv1.ComparisonRegression {
			ev.Metrics[i].Verdict = siskinv1.ComparisonAcknowledged
		}
	}
}

// waitForEvidence holds a promotion until every compared metric has its minimum canary
// requests; the progress deadline rolls back a rollout that never gets them.
func (p *planner) waitForEvidence(missing string) {
	msg := fmt.Sprintf("revision %s would be promoted, but %s", p.rev(), missing)
	if p.waitFor(wait{reason: siskinv1.ReasonWaitingForEvidence, message: msg, limit: p.set.deadline, mode: waitAnnounced}) {
		p.rollback(siskinv1.ReasonProgressDeadlineExceeded, fmt.Sprintf("%s for longer than %s", missing, p.set.deadline))
	}
}

// comparisonSummary lists each compared metric's message, for events.
func (p *planner) comparisonSummary() string {
	ev := evidenceOf(&p.st)
	if ev == nil {
		return "no evidence"
	}
	parts := make([]string, 0, len(ev.Metrics))
	for i := range ev.Metrics {
		parts = append(parts, ev.Metrics[i].Message)
	}
	return strings.Join(parts, "; ")
}

// ensureBaseline asks for <target>-baseline while a baseline is compared and it is missing,
// scaled down or on another revision than the primary's.
func (p *planner) ensureBaseline() {
	b := p.obs.Baseline
	if p.set.strategy.baseline && (!b.Exists || b.Replicas == 0 || b.Fingerprint != p.st.LastPromotedSpec) {
		p.act(EnsureBaseline)
	}
}

// removeBaseline deletes <target>-baseline once no analysis needs it and the route sends it
// nothing.
func (p *planner) removeBaseline() {
	if p.obs.Baseline.Exists && !analysing(p.st.Phase) && p.obs.Route.Converged && p.obs.Route.BaselineWeight == 0 {
		p.act(RemoveBaseline)
	}
}
