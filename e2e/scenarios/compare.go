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

// The comparison scenarios judge a release against its primary with analysis.comparison, on
// the data plane's own metrics in the environment's Prometheus, with all users coming through
// the apex host as real users do.

// comparedCanary is a Canary for a service whose normal error rate is 6%: the success-rate
// threshold a Flagger manifest for it would use (80%) over 30 s, five steps of 10% every 20 s,
// and, unless thresholdsOnly, a comparison of its errors with the primary's looked at every
// 5 s, at alpha 0.05 (a short rollout on little traffic carries little evidence).
func (r *rig) comparedCanary(thresholdsOnly bool, mods ...func(*siskinv1.CanaryComparison)) *siskinv1.Canary {
	c := r.apexCanary()
	a := c.Spec.Analysis
	a.Interval, a.StepWeight, a.MaxWeight, a.Threshold = "20s", 10, ptr.To[int32](50), 2
	a.Metrics = []siskinv1.CanaryMetric{{Name: siskinv1.MetricRequestSuccessRate, Interval: "30s",
		ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr.To(80.0)}, MinSample: &siskinv1.CanaryMetricMinSample{Min: 10}}}
	if thresholdsOnly {
		return c
	}
	a.Comparison = &siskinv1.CanaryComparison{LookInterval: "5s", Alpha: ptr.To(0.05), Metrics: []siskinv1.ComparedMetric{{Name: siskinv1.MetricRequestSuccessRate}}}
	for _, m := range mods {
		m(a.Comparison)
	}
	return c
}

// usersRPS is the rate of user requests through the apex host in the comparison scenarios.
const usersRPS = 50

// regressionRPS is the rate of user requests in ComparisonCatchesWhatThresholdsMiss. At
// usersRPS a doubled error rate crossed the evidence bar after 13 to 26 of the rollout's ~26
// looks in rehearsals, and once (CI, loaded machine) not before the last step; twice the
// traffic gives the same test twice the evidence per look, so it decides with half the
// rollout to spare.
const regressionRPS = 2 * usersRPS

// ComparisonCatchesWhatThresholdsMiss: a release answering 12% of requests with 500, twice its
// primary's 6% but well above the 80% success-rate threshold, is rolled out twice side by
// side: judged by thresholds alone it is promoted; with the comparison (and advise mode) it
// pauses with the evidence, asks a person in Slack, and the person's abort rolls it back.
func ComparisonCatchesWhatThresholdsMiss(t *testing.T, in Input) {
	cmpIn, thrIn := in, in
	thrIn.Namespace = in.Namespace + "-thresholds"
	cmp, thr := newRig(t, cmpIn), newRig(t, thrIn)
	for _, r := range []*rig{cmp, thr} {
		r.app(map[string]string{"VERSION": "1.0.0", "ERROR_RATE": "0.06"})
	}
	compared := cmp.comparedCanary(false)
	compared.Spec.Analysis.Advise = &siskinv1.CanaryAdvise{Timeout: "10m"}
	cmp.create(compared)
	thr.create(thr.comparedCanary(true))
	users := []*framework.Traffic{
		in.Env.StartTraffic(cmp.ctx, cmp.host(), regressionRPS, nil),
		in.Env.StartTraffic(thr.ctx, thr.host(), regressionRPS, nil),
	}
	defer func() {
		for _, u := range users {
			t.Logf("users: %s", u.Stop())
		}
	}()
	rec := cmp.record()

	bad := map[string]string{"VERSION": "1.1.0", "ERROR_RATE": "0.12"}
	cmp.release(bad)
	thr.release(bad)

	asked := cmp.wait(rolloutTimeout, "the comparison to ask a person", func(c *siskinv1.Canary) bool {
		return c.Status.Advice != nil || terminal(c)
	})
	if asked.Status.Advice == nil || !asked.Status.Paused {
		cmp.fatalf("the comparison did not ask about a release with twice the primary's errors: phase %s, %s\n%s",
			asked.Status.Phase, readyMessage(asked), framework.Format(rec.Snapshots()))
	}
	ms := asked.Status.Comparison.Metrics[0]
	if ms.Verdict != siskinv1.ComparisonRegression || !strings.Contains(asked.Status.Advice.Message, "× the primary's (95% CS") {
		cmp.fatalf("advice %q, compared metric %+v", asked.Status.Advice.Message, ms)
	}
	t.Logf("asked after %d looks: %s", asked.Status.Comparison.Looks, asked.Status.Advice.Message)
	cmp.slackContains("× the primary's")
	// Paused, it waits: no step, no promotion, and the route keeps the canary's share.
	time.Sleep(20 * time.Second)
	held, err := in.Env.GetCanary(cmp.ctx, in.Namespace, in.Name)
	if err != nil {
		t.Fatal(err)
	}
	if held.Status.Phase != siskinv1.PhaseProgressing || held.Status.CanaryWeight != asked.Status.CanaryWeight || held.Status.Advice == nil {
		cmp.fatalf("while it waited for a person the rollout moved: phase %s weight %d (was %d)", held.Status.Phase, held.Status.CanaryWeight, asked.Status.CanaryWeight)
	}
	cmp.annotate(siskinv1.AnnotationAbort, "abort-after-advice")
	c := cmp.waitPhase(rolloutTimeout, siskinv1.PhaseFailed, siskinv1.PhaseSucceeded)
	if c.Status.Phase != siskinv1.PhaseFailed || cmp.primaryVersion() != "1.0.0" {
		cmp.fatalf("after the abort: phase %s, primary %s", c.Status.Phase, cmp.primaryVersion())
	}
	cmp.expectRouteAtRest()

	p := thr.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded, siskinv1.PhaseFailed)
	if p.Status.Phase != siskinv1.PhaseSucceeded || thr.primaryVersion() != "1.1.0" {
		thr.fatalf("judged by its 80%% threshold alone, the release with 12%% errors should have been promoted (as Flagger would): phase %s, %s", p.Status.Phase, readyMessage(p))
	}
}

