package dashboard

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func describeSteps(steps []Step) string {
	var out []string
	for _, s := range steps {
		out = append(out, fmt.Sprintf("%s@%s(%d→%d)", s.Label, s.At, s.Weight, s.Next))
	}
	return strings.Join(out, " ")
}

func TestPlanStepsFollowTheControllersSchedule(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(*siskinv1.Canary)
		want    string
		noSteps bool
	}{
		{
			name: "a weighted canary checks at each weight, then moves to the next or promotes",
			edit: func(*siskinv1.Canary) {},
			want: "20%@+10s(0→20) 40%@+20s(20→40) 60%@+30s(40→60) promote@+40s(60→60)",
		},
		{
			name: "stepWeights are followed as written",
			edit: func(c *siskinv1.Canary) {
				c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 0, nil
				c.Spec.Analysis.StepWeights = []int32{5, 50}
			},
			want: "5%@+10s(0→5) 50%@+20s(5→50) promote@+30s(50→50)",
		},
		{
			name: "blue/green runs its iterations at one weight, then switches the traffic",
			edit: func(c *siskinv1.Canary) {
				c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight, c.Spec.Analysis.Iterations = 0, nil, 2
			},
			want: "iteration 1@+10s(0→0) iteration 2@+20s(0→0) 100%@+30s(0→100) promote@+40s(100→100)",
		},
		{
			name:    "skipped analysis has no steps",
			edit:    func(c *siskinv1.Canary) { c.Spec.SkipAnalysis = true },
			noSteps: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := weightedCanary("ns", "http://hook.example")
			tc.edit(c)
			steps, err := planSteps(c, siskinv1.ProviderIstio)
			if err != nil {
				t.Fatal(err)
			}
			if tc.noSteps {
				if len(steps) != 0 {
					t.Errorf("steps = %s, want none", describeSteps(steps))
				}
				return
			}
			if got := describeSteps(steps); got != tc.want {
				t.Errorf("steps\n got %s\nwant %s", got, tc.want)
			}
			if cs := steps[0].Checks; strings.Join(cs, ",") != "load,request-success-rate" {
				t.Errorf("checks of the first step = %v, want the webhook and the metric", cs)
			}
		})
	}
}

func TestCurrentStepIsTheOneWhoseChecksRunAtTheCurrentWeight(t *testing.T) {
	weighted, err := planSteps(weightedCanary("ns", "http://hook.example"), siskinv1.ProviderIstio)
	if err != nil {
		t.Fatal(err)
	}
	bg := weightedCanary("ns", "http://hook.example")
	bg.Spec.Analysis.StepWeight, bg.Spec.Analysis.MaxWeight, bg.Spec.Analysis.Iterations = 0, ptr.To[int32](0), 2
	blueGreen, err := planSteps(bg, siskinv1.ProviderIstio)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		steps      []Step
		phase      siskinv1.CanaryPhase
		weight     int32
		iterations int32
		want       int
	}{
		{"a rollout that just started is at its first step", weighted, siskinv1.PhaseProgressing, 0, 0, 1},
		{"at 40% the step that checks at 40% is under way", weighted, siskinv1.PhaseProgressing, 40, 0, 3},
		{"a promotion has passed every step", weighted, siskinv1.PhasePromoting, 60, 0, 4},
		{"a succeeded rollout has passed every step", weighted, siskinv1.PhaseSucceeded, 0, 0, 4},
		{"a failed rollout is at no step", weighted, siskinv1.PhaseFailed, 0, 0, 0},
		{"blue/green counts its passed iterations", blueGreen, siskinv1.PhaseProgressing, 0, 1, 2},
		{"blue/green after the traffic switch runs its last checks at 100%", blueGreen, siskinv1.PhaseProgressing, 100, 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &siskinv1.Canary{Status: siskinv1.CanaryStatus{Phase: tc.phase, CanaryWeight: tc.weight, Iterations: tc.iterations}}
			if got := currentStep(c, tc.steps); got != tc.want {
				t.Errorf("current step = %d, want %d of %s", got, tc.want, describeSteps(tc.steps))
			}
		})
	}
}

func TestLocalDashboardListensOnlyOnLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true, "[::1]:8700": true, "localhost:8700": true, "127.0.0.2:1": true,
		"0.0.0.0:8700": false, ":8700": false, "192.168.1.10:8700": false, "example.com:80": false,
	} {
		if err := requireLoopback(addr); (err == nil) != ok {
			t.Errorf("requireLoopback(%q) = %v, want accepted=%v", addr, err, ok)
		}
	}
}
