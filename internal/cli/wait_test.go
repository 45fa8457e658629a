package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
)

// hookURL serves webhooks answering code.
func hookURL(t *testing.T, code int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestWaitExitsZeroWhenTheRevisionIsPromoted(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "")
	rollouttest.StartController(t, env, ns, rollouttest.ControllerOptions{})
	rollouttest.RunKubelet(t, k8sClient, ns)
	setupRollout(t, ns, blueGreen(ns, 1, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: hookURL(t, http.StatusOK)}))

	rollouttest.Release(t, k8sClient, ns, "podinfo:6.1.0")
	// Straight after the release: the controller may not have seen the revision yet, and wait
	// must not take the previous, promoted one for it.
	code, stdout, stderr := run(t, time.Now, "wait", "podinfo", "-n", ns, "--timeout", "2m")
	if code != ExitOK {
		t.Fatalf("exit %d, want 0; stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"IterationCompleted", "Promoting", "promoted"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output does not show %q:\n%s", want, stdout)
		}
	}

	// Waiting again for a promoted revision ends at once.
	if code, stdout, _ := run(t, time.Now, "wait", "podinfo", "-n", ns, "--timeout", "10s"); code != ExitOK {
		t.Errorf("wait for the promoted revision: exit %d\n%s", code, stdout)
	}
}

func TestWaitExitsRolledBackWhenTheAnalysisFails(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "")
	rollouttest.StartController(t, env, ns, rollouttest.ControllerOptions{})
	rollouttest.RunKubelet(t, k8sClient, ns)
	setupRollout(t, ns, blueGreen(ns, 3, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: hookURL(t, http.StatusInternalServerError)}))

	rollouttest.Release(t, k8sClient, ns, "podinfo:6.1.0")
	code, stdout, stderr := run(t, time.Now, "wait", "podinfo", "-n", ns, "--timeout", "2m")
	if code != ExitRolledBack || !strings.Contains(stderr, "rolled back") {
		t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr: %s", code, ExitRolledBack, stdout, stderr)
	}
	if !strings.Contains(stdout, "Warning RolledBack") || !strings.Contains(stdout, "webhook load failed") {
		t.Errorf("output does not show the failed check:\n%s", stdout)
	}
}

func TestWaitTimesOut(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "")
	rollouttest.StartController(t, env, ns, rollouttest.ControllerOptions{})
	rollouttest.RunKubelet(t, k8sClient, ns)
	setupRollout(t, ns, blueGreen(ns, 50))

	rollouttest.Release(t, k8sClient, ns, "podinfo:6.1.0")
	code, stdout, stderr := run(t, time.Now, "wait", "podinfo", "-n", ns, "--timeout", "3s")
	if code != ExitTimeout || !strings.Contains(stderr, "timed out") {
		t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr: %s", code, ExitTimeout, stdout, stderr)
	}
}

func TestWaitExitsStalledOnASpecTheControllerCannotRun(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "")
	rollouttest.StartController(t, env, ns, rollouttest.ControllerOptions{})
	if err := k8sClient.Create(t.Context(), rollouttest.Podinfo(ns, "podinfo:6.0.0")); err != nil {
		t.Fatal(err)
	}
	c := blueGreen(ns, 0)
	// A weighted canary that names no weights could never move traffic: Stalled.
	c.Spec.Provider = siskinv1.ProviderIstio
	c.Spec.Analysis.MaxWeight = ptr.To[int32](50)
	if err := k8sClient.Create(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, time.Now, "wait", "podinfo", "-n", ns, "--timeout", "1m")
	if code != ExitStalled || !strings.Contains(stderr, "stalled") {
		t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr: %s", code, ExitStalled, stdout, stderr)
	}
}

// stalledAs sets the Stalled condition on cn.
func stalledAs(cn *siskinv1.Canary, reason string) *siskinv1.Canary {
	cn.Status.Conditions = append(cn.Status.Conditions, metav1.Condition{Type: siskinv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason})
	return cn
}

func TestWaiterVerdicts(t *testing.T) {
	const rev = "aaaa1111bbbb2222"
	st := func(phase siskinv1.CanaryPhase, applied, promoted string) *siskinv1.Canary {
		return &siskinv1.Canary{Status: siskinv1.CanaryStatus{Phase: phase, LastAppliedSpec: applied, LastPromotedSpec: promoted}}
	}
	cases := []struct {
		name     string
		sequence []*siskinv1.Canary
		code     int
		done     bool
	}{
		{"a revision not seen yet is waited for, even behind an older failed one", []*siskinv1.Canary{st(siskinv1.PhaseFailed, "old", "older")}, 0, false},
		{"a revision under analysis is waited for", []*siskinv1.Canary{st(siskinv1.PhaseProgressing, rev, "old")}, 0, false},
		{"a promoted revision ends the wait", []*siskinv1.Canary{st(siskinv1.PhaseProgressing, rev, "old"), st(siskinv1.PhaseSucceeded, rev, rev)}, ExitOK, true},
		{"a revision promoted before another rollout started is still promoted", []*siskinv1.Canary{st(siskinv1.PhaseProgressing, "next", rev)}, ExitOK, true},
		{"a promotion in progress is not the end", []*siskinv1.Canary{st(siskinv1.PhasePromoting, rev, "old")}, 0, false},
		{"a failed revision is rolled back", []*siskinv1.Canary{st(siskinv1.PhaseProgressing, rev, "old"), st(siskinv1.PhaseFailed, rev, "old")}, ExitRolledBack, true},
		{"a Canary stalled on its spec cannot roll the revision out", []*siskinv1.Canary{stalledAs(st(siskinv1.PhaseInitialized, "old", "old"), siskinv1.ReasonInvalidSpec)}, ExitStalled, true},
		{"the rollback of an earlier revision is not this revision's stall", []*siskinv1.Canary{stalledAs(st(siskinv1.PhaseFailed, "old", "older"), siskinv1.ReasonRolledBack)}, 0, false},
		{"a revision replaced during its analysis is superseded", []*siskinv1.Canary{st(siskinv1.PhaseProgressing, rev, "old"), st(siskinv1.PhaseProgressing, "newer", "old")}, ExitSuperseded, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := &waiter{rev: rev[:12]}
			var (
				code int
				done bool
			)
			for _, cn := range tc.sequence {
				code, done, _ = w.verdict(cn)
			}
			if code != tc.code || done != tc.done {
				t.Errorf("verdict %d done=%v, want %d done=%v", code, done, tc.code, tc.done)
			}
		})
	}
}
