package canary

import (
	"fmt"
	"strconv"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// analysing handles Progressing and WaitingPromotion. Steps are scheduled from
// status.lastStepTime: a step runs when it is due and the canary, the primary and the route are
// ready for it, and it sets lastStepTime to the time it ran. A late step runs once, and the next
// one is a full interval later: a restart neither repeats, skips nor compresses a step.
func (p *planner) analysing() {
	st := &p.st
	fp := p.obs.Target.Fingerprint
	switch {
	case fp != st.LastAppliedSpec && fp == st.LastPromotedSpec:
		p.cancel()
		return
	case fp != st.LastAppliedSpec:
		p.info(siskinv1.ReasonNewRevision, fmt.Sprintf("revision %s replaced revision %s during the analysis; restarting the analysis", short(fp), p.rev()))
		p.startRollout(fp)
		return
	case st.Paused:
		p.pausedRound()
		return
	}
	p.convergeRoute()
	if p.obs.Target.Exists && p.obs.Target.Replicas == 0 {
		// The analysis runs the canary: a scale-up lost after the status that started it was
		// written (a crash, a failed write) is asked for again.
		p.act(ScaleTargetUp)
	}
	p.ensureBaseline()
	if p.canaryEmpty() {
		return
	}
	if reason := blockedBy(&p.set, st, p.obs); reason != "" {
		if p.settling() {
			return
		}
		// Workloads and routes take a while after every change, so these waits show in the
		// conditions only; the deadline, if reached, is announced.
		msg := p.blockMessage(reason)
		if p.waitFor(wait{reason: reason, message: fmt.Sprintf("revision %s: %s", p.rev(), msg), limit: p.set.deadline}) {
			p.rollback(siskinv1.ReasonProgressDeadlineExceeded, fmt.Sprintf("%s for longer than %s", msg, p.set.deadline))
			return
		}
		p.wakeAt(p.nextStep())
		return
	}
	if p.set.skipAnalysis {
		// Skipping the analysis never skips the readiness of the canary: a release whose pods
		// do not become ready is rolled back at the progress deadline, not promoted.
		p.startPromotion(siskinv1.ReasonPromotionStarted, fmt.Sprintf("skipAnalysis: the canary is ready; promoting revision %s without analysis", p.rev()))
		return
	}
	if isReadinessWait(reconcilingReason(&p.c.Status)) {
		st.WaitingSince = nil
		p.readiness(condProgressing, p.analysisReason(), p.progressMessage())
	}
	if p.needs.Compare && p.look() {
		return
	}
	p.wakeAt(p.nextLook())
	if !p.needs.Step {
		p.wakeAt(p.nextStep())
		return
	}
	p.step()
}

// settling reports whether the analysis is in the settle moment after its last step (or its
// start) with no wait recorded yet: a readiness wait then stays out of the status, and the
// round wakes when the moment ends. A wait that outlasts it is recorded from then on; the
// informer events of the router and the workloads usually end it before.
func (p *planner) settling() bool {
	st := &p.st
	if st.WaitingSince != nil || st.LastStepTime == nil {
		return false
	}
	end := st.LastStepTime.Add(p.set.settle)
	if !p.now.Before(end) {
		return false
	}
	p.wakeAt(end)
	return true
}

// isReadinessWait reports whether reason is a wait that ends as soon as the workloads and the
// route are ready again.
func isReadinessWait(reason string) bool {
	switch reason {
	case siskinv1.ReasonRouteNotConfirmed, siskinv1.ReasonPrimaryNotReady, siskinv1.ReasonCanaryNotReady,
		siskinv1.ReasonNotOwned, siskinv1.ReasonRouterUnavailable, siskinv1.ReasonBaselineNotReady:
		return true
	}
	return false
}

// analysisReason is the condition reason of an analysis that is not waiting.
func (p *planner) analysisReason() string {
	if p.st.Phase == siskinv1.PhaseWaitingPromotion {
		return siskinv1.ReasonWaitingForPromotion
	}
	return siskinv1.ReasonProgressing
}

func (p *planner) blockMessage(reason string) string {
	switch reason {
	case siskinv1.ReasonRouteNotConfirmed:
		return fmt.Sprintf("the router has not confirmed canary weight %d%s", p.route().CanaryWeight, suffix(p.obs.Route.Message))
	case siskinv1.ReasonPrimaryNotReady:
		return fmt.Sprintf("%s is not ready%s", p.primary(), suffix(p.obs.Primary.Message))
	case siskinv1.ReasonNotOwned, siskinv1.ReasonRouterUnavailable:
		return fmt.Sprintf("the route cannot be changed: %s", p.obs.Route.Message)
	case siskinv1.ReasonBaselineNotReady:
		return fmt.Sprintf("the baseline %s is not ready with the primary's revision%s", baselineOf(p.target()), suffix(p.obs.Baseline.Message))
	}
	return fmt.Sprintf("the canary %s is not ready%s", p.target(), suffix(p.obs.Target.Message))
}

// step runs one analysis step with the checks the controller gathered: the rollback gate
// first, then pre-rollout (once per revision), rollout webhooks and metrics, then the
// strategy's move.
func (p *planner) step() {
	st := &p.st
	st.LastStepTime = p.stepStamp()
	st.LastChecks = append([]siskinv1.CheckResult(nil), p.obs.Checks...)
	p.wakeAt(p.nextStep())
	p.wakeAt(p.nextLook())
	if g := p.gate(siskinv1.RollbackHook); g.Open {
		p.rollback(siskinv1.ReasonRollbackRequested, "a rollback webhook asked for it"+suffix(g.Message))
		return
	}
	v := p.summarise()
	if v.failed > 0 {
		st.AnalysisErrors = 0
		p.failedStep(v)
		return
	}
	if v.errors > 0 {
		p.erroredStep(v)
		return
	}
	st.AnalysisErrors = 0
	if p.needs.PreRollout {
		st.PreRolloutSpec = st.LastAppliedSpec
	}
	if v.firstNoData >= 0 && !p.noTrafficGraceOver() && !p.beforeMatch() {
		p.noData(&p.obs.Checks[v.firstNoData])
		return
	}
	p.advance()
}

// verdicts summarises the checks of one step.
type verdicts struct {
	failed      int
	firstFailed int
	// errors counts checks that could not be made (verdict Error): not evidence either way.
	errors      int
	firstError  int
	firstNoData int
	// missing names a pre-rollout webhook without a result, which counts as a failed check.
	missing string
}

func (p *planner) summarise() verdicts {
	v := verdicts{firstFailed: -1, firstError: -1, firstNoData: -1}
	for i := range p.obs.Checks {
		switch p.obs.Checks[i].Verdict {
		case siskinv1.VerdictPass:
		case siskinv1.VerdictNoData:
			if v.firstNoData < 0 {
				v.firstNoData = i
			}
		case siskinv1.VerdictError:
			v.errors++
			if v.firstError < 0 {
				v.firstError = i
			}
		default: // Fail, and anything unknown
			v.failed++
			if v.firstFailed < 0 {
				v.firstFailed = i
			}
		}
	}
	if !p.needs.PreRollout {
		return v
	}
	for i := range p.set.webhooks {
		w := &p.set.webhooks[i]
		if hookType(w) == siskinv1.PreRolloutHook && !p.hasCheck(w.Name) {
			v.failed++
			v.missing = w.Name
			break
		}
	}
	return v
}

func (p *planner) hasCheck(name string) bool {
	for i := range p.obs.Checks {
		if p.obs.Checks[i].Name == name {
			return true
		}
	}
	return false
}

// failedStep counts a failed step (once, however many of its checks failed) and rolls back at
// the threshold.
func (p *planner) failedStep(v verdicts) {
	st := &p.st
	st.FailedChecks++
	cause := fmt.Sprintf("pre-rollout webhook %s gave no answer", v.missing)
	if v.firstFailed >= 0 {
		cause = describeCheck(&p.obs.Checks[v.firstFailed])
	}
	if v.failed > 1 {
		cause += fmt.Sprintf(" (and %d more failed checks)", v.failed-1)
	}
	detail := fmt.Sprintf("%s; failed checks %d/%d", cause, st.FailedChecks, p.set.threshold)
	if st.FailedChecks >= p.set.threshold {
		if p.set.advise != nil && p.set.advise.all {
			p.askAdvice(siskinv1.ReasonAnalysisCheckFailed, detail)
			return
		}
		p.rollback(siskinv1.ReasonAnalysisCheckFailed, detail)
		return
	}
	p.warn(siskinv1.ReasonAnalysisCheckFailed, fmt.Sprintf("revision %s: %s", p.rev(), detail))
	if st.Phase == siskinv1.PhaseProgressing {
		// A verdict ends any wait for data. In WaitingPromotion the gate's wait goes on.
		st.WaitingSince = nil
		p.readiness(condProgressing, siskinv1.ReasonProgressing, p.progressMessage())
	}
}

// describeCheck says why a check failed, naming the metric, its value and the bound it
// crossed, or the webhook and its answer.
func describeCheck(c *siskinv1.CheckResult) string {
	if c.Kind == "webhook" {
		return fmt.Sprintf("webhook %s failed%s", c.Name, suffix(c.Message))
	}
	if c.Verdict != siskinv1.VerdictFail {
		return fmt.Sprintf("metric %s could not be checked (%s)%s", c.Name, c.Verdict, suffix(c.Message))
	}
	return fmt.Sprintf("metric %s %s", c.Name, boundText(c))
}

// boundText names the bound a failed metric crossed.
func boundText(c *siskinv1.CheckResult) string {
	v, err := strconv.ParseFloat(c.Value, 64)
	if err == nil {
		if lo, err := strconv.ParseFloat(c.Min, 64); err == nil && v < lo {
			return fmt.Sprintf("value %s below min %s", c.Value, c.Min)
		}
		if hi, err := strconv.ParseFloat(c.Max, 64); err == nil && v > hi {
			return fmt.Sprintf("value %s above max %s", c.Value, c.Max)
		}
	}
	return fmt.Sprintf("value %q outside [%s, %s]%s", c.Value, c.Min, c.Max, suffix(c.Message))
}

// noTrafficGraceOver reports whether a step whose route sends the canary no traffic has waited
// an interval for data already. A load test aimed at the canary Service usually starts with the
// first step's webhooks, so its data comes by the next step and is judged; a canary that only
// real users reach through the route has none to give at weight 0, and after that one interval
// its step goes on without a metric verdict instead of waiting for the progress deadline.
func (p *planner) noTrafficGraceOver() bool {
	st := &p.c.Status
	if !p.needs.NoTraffic || reconcilingReason(st) != siskinv1.ReasonWaitingForData || st.WaitingSince == nil {
		return false
	}
	// The wait is stamped in whole seconds, rounded up: a step an interval later may read as a
	// moment short of it.
	return !p.now.Before(st.WaitingSince.Add(p.set.interval - time.Second))
}

// beforeMatch reports whether an A/B test is at its first step, before requests matching
// analysis.match reach the canary. Waiting for data cannot bring any there: the users (and
// the documented A/B load tests, which send the matching header or cookie through the apex)
// reach the canary only once this step has moved the match onto it. So the step is judged on
// its webhooks and on whatever data there is, and then routes the matching requests; the
// iterations that follow are judged on them.
func (p *planner) beforeMatch() bool {
	return p.set.strategy.kind == abTesting && p.st.CanaryWeight == 0
}

// noData makes the step wait: no move, no failed check. Only the progress deadline, counted
// from the first step without data, turns the wait into a rollback. In WaitingPromotion the
// analysis has already passed, so a step without data just does not promote.
func (p *planner) noData(c *siskinv1.CheckResult) {
	msg := fmt.Sprintf("metric %s has no data%s", c.Name, suffix(c.Message))
	if p.st.Phase == siskinv1.PhaseWaitingPromotion {
		return
	}
	if p.waitFor(wait{reason: siskinv1.ReasonWaitingForData, message: fmt.Sprintf("revision %s: %s", p.rev(), msg), limit: p.set.deadline, mode: waitAnnounced}) {
		p.rollback(siskinv1.ReasonProgressDeadlineExceeded, fmt.Sprintf("%s for longer than %s", msg, p.set.deadline))
	}
}

// advance makes the strategy's move after a passing step, behind its gate.
func (p *planner) advance() {
	st := &p.st
	s := &p.set.strategy
	mv := s.next(st)
	early := mv.kind != movePromote && p.earlyPass()
	if early {
		mv = move{kind: movePromote, weight: st.CanaryWeight, iterations: st.Iterations}
	}
	switch mv.kind {
	case movePromote:
		if missing := p.missingEvidence(); missing != "" {
			p.waitForEvidence(missing)
			return
		}
		if g := p.gate(siskinv1.ConfirmPromotionHook); !g.Open {
			st.Phase = siskinv1.PhaseWaitingPromotion
			p.awaitGate(siskinv1.ConfirmPromotionHook, g, wait{reason: siskinv1.ReasonWaitingForPromotion,
				message: fmt.Sprintf("revision %s passed the analysis and waits for approval to be promoted%s", p.rev(), suffix(g.Message))})
			return
		}
		if early {
			p.startPromotion(siskinv1.ReasonEarlyPass, fmt.Sprintf("revision %s is not worse than %s by more than the margin on every compared metric (%s); promoting it without the remaining steps (%s)",
				p.rev(), p.controlName(), p.comparisonSummary(), s.describe(st)))
			return
		}
		p.startPromotion(siskinv1.ReasonPromotionStarted, fmt.Sprintf("revision %s passed the analysis (%s); promoting it", p.rev(), s.describe(st)))
		return
	case moveWeight:
		if g := p.gate(siskinv1.ConfirmTrafficIncreaseHook); !g.Open {
			p.awaitGate(siskinv1.ConfirmTrafficIncreaseHook, g, wait{reason: siskinv1.ReasonWaitingForTrafficIncrease,
				message: fmt.Sprintf("revision %s waits for approval to receive %d%% of traffic%s", p.rev(), mv.weight, suffix(g.Message))})
			return
		}
	}
	st.CanaryWeight, st.Iterations, st.WaitingSince = mv.weight, mv.iterations, nil
	p.convergeRoute()
	reason, msg := s.announce(mv)
	if v := p.summarise(); p.needs.NoTraffic && v.firstNoData >= 0 {
		msg += " (metrics without data were not waited for longer: the route sent the canary no traffic yet)"
	}
	p.info(reason, fmt.Sprintf("revision %s: %s", p.rev(), msg))
	p.readiness(condProgressing, siskinv1.ReasonProgressing, p.progressMessage())
}

// awaitGate waits behind a closed gate, and rolls back once it stayed closed past the shortest
// gateTimeout of its webhooks. The timeout is checked when the gate is polled, at each step.
func (p *planner) awaitGate(hook siskinv1.WebhookType, g Gate, w wait) {
	w.limit, w.polled = p.set.gateTimeout(hook), true
	w.mode = waitAnnounced
	if p.set.muted(hook) {
		w.mode = waitMuted
	}
	if p.waitFor(w) {
		p.rollback(siskinv1.ReasonGateTimeout, fmt.Sprintf("the %s gate stayed closed for longer than %s%s", hook, w.limit, suffix(g.Message)))
	}
}
