package cli

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
)

func TestActionOnAMissingCanaryFails(t *testing.T) {
	ns := newNamespace(t, "")
	code, _, stderr := run(t, time.Now, "abort", "nothing", "-n", ns)
	if code != ExitError || !strings.Contains(stderr, "not found") {
		t.Errorf("exit %d, stderr %q; want %d and not found", code, stderr, ExitError)
	}
}

// TestActionsAreAcknowledged drives a rollout of the real controller through each action and
// checks that each command returns once the controller acknowledged it, with what it did.
func TestActionsAreAcknowledged(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "")
	rollouttest.StartController(t, env, ns, rollouttest.ControllerOptions{})
	rollouttest.RunKubelet(t, k8sClient, ns)
	c := blueGreen(ns, 50) // far more steps than the test waits for
	setupRollout(t, ns, c)
	key := client.ObjectKeyFromObject(c)

	step := func(args []string, wantCode int, wantOut string, then func(*siskinv1.Canary) bool) {
		t.Helper()
		code, stdout, stderr := run(t, time.Now, append(args, "-n", ns, "--timeout", "30s")...)
		if code != wantCode || !strings.Contains(stdout+stderr, wantOut) {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", args, code, stdout, stderr, wantCode, wantOut)
		}
		if then != nil {
			// The command returned after the acknowledgement: the status shows it already.
			got := &siskinv1.Canary{}
			if err := k8sClient.Get(t.Context(), key, got); err != nil {
				t.Fatal(err)
			}
			if !then(got) {
				t.Errorf("%v: status after the command: phase %s paused %v manualRequests %v", args, got.Status.Phase, got.Status.Paused, got.Status.ManualRequests)
			}
		}
	}

	// Nothing to abort at rest: the controller refuses, and says why.
	step([]string{"abort", "podinfo"}, ExitRefused, "no rollout is in progress", nil)

	rollouttest.Release(t, k8sClient, ns, "podinfo:6.1.0")
	waitForCanary(t, key, "Progressing", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseProgressing })

	step([]string{"pause", "podinfo"}, ExitOK, "ManualPause", func(c *siskinv1.Canary) bool { return c.Status.Paused })
	step([]string{"pause", "podinfo"}, ExitRefused, "already paused", nil)
	step([]string{"resume", "podinfo"}, ExitOK, "ManualResume", func(c *siskinv1.Canary) bool { return !c.Status.Paused })
	step([]string{"abort", "podinfo"}, ExitOK, "aborted by siskin.dev/abort=", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseFailed })
	step([]string{"retry", "podinfo"}, ExitOK, "ManualRetry", func(c *siskinv1.Canary) bool { return c.Status.Phase != siskinv1.PhaseFailed })
	waitForCanary(t, key, "Progressing after retry", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseProgressing })
	before := &siskinv1.Canary{}
	if err := k8sClient.Get(t.Context(), key, before); err != nil {
		t.Fatal(err)
	}
	step([]string{"promote", "podinfo"}, ExitOK, "moved to its next step without analysis", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseProgressing && c.Status.Iterations > before.Status.Iterations
	})
	step([]string{"promote", "podinfo", "--full"}, ExitOK, "ManualPromote", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhasePromoting || c.Status.Phase == siskinv1.PhaseFinalising || c.Status.Phase == siskinv1.PhaseSucceeded
	})
	waitForCanary(t, key, "Succeeded", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseSucceeded })
	step([]string{"retry", "podinfo"}, ExitRefused, "only a failed rollout can be retried", nil)
}

func TestActionTimesOutWithoutAController(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "")
	c := blueGreen(ns, 3)
	if err := k8sClient.Create(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, time.Now, "pause", "podinfo", "-n", ns, "--timeout", "1s")
	if code != ExitTimeout || !strings.Contains(stderr, "did not acknowledge") {
		t.Errorf("exit %d, stderr %q; want %d", code, stderr, ExitTimeout)
	}
	got := &siskinv1.Canary{}
	if err := k8sClient.Get(t.Context(), client.ObjectKeyFromObject(c), got); err != nil {
		t.Fatal(err)
	}
	if got.Annotations[siskinv1.AnnotationPause] == "" {
		t.Error("the pause annotation was not set")
	}
}
