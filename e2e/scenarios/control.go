//go:build e2e

package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// ManualGate: a confirm-promotion gate on the load tester holds a passed analysis in
// WaitingPromotion while it is closed; opening it (/gate/open) lets the promotion go on.
func ManualGate(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	c := r.canary()
	c.Spec.Analysis.Webhooks = append(c.Spec.Analysis.Webhooks, siskinv1.CanaryWebhook{
		Name: "ask-before-promotion", Type: siskinv1.ConfirmPromotionHook, URL: in.Env.Info.Loadtester + "/gate/check",
	})
	r.create(c)
	gate := func(endpoint string) {
		t.Helper()
		code, err := in.Env.Gate(r.ctx, endpoint, in.Namespace, in.Name)
		if err != nil || code != 200 {
			r.fatalf("load tester %s answered %d (%v)", endpoint, code, err)
		}
	}
	gate("gate/close")
	t.Cleanup(func() { _, _ = in.Env.Gate(context.Background(), "gate/close", in.Namespace, in.Name) })

	r.release(map[string]string{"VERSION": "1.1.0"})
	r.waitPhase(rolloutTimeout, siskinv1.PhaseWaitingPromotion)
	// Closed for two more intervals: it must not move on.
	time.Sleep(25 * time.Second)
	c2, err := in.Env.GetCanary(r.ctx, in.Namespace, in.Name)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Status.Phase != siskinv1.PhaseWaitingPromotion {
		r.fatalf("with the gate closed the canary went on to %s", c2.Status.Phase)
	}
	if v := r.primaryVersion(); v != "1.0.0" {
		r.fatalf("primary runs %q while the promotion gate is closed", v)
	}
	r.slackContains("Waiting for promotion")
	gate("gate/open")
	r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded)
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the gate opened; expected 1.1.0", v)
	}
	r.expectRouteAtRest()
}

// NewRevisionMidAnalysis: a new revision arriving while the previous one is being analysed
// restarts the analysis for it; the intermediate revision is never promoted.
func NewRevisionMidAnalysis(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.canary())
	rec := r.record()

	r.release(map[string]string{"VERSION": "1.1.0"})
	first := r.wait(rolloutTimeout, "canary weight 30", func(c *siskinv1.Canary) bool {
		return c.Status.CanaryWeight >= 30 || terminal(c)
	})
	if first.Status.Phase != siskinv1.PhaseProgressing {
		r.fatalf("expected the first revision in Progressing, got %s", first.Status.Phase)
	}
	r.release(map[string]string{"VERSION": "1.2.0"})
	final := r.wait(rolloutTimeout, "the second revision promoted", func(c *siskinv1.Canary) bool {
		return c.Status.LastAppliedSpec != first.Status.LastAppliedSpec && terminal(c)
	})
	snaps := r.snapshots(rec, siskinv1.PhaseSucceeded)
	if final.Status.Phase != siskinv1.PhaseSucceeded {
		r.fatalf("the second revision ended %s: %s\n%s", final.Status.Phase, readyMessage(final), framework.Format(snaps))
	}
	if v := r.primaryVersion(); v != "1.2.0" {
		r.fatalf("primary runs %q; expected 1.2.0", v)
	}
	// The analysis restarted: after the second revision appeared, the weight went back to 0
	// and climbed again.
	var second []framework.Snapshot
	for _, s := range snaps {
		if s.Revision == final.Status.LastAppliedSpec {
			second = append(second, s)
		}
	}
	if w := framework.Weights(second); !isSubsequence([]int32{0, 30, 60, 0}, w) {
		r.fatalf("weights of the second revision went %v; expected a fresh 0, 30, 60, 0\n%s", w, framework.Format(snaps))
	}
	for _, s := range snaps {
		if s.Revision == first.Status.LastAppliedSpec && (s.Phase == siskinv1.PhasePromoting || s.Phase == siskinv1.PhaseSucceeded) {
			r.fatalf("the first revision reached %s\n%s", s.Phase, framework.Format(snaps))
		}
	}
	msgs := r.slackContains("New revision", "New revision", "Promotion completed")
	if n := countContaining(msgs, "Promotion completed"); n != 1 {
		r.fatalf("%d promotions announced; expected 1:\n  %s", n, strings.Join(msgs, "\n  "))
	}
}

// ControllerRestart: the controller is killed in the middle of an analysis and started again
// after more than an interval; the rollout resumes where it was, neither repeating nor
// skipping a step, and is promoted.
func ControllerRestart(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	r.create(r.canary())
	rec := r.record()

	r.release(map[string]string{"VERSION": "1.1.0"})
	at := r.wait(rolloutTimeout, "canary weight 30", func(c *siskinv1.Canary) bool {
		return c.Status.CanaryWeight >= 30 || terminal(c)
	})
	if at.Status.Phase != siskinv1.PhaseProgressing || at.Status.CanaryWeight != 30 {
		r.fatalf("expected Progressing at 30%%, got %s at %d%%", at.Status.Phase, at.Status.CanaryWeight)
	}
	r.ctrl.Kill()
	t.Log("controller killed at weight 30")
	time.Sleep(15 * time.Second)
	during, err := in.Env.GetCanary(r.ctx, in.Namespace, in.Name)
	if err != nil {
		t.Fatal(err)
	}
	if during.Status.CanaryWeight != 30 {
		r.fatalf("the weight changed to %d while no controller ran", during.Status.CanaryWeight)
	}
	if err := r.ctrl.Start(r.ctx); err != nil {
		t.Fatal(err)
	}
	t.Log("controller restarted")
	r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded)
	snaps := r.snapshots(rec, siskinv1.PhaseSucceeded)
	w := framework.Weights(snaps)
	if !isSubsequence([]int32{0, 30, 60, 0}, w) || !nonDecreasingUntil(w[1:], 0) {
		r.fatalf("weights went %v; expected 0, 30, 60, 0 with no step back after the restart\n%s", w, framework.Format(snaps))
	}
	msgs := r.slackContains("canary weight increased to 60%", "Promotion completed")
	// The kill comes right after the 30% step was written: its announcement may still have been
	// queued in the killed process (notifications are at most once across a crash). It must
	// never be repeated by the new process.
	switch n := countContaining(msgs, "canary weight increased to 30%"); n {
	case 0:
		t.Log("the announcement of the 30% step was lost with the killed controller")
	case 1:
	default:
		r.fatalf("the 30%% step was announced %d times; expected at most once:\n  %s", n, strings.Join(msgs, "\n  "))
	}
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q; expected 1.1.0", v)
	}
}

