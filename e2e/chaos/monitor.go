package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// samplePeriod is how often the monitor reads the primaries, Canaries and routes.
const samplePeriod = 200 * time.Millisecond

// settleLimit is how long a rollout that reached Succeeded or Failed may take to bring its
// route back to 100/0 before that counts as a violation.
const settleLimit = 30 * time.Second

// monitor samples every app and checks the invariants at each sample.
type monitor struct {
	env  *framework.Env
	apps map[string]*app

	mu sync.Mutex
	// samples and failedSamples count the rounds of reads (a failed one: the API server did not
	// answer, e.g. while it restarts); maxGap is the longest time without a sample.
	samples, failedSamples int
	maxGap                 time.Duration
	// wrong lists every wrong primary seen: an episode starts when a primary is first seen
	// running a revision it must not run.
	wrong []string
}

func newMonitor(env *framework.Env, apps []*app) *monitor {
	m := &monitor{env: env, apps: map[string]*app{}}
	for _, a := range apps {
		m.apps[a.ns] = a
	}
	return m
}

func (m *monitor) run(ctx context.Context) {
	last := time.Now()
	tick := time.NewTicker(samplePeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if m.sample(ctx) {
			now := time.Now()
			m.mu.Lock()
			m.samples++
			m.maxGap = max(m.maxGap, now.Sub(last))
			m.mu.Unlock()
			last = now
		} else {
			m.mu.Lock()
			m.failedSamples++
			m.mu.Unlock()
		}
	}
}

// sample reads the primaries first and the Canaries after them: the controller writes the
// status that starts a promotion before it touches the primary, so a primary seen running a
// new revision must be matched by a Canary read later that says Promoting (or later).
func (m *monitor) sample(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var deps appsv1.DeploymentList
	if err := m.env.Client.List(ctx, &deps); err != nil {
		return false
	}
	var canaries siskinv1.CanaryList
	if err := m.env.Client.List(ctx, &canaries); err != nil {
		return false
	}
	var routes networkingv1.VirtualServiceList
	if err := m.env.Client.List(ctx, &routes); err != nil {
		return false
	}
	t := time.Now()
	primary := map[string]string{}
	for _, d := range deps.Items {
		if a := m.apps[d.Namespace]; a != nil && d.Name == a.name+"-primary" && len(d.Spec.Template.Spec.Containers) > 0 {
			primary[d.Namespace] = "1.0.0"
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				if e.Name == "VERSION" {
					primary[d.Namespace] = e.Value
				}
			}
		}
	}
	canary := map[string]*siskinv1.Canary{}
	for i := range canaries.Items {
		canary[canaries.Items[i].Namespace] = &canaries.Items[i]
	}
	route := map[string]*networkingv1.VirtualService{}
	for _, vs := range routes.Items {
		route[vs.Namespace] = vs
	}
	for ns, a := range m.apps {
		pv, ok := primary[ns]
		if !ok {
			pv = ""
		}
		if w := a.observe(t, pv, canary[ns], route[ns]); w != "" {
			m.mu.Lock()
			m.wrong = append(m.wrong, w)
			m.mu.Unlock()
		}
	}
	return true
}

// routeWeights returns the weights of <name>-primary and <name>-canary on the last (default)
// HTTP route.
func routeWeights(vs *networkingv1.VirtualService, ns, name string) (primary, canary int32) {
	http := vs.Spec.GetHttp()
	if len(http) == 0 {
		return 0, 0
	}
	for _, d := range http[len(http)-1].GetRoute() {
		host := strings.TrimSuffix(strings.TrimSuffix(d.GetDestination().GetHost(), ".svc.cluster.local"), "."+ns)
		switch host {
		case name + "-primary":
			primary = d.GetWeight()
		case name + "-canary":
			canary = d.GetWeight()
		}
	}
	return primary, canary
}

func promotingPhase(p siskinv1.CanaryPhase) bool {
	return p == siskinv1.PhasePromoting || p == siskinv1.PhaseFinalising || p == siskinv1.PhaseSucceeded
}

