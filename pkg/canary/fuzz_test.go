package canary

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// FuzzEngine runs the planner in a simulated cluster (fuzzworld_test.go) that the fuzzer
// drives: new good and bad revisions, reverts and deletions of the target, manual
// annotations, pods that crash, a primary that never becomes ready, a route taken over by
// someone else, closed gates, Prometheus errors and missing data, a controller that is down,
// and rounds whose status write is lost or whose actions stop after any prefix. After every
// round it checks:
//
//  1. the primary runs status.lastPromotedSpec, or a revision that passed its analysis or that
//     a person promoted (or skipAnalysis promoted), or the Canary is Initializing;
//  2. a Canary written Failed whose rollback is confirmed (Reconciling not RollingBack) has the
//     route at 100/0, unless the route is not Siskin's or the promotion failed (which routes to
//     the canary by design), and its primary runs lastPromotedSpec unless it reports
//     PrimaryDrift or PromotionFailed;
//  3. failedChecks and analysisErrors grow by at most one per round, failedChecks only in a
//     round with a step; lastStepTime never goes back within a rollout, and two analysis steps
//     are at least an interval apart;
//  4. the route never weights a canary without an available replica for longer than one
//     interval, plus the time until the controller first saw it, a second of status rounding,
//     the router's lag, and the time lost to faulted rounds and downtime;
//  5. a bad revision (its metric checks fail) never runs on the primary unless a person
//     promoted it, skipAnalysis did, or it was the revision the Canary initialized with;
//  6. the route stops weighting a canary that runs neither status.lastAppliedSpec nor
//     lastPromotedSpec (a revision nobody analysed) in the first round that sees it, plus the
//     time lost to faulted rounds and downtime.
//
// A revision reaches Promoting from an analysis only in a round whose step passed, after at
// least one passing step with metrics. When the input is used up the world heals (the target
// exists and is healthy, gates open, Prometheus answers) and the rollout must come to rest
// with the primary and the route matching its status.
//
// The seeds in testdata/fuzz/FuzzEngine and below run under plain go test.
func FuzzEngine(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w := newFuzzWorld(t, data)
		for steps := 0; steps < fuzzMaxEvents && !w.in.done(); steps++ {
			w.step(w.in.next())
		}
		w.drain()
	})
}

// fuzzMaxEvents bounds a run, so that an execution stays short.
const fuzzMaxEvents = 400

// Events of the fuzz world, one byte each (op % evCount), some followed by a parameter byte.
const (
	evAdvance      = iota // run the next scheduled round
	evAdvance2            // (weighting: rounds are the commonest event)
	evAdvance3            //
	evAdvance4            //
	evRound               // a watch event or resync: a round now
	evPass                // param: let param*5s pass (a scheduled round runs on the way)
	evNewGood             // a new revision whose checks pass
	evNewBad              // a new revision whose metric checks fail
	evRevert              // the target goes back to the promoted revision
	evDelete              // the target is deleted
	evManual              // param: promote, abort, retry, pause or resume with a new value
	evHealth              // param: the target's pods become healthy, degraded or broken
	evPrimaryStuck        // the primary stops (or resumes) becoming ready
	evNotOwned            // someone else takes (or hands back) the route
	evDown                // param: the controller is down for param*2s
	evQueue               // the controller's rollout slots fill up (or free)
	evGate                // param: toggle confirm-rollout, confirm-traffic-increase, confirm-promotion or rollback
	evProm                // param: Prometheus answers, errors, has no data, or fails good revisions
	evHooks               // param: webhooks pass, the rollout webhook fails, the pre-rollout one is missing
	evFault               // param: the next round loses its write, crashes after param/5 actions, or meets a target change
	evCount
)

var manualKinds = []string{siskinv1.AnnotationPromote, siskinv1.AnnotationAbort, siskinv1.AnnotationRetry,
	siskinv1.AnnotationPause, siskinv1.AnnotationResume}

var gateKinds = []siskinv1.WebhookType{siskinv1.ConfirmRolloutHook, siskinv1.ConfirmTrafficIncreaseHook,
	siskinv1.ConfirmPromotionHook, siskinv1.RollbackHook}

// step plays one event.
func (w *fuzzWorld) step(op byte) {
	switch op % evCount {
	case evAdvance, evAdvance2, evAdvance3, evAdvance4:
		w.advance()
	case evRound:
		w.wakeAt(w.now)
		w.advance()
	case evPass:
		w.passTime(time.Duration(w.in.next()) * 5 * time.Second)
	case evNewGood:
		w.event("target updated to %s", w.newRevision(false))
	case evNewBad:
		w.event("target updated to %s", w.newRevision(true))
	case evRevert:
		if fp := w.c.Status.LastPromotedSpec; fp != "" {
			w.setTarget(fp)
			w.event("target put back to the promoted revision %s", fp)
		}
	case evDelete:
		w.target = fuzzTarget{}
		w.event("target deleted")
	case evManual:
		w.annotate(manualKinds[int(w.in.next())%len(manualKinds)])
	case evHealth:
		w.target.health = int(w.in.next()) % 3
		w.event("target pods health=%d", w.target.health)
	case evPrimaryStuck:
		w.primary.stuck = !w.primary.stuck
		w.event("primary stuck=%t", w.primary.stuck)
	case evNotOwned:
		w.route.notOwned = !w.route.notOwned
		w.event("route notOwned=%t", w.route.notOwned)
	case evDown:
		d := time.Duration(w.in.next()%90+1) * 2 * time.Second
		w.downUntil = maxTime(w.downUntil, w.now.Add(d))
		w.logf("%s  -- controller down for %s", w.offset(), d)
	case evQueue:
		w.queued = !w.queued
		w.event("rollout slots full=%t", w.queued)
	case evGate:
		g := gateKinds[int(w.in.next())%len(gateKinds)]
		w.gates[g] = !w.gates[g]
		w.logf("%s  -- gate %s open=%t", w.offset(), g, w.gates[g])
	case evProm:
		w.prom = int(w.in.next()) % 4
		w.logf("%s  -- prometheus mode %d", w.offset(), w.prom)
	case evHooks:
		w.hooks = int(w.in.next()) % 3
		w.logf("%s  -- webhooks mode %d", w.offset(), w.hooks)
	case evFault:
		p := w.in.next()
		w.fault = 1 + int(p%4)
		w.prefix = int(p / 4 % 5)
	}
}

