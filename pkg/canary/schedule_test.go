package canary

import (
	"errors"
	"slices"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// steps returns the offsets and canary weights of the analysis steps of a schedule.
func stepsOf(s Schedule) (at []time.Duration, weights []int32) {
	for _, m := range s.Moments {
		if m.Step > 0 {
			at = append(at, m.At)
			weights = append(weights, m.CanaryWeight)
		}
	}
	return at, weights
}

func TestPlanSchedule(t *testing.T) {
	min := time.Minute
	cases := []struct {
		name       string
		spec       func(*siskinv1.Canary)
		provider   string
		steps      []time.Duration
		weights    []int32
		total      time.Duration
		rollbackAt time.Duration // 0: no rollback possible
	}{
		{
			name:       "a weighted canary steps every interval to its max weight, then promotes; two failed checks roll it back at the second step",
			steps:      []time.Duration{min, 2 * min, 3 * min, 4 * min},
			weights:    []int32{10, 20, 30, 30},
			total:      4 * min,
			rollbackAt: 2 * min,
		},
		{
			name:       "blue/green on plain Services runs its iterations at weight 0",
			spec:       func(c *siskinv1.Canary) { blueGreenSpec(c, 3); c.Spec.Analysis.Threshold = 1 },
			provider:   siskinv1.ProviderKubernetes,
			steps:      []time.Duration{min, 2 * min, 3 * min, 4 * min},
			weights:    []int32{0, 0, 0, 0},
			total:      4 * min,
			rollbackAt: min,
		},
		{
			name:    "a canary without checks cannot be rolled back by its analysis",
			spec:    func(c *siskinv1.Canary) { c.Spec.Analysis.Metrics = nil },
			steps:   []time.Duration{min, 2 * min, 3 * min, 4 * min},
			weights: []int32{10, 20, 30, 30},
			total:   4 * min,
		},
		{
			name:  "skipped analysis promotes at once",
			spec:  func(c *siskinv1.Canary) { c.Spec.SkipAnalysis = true },
			total: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			if tc.spec != nil {
				tc.spec(c)
			}
			provider := tc.provider
			if provider == "" {
				provider = c.Spec.Provider
			}
			s, err := PlanSchedule(c, provider)
			if err != nil {
				t.Fatal(err)
			}
			at, weights := stepsOf(s)
			if !slices.Equal(at, tc.steps) || !slices.Equal(weights, tc.weights) {
				t.Errorf("steps at %v with weights %v, want %v with %v", at, weights, tc.steps, tc.weights)
			}
			if s.Total != tc.total {
				t.Errorf("total %s, want %s", s.Total, tc.total)
			}
			switch {
			case tc.rollbackAt == 0 && s.EarliestRollback != nil:
				t.Errorf("earliest rollback at %s, want none", s.EarliestRollback.At)
			case tc.rollbackAt != 0 && (s.EarliestRollback == nil || s.EarliestRollback.At != tc.rollbackAt):
				t.Errorf("earliest rollback %+v, want at %s", s.EarliestRollback, tc.rollbackAt)
			}
		})
	}
}

// TestPlanScheduleMatchesTheSimulation checks the schedule against the whole-rollout
// simulation of simulation_test.go: the same analysis steps, one interval apart, with the
// same weights, once the lags of its fake workloads are taken out.
func TestPlanScheduleMatchesTheSimulation(t *testing.T) {
	sc := promotionScenario()
	w := simulate(t, sc)
	c := newCanary()
	c.Spec.Analysis.Metrics[0].Interval = "1m"
	sc.canary(c)
	s, err := PlanSchedule(c, c.Spec.Provider)
	if err != nil {
		t.Fatal(err)
	}
	at, _ := stepsOf(s)
	if len(at) != len(w.steps) {
		t.Fatalf("%d planned steps, the simulation ran %d", len(at), len(w.steps))
	}
	for i := 1; i < len(at); i++ {
		if got, want := at[i]-at[i-1], w.steps[i].Sub(w.steps[i-1]); got != want {
			t.Errorf("steps %d and %d planned %s apart, simulated %s apart", i, i+1, got, want)
		}
	}
	first := s.Moments[0]
	if first.Step != 0 || first.Phase != siskinv1.PhaseProgressing {
		t.Errorf("first moment %+v, want the new revision noticed (Progressing, no step)", first)
	}
	var pre []string
	for _, m := range s.Moments {
		if m.Step == 1 {
			pre = m.Checks
		}
	}
	if !slices.Contains(pre, string(siskinv1.PreRolloutHook)+"-hook") {
		t.Errorf("the first step runs %v, want the pre-rollout webhook among them", pre)
	}
}

func TestPlanScheduleOfASpecThatCannotRun(t *testing.T) {
	c := newCanary()
	c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 0, nil
	c.Spec.Provider = siskinv1.ProviderIstio
	_, err := PlanSchedule(c, c.Spec.Provider)
	if !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("error %v, want ErrInvalidSpec: the controller would refuse the spec", err)
	}
}
