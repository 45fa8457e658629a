package canary

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestProgressOf(t *testing.T) {
	last := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name     string
		spec     func(*siskinv1.Canary)
		status   siskinv1.CanaryStatus
		provider string
		want     Progress
	}{
		{
			name:   "a weighted canary at weight 20 of 30 has passed two of four steps and steps again one interval after the last",
			status: siskinv1.CanaryStatus{Phase: siskinv1.PhaseProgressing, CanaryWeight: 20, Iterations: 2, LastStepTime: &metav1.Time{Time: last}},
			want:   Progress{Step: 2, Steps: 4, Interval: time.Minute, NextStep: last.Add(time.Minute)},
		},
		{
			name:   "a paused analysis has no step due",
			status: siskinv1.CanaryStatus{Phase: siskinv1.PhaseProgressing, CanaryWeight: 10, Iterations: 1, Paused: true, LastStepTime: &metav1.Time{Time: last}},
			want:   Progress{Step: 1, Steps: 4, Interval: time.Minute},
		},
		{
			name:   "a rollout at rest has passed no step",
			status: siskinv1.CanaryStatus{Phase: siskinv1.PhaseFailed},
			want:   Progress{Step: 0, Steps: 4, Interval: time.Minute},
		},
		{
			name:   "a promoting rollout has passed every step",
			status: siskinv1.CanaryStatus{Phase: siskinv1.PhasePromoting, CanaryWeight: 30, Iterations: 3},
			want:   Progress{Step: 4, Steps: 4, Interval: time.Minute},
		},
		{
			name:   "a weighted canary with mirroring takes one more step, mirrored at weight 0",
			spec:   func(c *siskinv1.Canary) { c.Spec.Analysis.Mirror = true },
			status: siskinv1.CanaryStatus{Phase: siskinv1.PhaseProgressing, CanaryWeight: 0, Iterations: 1},
			want:   Progress{Step: 1, Steps: 5, Interval: time.Minute},
		},
		{
			name:   "blue/green of three iterations switches all traffic for a last step",
			spec:   func(c *siskinv1.Canary) { blueGreenSpec(c, 3) },
			status: siskinv1.CanaryStatus{Phase: siskinv1.PhaseProgressing, CanaryWeight: 100, Iterations: 3},
			want:   Progress{Step: 4, Steps: 5, Interval: time.Minute},
		},
		{
			name:     "provider kubernetes is blue/green without the switch",
			spec:     func(c *siskinv1.Canary) { blueGreenSpec(c, 3) },
			provider: siskinv1.ProviderKubernetes,
			status:   siskinv1.CanaryStatus{Phase: siskinv1.PhaseProgressing, Iterations: 2},
			want:     Progress{Step: 2, Steps: 4, Interval: time.Minute},
		},
		{
			name:   "A/B testing of three iterations takes four steps",
			spec:   func(c *siskinv1.Canary) { abTestingSpec(c, 3) },
			status: siskinv1.CanaryStatus{Phase: siskinv1.PhaseWaitingPromotion, CanaryWeight: 100, Iterations: 3},
			want:   Progress{Step: 4, Steps: 4, Interval: time.Minute},
		},
		{
			name:   "skipped analysis has no steps",
			spec:   func(c *siskinv1.Canary) { c.Spec.SkipAnalysis = true },
			status: siskinv1.CanaryStatus{Phase: siskinv1.PhaseProgressing},
			want:   Progress{Interval: time.Minute},
		},
		{
			name:   "an interval under the minimum is raised to it",
			spec:   func(c *siskinv1.Canary) { c.Spec.Analysis.Interval = "1s" },
			status: siskinv1.CanaryStatus{Phase: siskinv1.PhaseProgressing},
			want:   Progress{Steps: 4, Interval: MinInterval},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			if tc.spec != nil {
				tc.spec(c)
			}
			c.Status = tc.status
			provider := tc.provider
			if provider == "" {
				provider = c.Spec.Provider
			}
			if got := ProgressOf(c, provider); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