// ComparisonEarlyPass: a release as good as its primary (an A/A test), with earlyPass, is
// promoted as soon as every compared metric shows it not worse than the primary by more than
// the margin, before its last weight step.
func ComparisonEarlyPass(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0", "ERROR_RATE": "0.2"})
	c := r.comparedCanary(false, func(cmp *siskinv1.CanaryComparison) {
		cmp.EarlyPass, cmp.Margin = true, ptr.To(0.5)
	})
	// Errors are the evidence: a service that fails one request in five gives plenty (the
	// threshold suits it), and a slower schedule leaves the evidence time to build.
	c.Spec.Analysis.Metrics[0].ThresholdRange.Min = ptr.To(60.0)
	r.create(c)
	users := in.Env.StartTraffic(r.ctx, r.host(), 80, nil)
	rec := r.record()

	r.release(map[string]string{"VERSION": "1.1.0", "ERROR_RATE": "0.2"})
	got := r.waitPhase(2*rolloutTimeout, siskinv1.PhaseSucceeded, siskinv1.PhaseFailed)
	t.Logf("users: %s", users.Stop())
	if got.Status.Phase != siskinv1.PhaseSucceeded {
		r.fatalf("an A/A release was not promoted: %s\n%s", readyMessage(got), framework.Format(rec.Snapshots()))
	}
	var top int32
	for _, s := range r.snapshots(rec, siskinv1.PhaseSucceeded) {
		if s.Phase == siskinv1.PhaseProgressing {
			top = max(top, s.Weight)
		}
	}
	if top >= 50 {
		r.fatalf("promoted after reaching weight %d: early pass should have skipped the last steps (evidence: %+v)", top, got.Status.Comparison)
	}
	if v := got.Status.Comparison.Metrics[0].Verdict; v != siskinv1.ComparisonNotWorse {
		r.fatalf("compared metric verdict %s at the promotion, want NotWorse", v)
	}
	t.Logf("promoted early from weight %d: %s", top, got.Status.Comparison.Metrics[0].Message)
}

// ComparisonAgainstABaseline: with control baseline, <name>-baseline runs the primary's
// revision beside the canary with the same weight (a three-way route on the data plane); a
// release with twice the baseline's errors is rolled back on the comparison, and the baseline
// is removed once the route sends it nothing.
func ComparisonAgainstABaseline(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0", "ERROR_RATE": "0.06"})
	c := r.comparedCanary(false, func(cmp *siskinv1.CanaryComparison) { cmp.Control = siskinv1.ControlBaseline })
	r.create(c)
	users := in.Env.StartTraffic(r.ctx, r.host(), usersRPS, nil)
	defer func() { t.Logf("users: %s", users.Stop()) }()
	rec := r.record()
	baseline := in.Name + "-baseline"

	r.release(map[string]string{"VERSION": "1.1.0", "ERROR_RATE": "0.12"})
	split := r.wait(rolloutTimeout, "a three-way split", func(c *siskinv1.Canary) bool {
		if terminal(c) || c.Status.CanaryWeight == 0 {
			return terminal(c)
		}
		rt, err := in.Env.Route(r.ctx, in.Router.Provider, in.Namespace, in.Name)
		return err == nil && rt.Weight("", baseline) == c.Status.CanaryWeight && rt.Weight("", in.Name+"-canary") == c.Status.CanaryWeight
	})
	if terminal(split) {
		r.fatalf("the rollout ended (%s) before the route split three ways\n%s", readyMessage(split), framework.Format(rec.Snapshots()))
	}
	if env, err := in.Env.DeploymentEnv(r.ctx, in.Namespace, baseline); err != nil || env["VERSION"] != "1.0.0" {
		r.fatalf("%s runs %v (%v); it should run the primary's revision 1.0.0", baseline, env, err)
	}
	done := r.waitPhase(rolloutTimeout, siskinv1.PhaseFailed, siskinv1.PhaseSucceeded)
	if done.Status.Phase != siskinv1.PhaseFailed || done.Status.Comparison == nil || !strings.Contains(readyMessage(done), "× the baseline's") {
		r.fatalf("a release with twice the baseline's errors: phase %s, %s\n%s", done.Status.Phase, readyMessage(done), framework.Format(rec.Snapshots()))
	}
	t.Logf("rolled back: %s", readyMessage(done))
	r.expectRouteAtRest()
	err := framework.Eventually(r.ctx, 30*time.Second, baseline+" removed", func(ctx context.Context) (bool, error) {
		_, err := in.Env.DeploymentEnv(ctx, in.Namespace, baseline)
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		r.fatalf("%v", err)
	}
}
