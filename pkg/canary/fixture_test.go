package canary

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// t0 is the time of the last analysis step in table tests.
var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// Revision fingerprints used in tests.
const (
	revOld   = "rev-1" // promoted
	revNew   = "rev-2" // being rolled out
	revNewer = "rev-3" // arrives during a rollout
)

func ptr[T any](v T) *T { return &v }

// newCanary is the podinfo Canary of the Flagger tutorial, trimmed: a weighted canary on Istio
// with stepWeight 10 up to 30, one metric, threshold 2, interval 1m, deadline 10m.
func newCanary() *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test", Generation: 1},
		Spec: siskinv1.CanarySpec{
			Provider:                siskinv1.ProviderIstio,
			TargetRef:               siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:                 siskinv1.CanaryService{Port: 9898},
			ProgressDeadlineSeconds: ptr[int32](600),
			Analysis: &siskinv1.CanaryAnalysis{
				Interval:   "1m",
				Threshold:  2,
				StepWeight: 10,
				MaxWeight:  ptr[int32](30),
				Metrics: []siskinv1.CanaryMetric{{
					Name:           siskinv1.MetricRequestSuccessRate,
					ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr(99.0)},
				}},
			},
		},
	}
}

// hook adds a webhook of type t named after it.
func hook(c *siskinv1.Canary, t siskinv1.WebhookType, mods ...func(*siskinv1.CanaryWebhook)) {
	w := siskinv1.CanaryWebhook{Type: t, Name: string(t) + "-hook", URL: "http://loadtester.test/"}
	for _, m := range mods {
		m(&w)
	}
	c.Spec.Analysis.Webhooks = append(c.Spec.Analysis.Webhooks, w)
}

// abTesting makes c an A/B test of n iterations.
func abTestingSpec(c *siskinv1.Canary, n int32) {
	a := c.Spec.Analysis
	a.StepWeight, a.MaxWeight, a.Iterations = 0, nil, n
	a.Match = []siskinv1.HTTPMatchRequest{{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}}}
}

// blueGreenSpec makes c a blue/green rollout of n iterations.
func blueGreenSpec(c *siskinv1.Canary, n int32) {
	a := c.Spec.Analysis
	a.StepWeight, a.MaxWeight, a.Iterations = 0, nil, n
}

// restingStatus is a Canary at rest in phase, with revOld promoted.
func restingStatus(c *siskinv1.Canary, phase siskinv1.CanaryPhase) {
	c.Status = siskinv1.CanaryStatus{
		ObservedGeneration: c.Generation,
		Phase:              phase,
		LastAppliedSpec:    revOld,
		LastPromotedSpec:   revOld,
		LastTransitionTime: ptr(metav1.NewTime(t0.Add(-time.Hour))),
	}
	c.Status.Conditions = []metav1.Condition{
		{Type: siskinv1.ConditionReady, Status: metav1.ConditionTrue, Reason: siskinv1.ReasonSucceeded, Message: "revision rev-1 is promoted", ObservedGeneration: c.Generation, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))},
		{Type: siskinv1.ConditionPromoted, Status: metav1.ConditionTrue, Reason: siskinv1.ReasonSucceeded, Message: "revision rev-1 promoted", ObservedGeneration: c.Generation, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))},
	}
}

// progressingStatus is revNew under analysis at weight w, its last step at t0.
func progressingStatus(c *siskinv1.Canary, w int32) {
	restingStatus(c, siskinv1.PhaseProgressing)
	st := &c.Status
	st.LastAppliedSpec = revNew
	st.PreRolloutSpec = revNew
	st.CanaryWeight = w
	st.Iterations = w / 10
	st.RolloutStartTime = ptr(metav1.NewTime(t0.Add(-10 * time.Minute)))
	st.LastStepTime = ptr(metav1.NewTime(t0))
	applyReadiness(st, c.Generation, metav1.NewTime(t0), readiness{kind: condProgressing, reason: siskinv1.ReasonProgressing, message: "analysing"})
}

// withWait records that the rollout has waited for reason since at.
func withWait(c *siskinv1.Canary, reason string, at time.Time) {
	c.Status.WaitingSince = ptr(metav1.NewTime(at))
	applyReadiness(&c.Status, c.Generation, metav1.NewTime(at), readiness{kind: condProgressing, reason: reason, message: "waiting"})
}

