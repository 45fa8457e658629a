package main

import (
	"math/rand/v2"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestCheckSteps(t *testing.T) {
	type step struct {
		phase  siskinv1.CanaryPhase
		weight int32
	}
	p, s := siskinv1.PhaseProgressing, siskinv1.PhasePromoting
	cases := []struct {
		name  string
		steps []step
		bad   int
	}{
		{"a rollout that climbs one step at a time and promotes from the last step is clean", []step{{p, 0}, {p, 30}, {p, 30}, {p, 60}, {s, 60}}, 0},
		{"a weight that goes back is a repeated step", []step{{p, 0}, {p, 30}, {p, 0}, {p, 30}, {p, 60}, {s, 60}}, 1},
		{"a weight that jumps a step is a skipped step", []step{{p, 0}, {p, 60}, {s, 60}}, 1},
		{"a promotion before the last step is a skipped step", []step{{p, 0}, {p, 30}, {s, 30}}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &rollout{}
			for _, st := range tc.steps {
				r.checkSteps(time.Now(), siskinv1.CanaryStatus{Phase: st.phase, CanaryWeight: st.weight})
			}
			if len(r.violations) != tc.bad {
				t.Fatalf("violations %q; want %d", r.violations, tc.bad)
			}
		})
	}
}

func TestPlanMixesGoodAndBadReleases(t *testing.T) {
	for seed := range uint64(20) {
		rels := plan(rand.New(rand.NewPCG(seed, 1)), 6, 6)
		good, bad := 0, 0
		for _, app := range rels {
			for _, r := range app {
				if r.bad == "" {
					good++
				} else {
					bad++
				}
			}
		}
		if good+bad != 6 || good == 0 || bad == 0 {
			t.Fatalf("seed %d: %d good and %d bad releases; want 6 with both kinds", seed, good, bad)
		}
	}
}