// ManualControls: siskin.dev/abort rolls a healthy analysis back, siskin.dev/retry starts it
// again, and siskin.dev/promote promotes it before the analysis is over.
func ManualControls(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	c := r.canary()
	// A long analysis (10 steps), so that only the annotations can end it quickly.
	c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 10, ptr.To[int32](100)
	r.create(c)

	r.release(map[string]string{"VERSION": "1.1.0"})
	r.wait(rolloutTimeout, "canary weight 10", func(c *siskinv1.Canary) bool { return c.Status.CanaryWeight >= 10 || terminal(c) })
	r.annotate(siskinv1.AnnotationAbort, "abort-1")
	aborted := r.waitPhase(time.Minute, siskinv1.PhaseFailed)
	if msg := readyMessage(aborted); !strings.Contains(strings.ToLower(msg), "abort") {
		r.fatalf("after siskin.dev/abort the reason %q does not say so", msg)
	}
	r.expectRouteAtRest()
	if v := r.primaryVersion(); v != "1.0.0" {
		r.fatalf("primary runs %q after the abort; expected 1.0.0", v)
	}

	r.annotate(siskinv1.AnnotationRetry, "retry-1")
	r.wait(time.Minute, "analysis restarted by siskin.dev/retry", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing
	})
	r.wait(rolloutTimeout, "canary weight 10 again", func(c *siskinv1.Canary) bool { return c.Status.CanaryWeight >= 10 || terminal(c) })
	start := time.Now()
	r.annotate(siskinv1.AnnotationPromote, "promote-1")
	done := r.waitPhase(time.Minute, siskinv1.PhaseSucceeded, siskinv1.PhaseFailed)
	if done.Status.Phase != siskinv1.PhaseSucceeded {
		r.fatalf("after siskin.dev/promote the canary ended %s: %s", done.Status.Phase, readyMessage(done))
	}
	t.Logf("promoted %s after the annotation", time.Since(start).Round(time.Second))
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after siskin.dev/promote; expected 1.1.0", v)
	}
	r.expectRouteAtRest()
	r.slackContains("Manual abort", "Manual retry", "Promotion completed")
}

// DeleteUnderTraffic: deleting a Canary with revertOnDeletion while users call the app loses
// no request: the target is scaled back up and the apex route hands traffic to it before the
// primary goes.
func DeleteUnderTraffic(t *testing.T, in Input) { deleteUnderTraffic(t, in, false) }

// DeleteMidAnalysis: like DeleteUnderTraffic, but the Canary is deleted while a new revision
// takes 30% of the traffic; afterwards the target (the new revision) serves everything.
func DeleteMidAnalysis(t *testing.T, in Input) { deleteUnderTraffic(t, in, true) }

func deleteUnderTraffic(t *testing.T, in Input, midAnalysis bool) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	c := r.canary()
	c.Spec.RevertOnDeletion = true
	r.create(c)
	users := in.Env.StartTraffic(r.ctx, r.host(), 20, nil)
	want := "1.0.0"
	if midAnalysis {
		want = "1.1.0"
		r.release(map[string]string{"VERSION": want})
		r.wait(rolloutTimeout, "canary weight 30", func(c *siskinv1.Canary) bool { return c.Status.CanaryWeight >= 30 || terminal(c) })
	}
	time.Sleep(3 * time.Second)

	if err := in.Env.Client.Delete(r.ctx, c); err != nil {
		t.Fatal(err)
	}
	err := framework.Eventually(r.ctx, 2*time.Minute, "the Canary to be gone", func(ctx context.Context) (bool, error) {
		_, err := in.Env.GetCanary(ctx, in.Namespace, in.Name)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		r.fatalf("%v", err)
	}
	// Keep calling while the garbage collector removes the primary and its Services.
	time.Sleep(10 * time.Second)
	stats := users.Stop()
	t.Logf("users: %s", stats)
	if stats.Failed > 0 {
		r.fatalf("users lost %d of %d requests around the deletion (codes %v; first: %s)", stats.Failed, stats.Total, stats.Codes, stats.FirstFailure)
	}
	if stats.Total < 100 {
		r.fatalf("only %d requests were sent; the client loop did not run", stats.Total)
	}
	r.expectServed(5, want, nil)
}

func (r *rig) annotate(key, value string) {
	r.t.Helper()
	if err := r.in.Env.Annotate(r.ctx, r.in.Namespace, r.in.Name, key, value); err != nil {
		r.t.Fatal(err)
	}
}

func countContaining(msgs []string, s string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}
