package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
	"github.com/siskin-dev/siskin/pkg/canary"
)

func TestPlanGolden(t *testing.T) {
	code, stdout, stderr := run(t, time.Now, "plan", "-f", "testdata/plan-canary.yaml")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, "plan", stdout)
}

func TestPlanJSON(t *testing.T) {
	code, stdout, stderr := run(t, time.Now, "plan", "-f", "testdata/plan-canary.yaml", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var views []PlanView
	if err := json.Unmarshal([]byte(stdout), &views); err != nil {
		t.Fatalf("not a list of plans: %v\n%s", err, stdout)
	}
	if len(views) != 2 || views[0].Total != "4m0s" || views[1].Total != "2m0s" {
		t.Errorf("plans %+v, want podinfo in 4m0s and bluegreen in 2m0s", views)
	}
}

func TestPlanRefusesWhatTheControllerWould(t *testing.T) {
	cases := []struct{ name, file, want string }{
		{"a Flagger manifest is to be converted first", "testdata/plan-flagger.yaml", "convert"},
		{"a spec that cannot move traffic", "testdata/plan-invalid.yaml", "stepWeight"},
		{"a file without a Canary", "testdata/plan-none.yaml", "no Canary"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, time.Now, "plan", "-f", tc.file)
			if code != ExitError || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", code, stderr, ExitError, tc.want)
			}
		})
	}
	if code, _, _ := run(t, time.Now, "plan"); code != ExitUsage {
		t.Errorf("plan without -f: exit %d, want %d", code, ExitUsage)
	}
}

// TestPlanMatchesTheControllersSchedule rolls a revision out with the real controller and
// compares the times of its step events with the plan of the same spec: each within a second.
func TestPlanMatchesTheControllersSchedule(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "")
	rollouttest.StartController(t, env, ns, rollouttest.ControllerOptions{})
	rollouttest.RunKubelet(t, k8sClient, ns)
	c := blueGreen(ns, 2, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: hookURL(t, http.StatusOK)})
	setupRollout(t, ns, c)

	s, err := canary.PlanSchedule(c, siskinv1.ProviderKubernetes)
	if err != nil {
		t.Fatal(err)
	}
	type stepAt struct {
		reason string
		at     time.Duration
	}
	var planned []stepAt
	for _, m := range s.Moments {
		if m.Step > 0 && len(m.Events) > 0 {
			reason, _, _ := strings.Cut(m.Events[0], ":")
			planned = append(planned, stepAt{reason, m.At})
		}
	}

	rollouttest.Release(t, k8sClient, ns, "podinfo:6.1.0")
	done := waitForCanary(t, client.ObjectKeyFromObject(c), "Succeeded", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded && c.Status.LastPromotedSpec == c.Status.LastAppliedSpec
	})
	events, err := canaryEvents(t.Context(), k8sClient, done)
	if err != nil {
		t.Fatal(err)
	}
	var start time.Time
	var real []stepAt
	for i := range events {
		e := &events[i]
		switch e.Reason {
		case siskinv1.ReasonNewRevision:
			start = eventTime(e)
		case siskinv1.ReasonIterationCompleted, siskinv1.ReasonPromotionStarted:
			if !start.IsZero() {
				real = append(real, stepAt{e.Reason, eventTime(e).Sub(start)})
			}
		}
	}
	if len(real) != len(planned) {
		t.Fatalf("the controller took steps %v, the plan %v", real, planned)
	}
	for i := range planned {
		diff := real[i].at - planned[i].at
		if real[i].reason != planned[i].reason || diff < -time.Second || diff > time.Second {
			t.Errorf("step %d: the controller %s at +%s, the plan %s at +%s", i+1, real[i].reason, real[i].at, planned[i].reason, planned[i].at)
		}
	}
}
