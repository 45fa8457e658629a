package canary

import (
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// Plan decides what to do next with a Canary, given what was observed this round: the actions
// to execute in order, the next status and when to look again. It is a pure function of its
// arguments (the clock is obs.Now): no I/O, no logging, and the same input always gives the
// same Decision, so a restart re-plans from status alone. Plan does not modify c.
//
// Obs must hold the gates and checks that NeedsFor(c, obs) asked for. Suspension is handled by
// the controller before Plan.
func Plan(c *siskinv1.Canary, obs Observation) Decision {
	p := newPlanner(c, &obs)
	p.run()
	return p.decision()
}

// planner holds one round of planning: the input, the next status being built and what was
// decided so far.
type planner struct {
	c     *siskinv1.Canary
	obs   *Observation
	set   settings
	needs Needs
	now   time.Time

	st      siskinv1.CanaryStatus
	actions []Action
	events  []Event
	cond    readiness
	wake    time.Time
}

func newPlanner(c *siskinv1.Canary, obs *Observation) *planner {
	p := &planner{c: c, obs: obs, now: obs.Now, set: settingsFor(c, obs)}
	p.needs = needsFor(c, obs, &p.set)
	c.Status.DeepCopyInto(&p.st)
	return p
}

func (p *planner) run() {
	st := &p.st
	// Whatever the round decides, a baseline no analysis needs goes once the route sends it
	// nothing.
	defer p.removeBaseline()
	if st.Phase == "" {
		st.Phase = siskinv1.PhaseInitializing
		p.info(siskinv1.ReasonInitializing, fmt.Sprintf("initializing canary for %s", p.target()))
	}
	if !p.obs.Target.Exists && st.Phase != siskinv1.PhasePromoting && st.Phase != siskinv1.PhaseFinalising {
		// A primary that does not run the promoted revision is said first: a rollback must
		// not be reported as one to the promoted revision.
		if !p.primaryDrifted() {
			p.targetMissing()
		}
		return
	}
	if p.manual() {
		// The request's new phase meets the same world: a retry or an abort must not report
		// a rollback to a primary that does not run the promoted revision.
		p.primaryDrifted()
		return
	}
	if p.primaryDrifted() {
		return
	}
	if st.Phase != siskinv1.PhaseInitializing && p.c.Generation != p.c.Status.ObservedGeneration {
		// The service or route spec may have changed; routers converge idempotently.
		p.ensureRouting()
	}
	switch st.Phase {
	case siskinv1.PhaseInitializing:
		p.initializing()
	case siskinv1.PhaseInitialized, siskinv1.PhaseSucceeded, siskinv1.PhaseFailed:
		p.atRest()
	case siskinv1.PhaseWaiting:
		p.waiting()
	case siskinv1.PhaseProgressing, siskinv1.PhaseWaitingPromotion:
		p.analysing()
	case siskinv1.PhasePromoting:
		p.promoting()
	case siskinv1.PhaseFinalising:
		p.finalise()
	}
}

// decision completes the status (observedGeneration, conditions, lastTransitionTime) and
// packs the Decision.
func (p *planner) decision() Decision {
	st, prev := &p.st, &p.c.Status
	gen := p.c.Generation
	st.ObservedGeneration = gen
	if p.cond.kind != 0 {
		applyReadiness(st, gen, stamp(p.now), p.cond)
	}
	p.noteAdjustments()
	restamp(st, gen)
	p.sessionCookies()
	if st.Phase != prev.Phase || st.CanaryWeight != prev.CanaryWeight {
		st.LastTransitionTime = stampPtr(p.now)
	}
	d := Decision{Actions: routeActions(p.actions), Status: p.st, Events: p.events}
	if !p.wake.IsZero() && (!st.Paused || st.Advice != nil) && (!atRest(st) || p.obs.RolloutQueued || p.obs.Route.Problem != "") {
		d.RequeueAfter = p.wake.Sub(p.now)
	}
	return d
}

// atRest reports whether nothing is left to do until the target changes or a person acts.
func atRest(st *siskinv1.CanaryStatus) bool {
	switch st.Phase {
	case siskinv1.PhaseInitialized, siskinv1.PhaseSucceeded:
		return true
	case siskinv1.PhaseFailed:
		return !rollbackPending(st)
	}
	return false
}

// act appends an action, once per type except SetRoute, whose last desired route wins.
func (p *planner) act(t ActionType) {
	for _, a := range p.actions {
		if a.Type == t {
			return
		}
	}
	p.actions = append(p.actions, Action{Type: t})
}

// ensureRouting asks for the routing of the Canary's provider to be created or converged,
// keeping its weights: the generated Services where the provider has them, then the router's
// own objects where it has some. Provider kubernetes routes by the Services alone; provider
// replicas has neither. The Services are made from the target's selector and ports: without a
// target they stay as they are, so a round that sends the traffic back to the primary does not
// fail on them before it sets the route.
func (p *planner) ensureRouting() {
	if providers.Generates(p.set.provider) && p.obs.Target.Exists {
		p.act(EnsureServices)
	}
	if providers.HasObjects(p.set.provider) {
		p.act(EnsureRoute)
	}
}

// routeActions drops EnsureRoute from a round that sets the route (see EnsureRoute).
func routeActions(actions []Action) []Action {
	if !slices.ContainsFunc(actions, func(a Action) bool { return a.Type == SetRoute }) {
		return actions
	}
	return slices.DeleteFunc(actions, func(a Action) bool { return a.Type == EnsureRoute })
}

func (p *planner) setRoute(r DesiredRoute) {
	for i := range p.actions {
		if p.actions[i].Type == SetRoute {
			p.actions[i].Route = r
			return
		}
	}
	p.actions = append(p.actions, Action{Type: SetRoute, Route: r})
}

// promote asks for revision fp to be copied to the primary (once per round).
func (p *planner) promote(fp string) {
	for i := range p.actions {
		if p.actions[i].Type == Promote {
			p.actions[i].Revision = fp
			return
		}
	}
	p.actions = append(p.actions, Action{Type: Promote, Revision: fp})
}

// callHooks calls the webhooks of type t, if the spec has any.
func (p *planner) callHooks(t siskinv1.WebhookType) {
	if p.set.hasHooks(t) {
		p.actions = append(p.actions, Action{Type: CallWebhooks, Hook: t})
	}
}

// route is the routing the next status asks for.
func (p *planner) route() DesiredRoute {
	return p.set.strategy.route(&p.st)
}

// convergeRoute asks the router for the route of the next status unless it already confirms it.
func (p *planner) convergeRoute() {
	want := p.route()
	if routeConfirmed(p.obs.Route, want) || p.obs.Route.Problem != "" {
		// A route the router cannot change (not Siskin's, or its API is missing) is left
		// alone: the waits that need it confirmed run into their deadlines instead.
		return
	}
	if !p.obs.Route.Converged {
		p.ensureRouting()
	}
	p.setRoute(want)
}

// routeConfirmed reports whether the router observes exactly the route wanted.
func routeConfirmed(r Route, want DesiredRoute) bool {
	return r.Converged && r.PrimaryWeight == want.PrimaryWeight && r.CanaryWeight == want.CanaryWeight &&
		r.BaselineWeight == want.BaselineWeight && r.Mirror == want.Mirror
}

func (p *planner) event(warning bool, sev siskinv1.AlertSeverity, reason, message string, mute bool) {
	p.events = append(p.events, Event{Warning: warning, Reason: reason, Message: message, Severity: sev, Mute: mute})
}

// info announces normal progress.
func (p *planner) info(reason, message string) {
	p.event(false, siskinv1.SeverityInfo, reason, message, false)
}

// warn announces a failure that the rollout survives, or the cause of a rollback.
func (p *planner) warn(reason, message string) {
	p.event(true, siskinv1.SeverityWarn, reason, message, false)
}

// fail announces a failed rollout.
func (p *planner) fail(reason, message string) {
	p.event(true, siskinv1.SeverityError, reason, message, false)
}

// readiness sets the kstatus conditions the round ends with.
func (p *planner) readiness(kind readinessKind, reason, message string) {
	p.cond = readiness{kind: kind, reason: reason, message: message}
}

// promoted sets the Promoted condition now, so later steps of the round can read it.
func (p *planner) promoted(s metav1.ConditionStatus, reason, message string) {
	set(&p.st, p.c.Generation, stamp(p.now), siskinv1.ConditionPromoted, s, reason, message)
}

// wakeAt asks for a round at t (the earliest of all such requests wins); past times are ignored.
func (p *planner) wakeAt(t time.Time) {
	if t.After(p.now) && (p.wake.IsZero() || t.Before(p.wake)) {
		p.wake = t
	}
}

// stepStamp is the time a step that runs now records as its own. A step that runs less than
// a second after it was due records the time it was due: the status keeps whole seconds, and
// stamping the moment it ran (rounded up) would push every later step back by up to a second,
// adding a second of drift per step over a rollout. A later step records when it ran, so a
// step held up by the API server or a gate never makes the next one come early.
func (p *planner) stepStamp() *metav1.Time {
	if p.st.LastStepTime != nil {
		due := p.nextStep()
		if late := p.now.Sub(due); late >= 0 && late < time.Second {
			return stampPtr(due)
		}
	}
	return stampPtr(p.now)
}

// nextStep is when the next analysis step (or gate poll, or promotion step) is due.
func (p *planner) nextStep() time.Time {
	if p.st.LastStepTime == nil {
		return p.now
	}
	return p.st.LastStepTime.Add(p.set.interval)
}

// waitMode says whether the start of a wait is announced.
type waitMode uint8

const (
	waitSilent waitMode = iota
	waitAnnounced
	waitMuted
)

// wait is something the rollout waits for, with the limit that turns waiting into failure.
type wait struct {
	reason  string
	message string
	limit   time.Duration
	mode    waitMode
	// polled is true for gate waits: their limit is checked when the gate is polled, at each
	// interval, so no extra round is scheduled at the limit itself.
	polled bool
}

// waitFor records that the rollout waits, and reports whether the wait outlasted its limit.
// A wait starts (status.waitingSince = now) when none runs or when its reason differs from
// the running one, which the Reconciling condition names; so a restart continues the same wait.
func (p *planner) waitFor(w wait) (exceeded bool) {
	st := &p.st
	switch {
	case st.WaitingSince == nil || reconcilingReason(&p.c.Status) != w.reason:
		st.WaitingSince = stampPtr(p.now)
		if w.mode != waitSilent {
			p.event(false, siskinv1.SeverityInfo, w.reason, w.message, w.mode == waitMuted)
		}
		p.readiness(condProgressing, w.reason, w.message)
	case p.now.Before(st.WaitingSince.Add(p.set.settle)):
		// The wait has just begun: its detail (replicas updated so far) is not rewritten
		// until the settle moment ends, when the round wakes to write it if it still waits.
		p.wakeAt(st.WaitingSince.Add(p.set.settle))
	default:
		p.readiness(condProgressing, w.reason, w.message)
	}
	if w.limit <= 0 {
		return false
	}
	deadline := st.WaitingSince.Add(w.limit)
	if !p.now.Before(deadline) {
		return true
	}
	if !w.polled {
		p.wakeAt(deadline)
	}
	return false
}

// gate is the verdict of the gate webhooks of type t: open when the spec has none (for rollback:
// no rollback), closed when they were not called.
func (p *planner) gate(t siskinv1.WebhookType) Gate {
	if !p.set.hasHooks(t) {
		return Gate{Open: t != siskinv1.RollbackHook}
	}
	if g, ok := p.obs.Gates[t]; ok {
		return g
	}
	return Gate{Message: fmt.Sprintf("the %s webhooks were not called", t)}
}

// target names the target workload.
func (p *planner) target() string {
	return p.c.Spec.TargetRef.Kind + "/" + p.c.Spec.TargetRef.Name
}

// primary names the primary workload: <target>-primary, or a StatefulSet itself, which is
// rolled out in place.
func (p *planner) primary() string {
	if p.inPlace() {
		return p.target() + " (in place)"
	}
	return p.target() + "-primary"
}

// inPlace reports whether the target is rolled out in place, with no primary copy.
func (p *planner) inPlace() bool { return p.c.Spec.TargetRef.Kind == "StatefulSet" }

// rev is the short fingerprint of the revision being rolled out.
func (p *planner) rev() string {
	return short(p.st.LastAppliedSpec)
}

// short abbreviates a fingerprint for messages.
func short(fp string) string {
	const n = 12
	if fp == "" {
		return "<none>"
	}
	if len(fp) > n {
		return fp[:n]
	}
	return fp
}

// suffix appends detail to a message, if there is any.
func suffix(detail string) string {
	if detail == "" {
		return ""
	}
	return ": " + detail
}