// fuzzSeeds are hand-written runs: a promotion and a rollback, then each with faults.
func fuzzSeeds() [][]byte {
	adv := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = evAdvance
		}
		return b
	}
	seq := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	weighted := []byte{0, 0x01, 0x03, 0x15} // threshold 2, hooks pre-rollout and rollout, lags
	return [][]byte{
		// A good revision promoted, a bad one rolled back.
		seq(weighted, adv(8), []byte{evNewGood}, adv(30), []byte{evNewBad}, adv(30)),
		// The same with a lost status write and a crash after the first action at every step.
		seq(weighted, adv(8), []byte{evNewGood}, []byte{evFault, 0}, adv(3), []byte{evFault, 5}, adv(3),
			[]byte{evFault, 1}, adv(3), []byte{evFault, 4 + 1}, adv(20), []byte{evNewBad}, []byte{evFault, 1}, adv(30)),
		// A manual promote in the round the target changes; an abort; a retry.
		seq(weighted, adv(8), []byte{evNewGood}, adv(4), []byte{evManual, 0, evNewBad, evRound}, adv(10),
			[]byte{evManual, 1}, adv(5), []byte{evManual, 2}, adv(20)),
		// The target deleted at 20%, then recreated.
		seq(weighted, adv(8), []byte{evNewGood}, adv(6), []byte{evDelete}, adv(6), []byte{evNewGood}, adv(30)),
		// Pods crash at 10%; then the primary never becomes ready during a promotion.
		seq([]byte{7, 0x02, 0x02, 0x35}, adv(8), []byte{evNewGood}, adv(5), []byte{evHealth, 2}, adv(10),
			[]byte{evHealth, 0, evNewGood}, adv(6), []byte{evPrimaryStuck}, adv(30)),
		// Blue/green with gates, Prometheus errors and no data, a controller restart.
		seq([]byte{3, 0x41, 0x3e, 0x06}, adv(8), []byte{evNewGood, evGate, 0}, adv(4), []byte{evGate, 0, evProm, 1}, adv(4),
			[]byte{evProm, 2}, adv(4), []byte{evDown, 40, evProm, 0}, adv(30)),
		// A/B testing while someone else owns the route, with the slots full at first.
		seq([]byte{5, 0x11, 0x02, 0x09}, adv(8), []byte{evQueue, evNewGood}, adv(3), []byte{evQueue, evNotOwned}, adv(6),
			[]byte{evNotOwned}, adv(30)),
	}
}

// Trace lines and small helpers of the fuzz world.

func describeObs(o *Observation) string {
	t := "target missing"
	if o.Target.Exists {
		t = fmt.Sprintf("target %s %d/%d", o.Target.Fingerprint, o.Target.Available, o.Target.Replicas)
	}
	p := "primary missing"
	if o.Primary.Exists {
		p = fmt.Sprintf("primary %s ready=%t", o.Primary.Fingerprint, o.Primary.Ready)
	}
	r := fmt.Sprintf("route %d/%d confirmed=%t", o.Route.PrimaryWeight, o.Route.CanaryWeight, o.Route.Converged)
	if o.Route.Problem != "" {
		r = "route " + o.Route.Problem
	}
	return strings.Join([]string{t, p, r}, ", ")
}

func describeNeeds(n Needs, checks []siskinv1.CheckResult) string {
	var parts []string
	if n.Step {
		var cs []string
		for _, c := range checks {
			cs = append(cs, c.Name+"="+string(c.Verdict))
		}
		parts = append(parts, "step["+strings.Join(cs, " ")+"]")
	}
	for _, g := range n.Gates {
		parts = append(parts, "gate "+string(g))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func describeStatus(st *siskinv1.CanaryStatus) string {
	step := "-"
	if st.LastStepTime != nil {
		step = st.LastStepTime.UTC().Format("15:04:05")
	}
	return fmt.Sprintf("%s w=%d it=%d failed=%d errors=%d step=%s applied=%s promoted=%s paused=%t reconciling=%s stalled=%s",
		st.Phase, st.CanaryWeight, st.Iterations, st.FailedChecks, st.AnalysisErrors, step, st.LastAppliedSpec, st.LastPromotedSpec,
		st.Paused, reconcilingReason(st), stalledReason(st))
}

func describeTarget(t *fuzzTarget, available int32) string {
	if !t.exists {
		return "missing"
	}
	return fmt.Sprintf("%s %d/%d health=%d", t.fp, available, t.replicas, t.health)
}

func describePrimary(p *fuzzPrimary) string {
	if !p.exists {
		return "missing"
	}
	return fmt.Sprintf("%s stuck=%t", p.fp, p.stuck)
}

func describeRoute(r *fuzzRoute) string {
	if !r.exists {
		return "missing"
	}
	return fmt.Sprintf("%d/%d mirror=%t notOwned=%t", r.primary, r.canary, r.mirror, r.notOwned)
}

// fuzzRoundTrip stores a status as the API server does, through JSON.
func fuzzRoundTrip(t *testing.T, st siskinv1.CanaryStatus) siskinv1.CanaryStatus {
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out siskinv1.CanaryStatus
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTime(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
