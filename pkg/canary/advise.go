package canary

import (
	"fmt"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// defaultAdviceTimeout is analysis.advise.timeout's default.
const defaultAdviceTimeout = time.Hour

// advise is analysis.advise with defaults applied; nil without one.
type advise struct {
	all       bool
	timeout   time.Duration
	onTimeout string
}

func adviseFor(a *siskinv1.CanaryAnalysis) *advise {
	if a.Advise == nil {
		return nil
	}
	ad := &advise{all: a.Advise.On == siskinv1.AdviseOnAll, timeout: defaultAdviceTimeout, onTimeout: siskinv1.AdviseRollback}
	if d, err := time.ParseDuration(a.Advise.Timeout); err == nil && d > 0 {
		ad.timeout = d
	}
	if a.Advise.OnTimeout == siskinv1.AdviseContinue {
		ad.onTimeout = siskinv1.AdviseContinue
	}
	return ad
}

// askAdvice pauses the analysis where it is and asks a person whether to roll back: the
// evidence goes into status.advice, an event (and so to the alerts) and the conditions. The
// route stays as it is, so the canary keeps its share of traffic while a person looks.
func (p *planner) askAdvice(cause, detail string) {
	st := &p.st
	deadline := p.now.Add(p.set.advise.timeout)
	st.Paused, st.WaitingSince = true, nil
	st.Advice = &siskinv1.Advice{Since: stamp(p.now), Reason: cause, Message: detail, Deadline: stamp(deadline)}
	p.warn(siskinv1.ReasonAdviceRequested, fmt.Sprintf("revision %s: %s; paused for a person to decide: resume to go on, abort to roll back, promote to ship it (kubectl siskin resume|abort|promote); %s at %s if nobody answers",
		p.rev(), detail, p.set.advise.onTimeout, st.Advice.Deadline.UTC().Format(time.RFC3339)))
	p.adviceReadiness()
	p.wakeAt(deadline)
}

func (p *planner) adviceReadiness() {
	a := p.st.Advice
	p.readiness(condProgressing, siskinv1.ReasonAdviceRequested, fmt.Sprintf("revision %s: %s; waiting for a person until %s (then %s)",
		p.rev(), a.Message, a.Deadline.UTC().Format(time.RFC3339), p.adviceOnTimeout()))
}

func (p *planner) adviceOnTimeout() string {
	if p.set.advise == nil {
		return siskinv1.AdviseRollback
	}
	return p.set.advise.onTimeout
}

// adviceRound keeps a rollout that asked for advice paused until a person answers or the
// timeout applies onTimeout.
func (p *planner) adviceRound() {
	st := &p.st
	if p.now.Before(st.Advice.Deadline.Time) {
		p.adviceReadiness()
		p.wakeAt(st.Advice.Deadline.Time)
		return
	}
	a := st.Advice
	if p.adviceOnTimeout() == siskinv1.AdviseRollback {
		st.Advice = nil
		p.rollback(siskinv1.ReasonAdviceTimeout, fmt.Sprintf("nobody answered within %s: %s", p.adviseTimeout(), a.Message))
		return
	}
	p.info(siskinv1.ReasonAdviceTimeout, fmt.Sprintf("revision %s: nobody answered within %s; the analysis goes on (onTimeout: continue) and does not ask about %q again", p.rev(), p.adviseTimeout(), a.Message))
	p.letGo()
}

func (p *planner) adviseTimeout() time.Duration {
	if p.set.advise == nil {
		return defaultAdviceTimeout
	}
	return p.set.advise.timeout
}

// letGo ends an advice by going on: the regressions shown are acknowledged and the failed
// checks that asked start again from zero.
func (p *planner) letGo() {
	st := &p.st
	if st.Advice != nil && st.Advice.Reason == siskinv1.ReasonAnalysisCheckFailed {
		st.FailedChecks = 0
	}
	p.acknowledge()
	st.Advice, st.Paused, st.WaitingSince = nil, false, nil
	p.readiness(condProgressing, p.analysisReason(), p.progressMessage())
}