// obsFor is what a healthy world looks like for c's status at now: the target runs the revision
// being rolled out, both workloads are ready and the router confirms the status's route.
func obsFor(c *siskinv1.Canary, now time.Time) Observation {
	s := settingsFor(c, &Observation{})
	fp := c.Status.LastAppliedSpec
	if fp == "" {
		fp = revOld
	}
	r := s.strategy.route(&c.Status)
	target := Workload{Exists: true, Fingerprint: fp, Ready: true, Replicas: 2, Available: 2}
	if atRest(&c.Status) {
		target = Workload{Exists: true, Fingerprint: fp, Message: "scaled to zero"}
	}
	return Observation{
		Now:      now,
		Provider: c.Spec.Provider,
		Target:   target,
		Primary:  Workload{Exists: true, Fingerprint: c.Status.LastPromotedSpec, Ready: true, Replicas: 2, Available: 2},
		Route:    Route{Converged: true, PrimaryWeight: r.PrimaryWeight, CanaryWeight: r.CanaryWeight, BaselineWeight: r.BaselineWeight, Mirror: r.Mirror},
		Baseline: baselineFor(&s, &c.Status),
	}
}

// baselineFor is a ready <target>-baseline on the primary's revision while one is compared
// and analysing, and none otherwise.
func baselineFor(s *settings, st *siskinv1.CanaryStatus) Workload {
	if !s.strategy.baseline || !analysing(st.Phase) {
		return Workload{}
	}
	return Workload{Exists: true, Fingerprint: st.LastPromotedSpec, Ready: true, Replicas: 2, Available: 2}
}

// metricCheck is a request-success-rate result with the verdict given.
func metricCheck(v siskinv1.CheckVerdict, now time.Time) siskinv1.CheckResult {
	value := "99.9"
	switch v {
	case siskinv1.VerdictFail:
		value = "95.5"
	case siskinv1.VerdictNoData, siskinv1.VerdictError:
		value = ""
	}
	msg := ""
	if v == siskinv1.VerdictNoData {
		msg = "3 requests in 1m, 10 needed"
	}
	return siskinv1.CheckResult{Name: siskinv1.MetricRequestSuccessRate, Kind: "metric", Value: value, Min: "99",
		Verdict: v, Message: msg, Time: metav1.NewTime(now)}
}

// hookCheck is a webhook result.
func hookCheck(name string, v siskinv1.CheckVerdict, now time.Time) siskinv1.CheckResult {
	msg := ""
	if v != siskinv1.VerdictPass {
		msg = "status 500: load test failed"
	}
	return siskinv1.CheckResult{Name: name, Kind: "webhook", Verdict: v, Message: msg, Time: metav1.NewTime(now)}
}

// formatActions renders actions compactly, for assertions and step logs.
func formatActions(actions []Action) string {
	parts := make([]string, 0, len(actions))
	for _, a := range actions {
		switch a.Type {
		case SetRoute:
			s := fmt.Sprintf("SetRoute(%d/%d", a.Route.PrimaryWeight, a.Route.CanaryWeight)
			if a.Route.BaselineWeight > 0 {
				s += fmt.Sprintf(" baseline %d", a.Route.BaselineWeight)
			}
			if a.Route.Mirror {
				s += fmt.Sprintf(" mirror %d%%", a.Route.MirrorWeight)
			}
			parts = append(parts, s+")")
		case CallWebhooks:
			parts = append(parts, fmt.Sprintf("CallWebhooks(%s)", a.Hook))
		case Promote:
			parts = append(parts, fmt.Sprintf("Promote(%s)", a.Revision))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// formatEvents renders event reasons, marking warnings with their severity and muted events.
func formatEvents(events []Event) string {
	parts := make([]string, 0, len(events))
	for _, e := range events {
		s := e.Reason
		if e.Warning {
			s += "!" + string(e.Severity)
		}
		if e.Mute {
			s += "(muted)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// conditionOf renders a condition as status/reason, or "-" when absent.
func conditionOf(st *siskinv1.CanaryStatus, typ string) string {
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil {
		return "-"
	}
	return string(c.Status) + "/" + c.Reason
}