// observe checks one sample of the app and returns a description of a wrong primary when one
// is first seen.
func (a *app) observe(t time.Time, primaryVersion string, c *siskinv1.Canary, vs *networkingv1.VirtualService) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	atRest, routed := false, vs != nil
	if routed {
		p, cw := routeWeights(vs, a.ns, a.name)
		a.routeCanary, a.routeKnown = cw, true
		atRest = p == 100 && cw == 0
	}
	r := a.cur
	if r != nil {
		if !r.lastSample.IsZero() {
			r.maxGap = max(r.maxGap, t.Sub(r.lastSample))
		}
		r.lastSample = t
	}
	about := r != nil && c != nil && c.Status.LastAppliedSpec != "" && c.Status.LastAppliedSpec != r.prevSpec
	wrong := ""
	if primaryVersion != "" && primaryVersion != a.promoted {
		allowed := r != nil && primaryVersion == r.rel.version && (r.promotingSeen || (about && promotingPhase(c.Status.Phase)))
		if !allowed {
			phase, spec := "", ""
			if c != nil {
				phase, spec = string(c.Status.Phase), c.Status.LastAppliedSpec
			}
			cur := ""
			if r != nil {
				cur = r.rel.version
			}
			wrong = fmt.Sprintf("%s %s: primary runs %s; last promoted %s, rollout in progress %q, Canary phase %s lastAppliedSpec %.10s",
				t.Format("15:04:05.0"), a.ns, primaryVersion, a.promoted, cur, phase, spec)
			// One report per episode, not one per sample.
			if key := primaryVersion + "|" + a.promoted; key == a.wrongKey {
				wrong = ""
			} else {
				a.wrongKey = key
				if r != nil {
					r.violations = append(r.violations, "wrong primary: "+wrong)
				}
			}
		} else {
			a.wrongKey = ""
		}
	} else {
		a.wrongKey = ""
	}
	if !about {
		return wrong
	}
	st := c.Status
	if r.spec == "" {
		r.spec = st.LastAppliedSpec
	} else if r.spec != st.LastAppliedSpec {
		r.violations = append(r.violations, fmt.Sprintf("lastAppliedSpec changed from %.10s to %.10s within one release", r.spec, st.LastAppliedSpec))
		r.spec = st.LastAppliedSpec
	}
	r.checkSteps(t, st)
	if r.firstFail.IsZero() {
		for _, lc := range st.LastChecks {
			if lc.Verdict == siskinv1.VerdictFail && !lc.Time.Time.Before(r.released.Truncate(time.Second)) {
				r.firstFail = t
			}
		}
	}
	if st.Phase == siskinv1.PhaseFailed && r.failedAt.IsZero() {
		r.failedAt = t
	}
	if routed {
		if !atRest {
			r.weighted = true
			r.atRestSince = time.Time{}
		} else if r.atRestSince.IsZero() {
			r.atRestSince = t
		}
	}
	terminal := st.Phase == siskinv1.PhaseSucceeded || st.Phase == siskinv1.PhaseFailed
	if !terminal {
		r.active = true
	}
	// A terminal phase counts once the rollout was seen under way: a status naming the new
	// revision with the previous rollout's phase is not its end.
	if r.end == "" && terminal && r.active {
		r.end, r.endTime = st.Phase, t
		var checks []string
		for _, lc := range st.LastChecks {
			checks = append(checks, fmt.Sprintf("%s=%s %s at %s", lc.Name, lc.Value, lc.Verdict, lc.Time.Format("15:04:05")))
		}
		r.endChecks = strings.Join(checks, ", ")
		for _, cond := range st.Conditions {
			if cond.Type == siskinv1.ConditionReady {
				r.endReason = cond.Reason + ": " + cond.Message
			}
		}
	}
	if r.end != "" && (st.Phase != r.end) {
		r.violations = append(r.violations, fmt.Sprintf("phase went from %s to %s without a new release", r.end, st.Phase))
		r.end = st.Phase
	}
	if r.end != "" && (atRest || t.Sub(r.endTime) > settleLimit) {
		if !atRest {
			r.violations = append(r.violations, fmt.Sprintf("route not 100/0 %s after %s", settleLimit, r.end))
		}
		if r.end == siskinv1.PhaseFailed && primaryVersion != "" && primaryVersion != a.promoted {
			r.violations = append(r.violations, fmt.Sprintf("Failed with the primary running %s, not the last promoted %s", primaryVersion, a.promoted))
		}
		if r.end == siskinv1.PhaseSucceeded {
			a.promoted = r.rel.version
		}
		a.cur = nil
		close(r.done)
	}
	return wrong
}

// checkSteps follows the canary weight while Progressing: it only ever goes up, one step at a
// time, and a promotion starts from the last step. A weight that goes back means a step is
// analysed again; one that jumps means a step was skipped.
func (r *rollout) checkSteps(t time.Time, st siskinv1.CanaryStatus) {
	switch {
	case st.Phase == siskinv1.PhaseProgressing:
		w := st.CanaryWeight
		if n := len(r.weights); n == 0 || r.weights[n-1] != w {
			if n > 0 {
				prev := r.weights[n-1]
				switch {
				case w < prev:
					r.violations = append(r.violations, fmt.Sprintf("%s step repeated: weight went back from %d to %d", t.Format("15:04:05.0"), prev, w))
				case w-prev > stepWeight:
					r.violations = append(r.violations, fmt.Sprintf("%s step skipped: weight jumped from %d to %d", t.Format("15:04:05.0"), prev, w))
				}
			} else if w > stepWeight {
				r.violations = append(r.violations, fmt.Sprintf("%s step skipped: first weight seen is %d", t.Format("15:04:05.0"), w))
			}
			r.weights = append(r.weights, w)
		}
		if st.FailedChecks < r.failedChecks {
			r.violations = append(r.violations, fmt.Sprintf("%s failed checks went back from %d to %d", t.Format("15:04:05.0"), r.failedChecks, st.FailedChecks))
		}
		r.failedChecks = max(r.failedChecks, st.FailedChecks)
	case promotingPhase(st.Phase) && !r.promotingSeen:
		r.promotingSeen = true
		if n := len(r.weights); n == 0 || r.weights[n-1] != maxWeight {
			r.violations = append(r.violations, fmt.Sprintf("%s promotion started after weights %v, not from the last step (%d)", t.Format("15:04:05.0"), r.weights, maxWeight))
		}
	}
}
