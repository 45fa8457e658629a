package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// watcher prints what changes while a release rolls out: phase and weight, the checks of each
// analysis step, the live VirtualService, new Slack messages and what the users saw.
type watcher struct {
	d     *demo
	env   *framework.Env
	users *framework.Traffic

	phase     siskinv1.CanaryPhase
	weight    int32
	failed    int32
	checksAt  time.Time
	route     string
	slackSeen int
}

// init remembers the current state, so that only changes from here on are printed.
func (w *watcher) init(ctx context.Context) error {
	c, err := w.env.GetCanary(ctx, namespace, app)
	if err != nil {
		return err
	}
	w.phase, w.weight, w.failed = c.Status.Phase, c.Status.CanaryWeight, c.Status.FailedChecks
	if r, err := w.env.Route(ctx, siskinv1.ProviderIstio, namespace, app); err == nil {
		w.route = weights(r)
	}
	msgs, err := w.env.SlackMessages(ctx, namespace, app)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		w.d.printf("slack: %s", m.Text)
	}
	w.slackSeen = len(msgs)
	return nil
}

// release changes the Deployment's environment and follows the rollout until it ends.
func (w *watcher) release(ctx context.Context, version string, env map[string]string, want siskinv1.CanaryPhase) *outcome {
	o := &outcome{version: version}
	before, err := w.env.GetCanary(ctx, namespace, app)
	if err != nil {
		o.problems = append(o.problems, err.Error())
		return o
	}
	w.users.Take()
	start := time.Now()
	if err := w.env.SetEnv(ctx, namespace, app, env); err != nil {
		o.problems = append(o.problems, err.Error())
		return o
	}
	deadline := time.Now().Add(3 * time.Minute)
	var last *siskinv1.Canary
	var endedAt time.Time
	for ctx.Err() == nil {
		c, err := w.env.GetCanary(ctx, namespace, app)
		if err == nil {
			last = c
			w.show(ctx, c, o)
			done := c.Status.LastAppliedSpec != before.Status.LastAppliedSpec &&
				(c.Status.Phase == siskinv1.PhaseSucceeded || c.Status.Phase == siskinv1.PhaseFailed)
			if done && endedAt.IsZero() {
				endedAt = time.Now()
				o.took = endedAt.Sub(start)
			}
			// Give the last Slack messages and route change a moment to show.
			if done && time.Since(endedAt) > 3*time.Second {
				break
			}
		}
		if time.Now().After(deadline) {
			o.problems = append(o.problems, fmt.Sprintf("release %s did not finish within 3 minutes", version))
			if last != nil {
				w.d.printf("%s", w.env.Diagnose(ctx, namespace, app, nil))
			}
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
	o.users.Add(w.users.Take())
	if last != nil {
		o.phase = last.Status.Phase
		o.message = condMessage(last)
	}
	if o.phase != want {
		o.problems = append(o.problems, fmt.Sprintf("release %s ended %s, expected %s", version, o.phase, want))
	}
	return o
}

// show prints what changed since the last look.
func (w *watcher) show(ctx context.Context, c *siskinv1.Canary, o *outcome) {
	st := c.Status
	threshold := int32(1)
	if c.Spec.Analysis != nil {
		threshold = c.Spec.Analysis.Threshold
	}
	o.maxWeight = max(o.maxWeight, st.CanaryWeight)
	if st.Phase != w.phase || st.CanaryWeight != w.weight || st.FailedChecks != w.failed {
		line := fmt.Sprintf("phase %-12s canary weight %3d%%   failed checks %d/%d", st.Phase, st.CanaryWeight, st.FailedChecks, threshold)
		w.d.printf("%s", line)
		if st.CanaryWeight != w.weight {
			if st.CanaryWeight > w.weight && st.Phase == siskinv1.PhaseProgressing {
				o.weights = append(o.weights, st.CanaryWeight)
			}
			seen := w.users.Take()
			o.users.Add(seen)
			w.d.printf("  users while the canary weight was %d%%: %s", w.weight, seen)
			if seen.Failed > 0 {
				w.d.printf("    failed: codes %v; first: %s", seen.Codes, seen.FirstFailure)
			}
		}
		w.phase, w.weight, w.failed = st.Phase, st.CanaryWeight, st.FailedChecks
	}
	if at := checksTime(c); at.After(w.checksAt) {
		w.checksAt = at
		for _, ch := range st.LastChecks {
			w.d.printf("  %s", formatCheck(ch))
		}
	}
	if r, err := w.env.Route(ctx, siskinv1.ProviderIstio, namespace, app); err == nil {
		if s := weights(r); s != w.route {
			w.route = s
			w.d.printf("  VirtualService: %s", s)
		}
	}
	if msgs, err := w.env.SlackMessages(ctx, namespace, app); err == nil && len(msgs) > w.slackSeen {
		for _, m := range msgs[w.slackSeen:] {
			w.d.printf("  slack: %s", strings.TrimPrefix(m.Text, namespace+"/"+app+": "))
		}
		w.slackSeen = len(msgs)
	}
}

func checksTime(c *siskinv1.Canary) time.Time {
	var t time.Time
	for _, ch := range c.Status.LastChecks {
		if ch.Time.After(t) {
			t = ch.Time.Time
		}
	}
	return t
}

func formatCheck(ch siskinv1.CheckResult) string {
	if ch.Kind == "webhook" {
		msg := ch.Message
		if i := strings.IndexByte(msg, ':'); i > 0 {
			msg = msg[:i]
		}
		return fmt.Sprintf("check webhook %-22s %-6s (%s)", ch.Name, ch.Verdict, msg)
	}
	bound := ""
	switch {
	case ch.Min != "" && ch.Max != "":
		bound = "[" + ch.Min + ", " + ch.Max + "]"
	case ch.Min != "":
		bound = "min " + ch.Min
	case ch.Max != "":
		bound = "max " + ch.Max
	}
	if ch.Verdict == siskinv1.VerdictNoData || ch.Value == "" {
		return fmt.Sprintf("check metric  %-22s %-6s (%s)", ch.Name, ch.Verdict, ch.Message)
	}
	return fmt.Sprintf("check metric  %-22s %-6s value %s, %s", ch.Name, ch.Verdict, ch.Value, bound)
}

// weights summarises the default route: "podinfo-primary 80% / podinfo-canary 20%".
func weights(r *framework.Route) string {
	if len(r.Rules) == 0 {
		return "(no routes)"
	}
	rule := r.Rules[len(r.Rules)-1]
	parts := make([]string, 0, len(rule.Backends))
	for _, b := range rule.Backends {
		parts = append(parts, fmt.Sprintf("%s %d%%", b.Service, b.Weight))
	}
	return strings.Join(parts, " / ")
}

// checkGood verifies a promotion: every weight step taken, the primary runs the new version,
// all traffic on it, and the users saw no failure.
func (w *watcher) checkGood(ctx context.Context, o *outcome) {
	var problems []string
	for _, step := range []int32{20, 40, 60} {
		if !slices.Contains(o.weights, step) {
			problems = append(problems, fmt.Sprintf("weight step %d%% was not seen (saw %v)", step, o.weights))
		}
	}
	problems = append(problems, w.checkPrimary(ctx, o, "1.1.0")...)
	o.problems = append(o.problems, problems...)
}

// checkBad verifies a rollback: the reason names the metric, its value and bound; the primary
// still runs 1.1.0 and takes all traffic.
func (w *watcher) checkBad(ctx context.Context, o *outcome) {
	var problems []string
	if !strings.Contains(o.message, "request-success-rate") || !strings.Contains(o.message, "below min 99") {
		problems = append(problems, fmt.Sprintf("rollback reason does not name the metric and its bound: %q", o.message))
	}
	problems = append(problems, w.checkPrimary(ctx, o, "1.1.0")...)
	o.problems = append(o.problems, problems...)
}

func (w *watcher) checkPrimary(ctx context.Context, o *outcome, version string) []string {
	var problems []string
	env, err := w.env.DeploymentEnv(ctx, namespace, app+"-primary")
	if err != nil {
		return []string{err.Error()}
	}
	o.primary = env["VERSION"]
	if o.primary != version {
		problems = append(problems, fmt.Sprintf("podinfo-primary runs VERSION %q, expected %s", o.primary, version))
	}
	r, err := w.env.Route(ctx, siskinv1.ProviderIstio, namespace, app)
	if err != nil {
		return append(problems, err.Error())
	}
	if p, c := r.Weight("", app+"-primary"), r.Weight("", app+"-canary"); p != 100 || c != 0 {
		problems = append(problems, fmt.Sprintf("route is %s, expected all traffic on the primary", weights(r)))
	}
	for range 10 {
		resp, err := w.env.Get(ctx, framework.Istio.Host(namespace, app, port), "/", nil)
		if err != nil || resp.Code != 200 || resp.Version != version {
			problems = append(problems, fmt.Sprintf("a user request answered %d from version %q (err %v), expected 200 from %s", resp.Code, resp.Version, err, version))
			break
		}
	}
	return problems
}

// summary explains what happened and returns the exit code.
func (d *demo) summary(repo string, env *framework.Env, ctrl *framework.Controller, envUp time.Duration, good, bad *outcome, slack int) int {
	d.section("Summary")
	lines := []string{
		fmt.Sprintf("Environment: a local Kubernetes with a mesh stand-in came up in %.0fs.", envUp.Seconds()),
		"Siskin kept podinfo 1.0.0 serving as podinfo-primary and started each new version beside it.",
		fmt.Sprintf("Good release %s: traffic moved to it in steps %s, every step checked", good.version, steps(good.weights)),
		fmt.Sprintf("  against Prometheus; %s after %.0fs. podinfo-primary now runs %s.", verb(good.phase), good.took.Seconds(), good.primary),
		fmt.Sprintf("  Users: %s.", good.users),
		lossNote(good.users),
		fmt.Sprintf("Bad release %s (30%% errors): %s after %.0fs, %s.", bad.version, verb(bad.phase), bad.took.Seconds(), exposure(bad.maxWeight)),
		fmt.Sprintf("  Why: %s", bad.message),
		fmt.Sprintf("  podinfo-primary still runs %s. Users: %s.", bad.primary, bad.users),
		lossNote(bad.users),
		fmt.Sprintf("Slack received %d messages (the sink kept them; see the 'slack:' lines above).", slack),
		fmt.Sprintf("The demo took %.0fs in all.", time.Since(d.start).Seconds()),
		fmt.Sprintf("Logs (kept after teardown): controller %s; environment %s/.", rel(repo, ctrl.LogFile()), rel(repo, filepath.Join(env.StateDir, "logs"))),
	}
	for _, l := range lines {
		if l != "" {
			d.printf("%s", l)
		}
	}
	problems := append(append([]string(nil), good.problems...), bad.problems...)
	if err := errorsJoin(problems); err != nil {
		d.printf("DEMO FAILED: %v", err)
		return 1
	}
	d.printf("DEMO PASSED: the good version was promoted and the bad one rolled back, as expected.")
	return 0
}

func steps(ws []int32) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%d%%", w)
	}
	return strings.Join(parts, " → ")
}

func verb(p siskinv1.CanaryPhase) string {
	switch p {
	case siskinv1.PhaseSucceeded:
		return "promoted"
	case siskinv1.PhaseFailed:
		return "rolled back"
	}
	return "ended " + string(p)
}

func exposure(maxWeight int32) string {
	if maxWeight == 0 {
		return "before any user request reached it: only the load test's requests found the errors"
	}
	return fmt.Sprintf("after at most %d%% of user requests had reached it", maxWeight)
}

// lossNote explains failed user requests, if any: "" when there were none.
func lossNote(s framework.TrafficStats) string {
	switch s.Failed {
	case 0:
		return ""
	case s.Refused:
		return fmt.Sprintf("  Note: %d user requests were refused while podinfo-primary's pods were replaced; the local"+
			" mesh stand-in retries once, like Envoy, but does not let a deleted pod finish its requests (first: %s).", s.Failed, s.FirstFailure)
	}
	return fmt.Sprintf("  Note: %d user requests failed (codes %v; first: %s).", s.Failed, s.Codes, s.FirstFailure)
}
