//go:build e2e

package scenarios

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// stepSeen is one value of alice's status.lastStepTime: the stamp and when the test first saw it.
type stepSeen struct {
	stamp, seen time.Time
	phase       siskinv1.CanaryPhase
	weight      int32
	revision    string
}

// stepWatch records every value alice's status.lastStepTime takes, polling every 100 ms.
type stepWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	steps  []stepSeen
}

func (h *hostile) watchSteps() *stepWatch {
	ctx, cancel := context.WithCancel(h.ctx)
	w := &stepWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			c, err := h.env.GetCanary(ctx, h.aliceNS, h.in.Name)
			if err == nil && c.Status.LastStepTime != nil {
				st := c.Status.LastStepTime.Time
				if n := len(w.steps); n == 0 || !w.steps[n-1].stamp.Equal(st) {
					w.steps = append(w.steps, stepSeen{stamp: st, seen: time.Now(), phase: c.Status.Phase, weight: c.Status.CanaryWeight, revision: c.Status.LastAppliedSpec})
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	h.t.Cleanup(func() { w.stop() })
	return w
}

func (w *stepWatch) stop() []stepSeen {
	w.cancel()
	<-w.done
	return w.steps
}

// expectOnTime fails unless every analysis step of alice's rollout of revision ran at most
// 2 s after it was due.
//
// Method: the planner schedules step i at lastStepTime(i-1) + interval and stamps the step it
// runs into status.lastStepTime. The status keeps whole seconds, so the stamp is the due time
// when the step ran less than a second late, and otherwise the time it ran, rounded up to the
// second (pkg/canary stepStamp). Lateness = stamp(i) - (stamp(i-1) + interval) is therefore 0
// for a step under a second late and ceil(true lateness) otherwise; "at most 2 s" on it is
// exactly "true lateness at most 2 s". The stamp is taken when the round starts, before the
// step's checks are gathered, but a step whose checks outlast the worker's hold runs in a
// later round with a later stamp, so a slow gathering counts as late too. The stamps run from
// the start of the rollout to the step that started the promotion; that step's stamp is the
// promotion's start, always rounded up, so it reads up to 1 s late even when the step ran on
// time, which the 2 s bound absorbs. When the test first saw
// each stamp (polled every 100 ms) is logged beside it, for the time the status write took.
func (h *hostile) expectOnTime(steps []stepSeen, revision, interval string) {
	h.t.Helper()
	iv, err := time.ParseDuration(interval)
	if err != nil {
		h.t.Fatal(err)
	}
	var run []stepSeen
	for _, s := range steps {
		if s.revision != revision {
			continue
		}
		run = append(run, s)
		if s.phase != siskinv1.PhaseProgressing {
			break // the step that started the promotion
		}
	}
	var b strings.Builder
	late := ""
	for i, s := range run {
		if i == 0 {
			fmt.Fprintf(&b, "  rollout start %s (seen %s)\n", s.stamp.Format("15:04:05"), s.seen.Format("15:04:05.000"))
			continue
		}
		due := run[i-1].stamp.Add(iv)
		lateness := s.stamp.Sub(due)
		fmt.Fprintf(&b, "  step %d: due %s, stamped %s (late %s), seen %s (+%s), then %s at %d%%\n", i, due.Format("15:04:05"),
			s.stamp.Format("15:04:05"), lateness, s.seen.Format("15:04:05.000"), s.seen.Sub(due).Round(time.Millisecond), s.phase, s.weight)
		if lateness > 2*time.Second && late == "" {
			late = fmt.Sprintf("step %d ran %s late", i, lateness)
		}
	}
	h.t.Logf("alice's analysis steps:\n%s", b.String())
	if len(run) < 4 {
		h.alice.fatalf("saw %d values of lastStepTime for alice's revision; expected the start, two steps and the promotion:\n%s", len(run), b.String())
	}
	if late != "" {
		h.alice.fatalf("alice's %s while mallory attacked (at most 2 s allowed):\n%s", late, b.String())
	}
}

// watchStatuses polls every Canary in the cluster twice a second: it keeps the check and Ready
// messages of mallory's Canaries (a later step may replace them) and looks for secret values
// in every status it sees, not only in the last one.
func (h *hostile) watchStatuses() {
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			h.pollStatuses(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	h.t.Cleanup(func() { cancel(); <-done })
}

func (h *hostile) pollStatuses(ctx context.Context) {
	var list siskinv1.CanaryList
	if err := h.env.Client.List(ctx, &list); err != nil {
		return
	}
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	h.polled += len(list.Items)
	for _, c := range list.Items {
		b, _ := json.Marshal(c.Status)
		if s := h.findSecret(string(b)); s != "" && h.leak == "" {
			h.leak = fmt.Sprintf("the status of Canary %s/%s holds %s: %s", c.Namespace, c.Name, s, b)
		}
		if c.Namespace != h.malloryNS {
			continue
		}
		note := func(key, msg string) {
			if h.seen[key] == nil {
				h.seen[key] = map[string]bool{}
			}
			h.seen[key][msg] = true
		}
		for _, ch := range c.Status.LastChecks {
			note(c.Name+"/"+ch.Name, string(ch.Verdict)+": "+ch.Message)
		}
		if cond := framework.Condition(&c, siskinv1.ConditionReady); cond != nil {
			note(c.Name+"/Ready", cond.Reason+": "+cond.Message)
		}
	}
}

// refusal is what one of mallory's inputs must be answered with on her Canary.
type refusal struct {
	canary, check string
	want          []string
}

// expectRefusals waits until each refused input has its reason in the lastChecks of mallory's
// Canary, and that the borrowed alert provider was refused in an event.
func (h *hostile) expectRefusals() {
	h.t.Helper()
	refusals := []refusal{
		{mBomb, "bomb", []string{"define or block", "not allowed in queries"}},
		{mBomb, "bomb-range", []string{"range", "not allowed in queries"}},
		{mBomb, "bomb-printf", []string{"exceeds 64 KiB"}},
		{mBorrow, "platform-latency", []string{"MetricTemplate " + h.platformNS + "/latency", "cross-namespace references are refused"}},
		{mSSRF, "metadata", []string{"169.254.169.254", "refused by the outbound policy"}},
		{mSSRF, "echo", []string{"answered 500", webhooks.Redacted}},
		{mLoad, "load-test", []string{"answered 400", "concurrency 1000000 exceeds the limit 1000 (--max-concurrency)"}},
	}
	for _, rf := range refusals {
		key := rf.canary + "/" + rf.check
		err := framework.Eventually(h.ctx, 60*time.Second, "the refusal of "+key, func(context.Context) (bool, error) {
			return h.seenMessage(key, rf.want) != "", nil
		})
		if err != nil {
			h.mallory[rf.canary].fatalf("%v: no check message of %s contains %q; messages seen on mallory's Canaries:\n%s", err, key, rf.want, h.seenMessages())
		}
		h.t.Logf("%s: %s", key, h.seenMessage(key, rf.want))
	}
	h.expectEvent(mBorrow, "CrossNamespaceRefRefused", "cross-namespace references are refused")
}

// seenMessage returns a message seen for key that contains every want, or "".
func (h *hostile) seenMessage(key string, want []string) string {
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	for msg := range h.seen[key] {
		ok := !strings.HasPrefix(msg, string(siskinv1.VerdictPass))
		for _, w := range want {
			ok = ok && strings.Contains(msg, w)
		}
		if ok {
			return msg
		}
	}
	return ""
}

func (h *hostile) seenMessages() string {
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	var lines []string
	for key, msgs := range h.seen {
		for msg := range msgs {
			lines = append(lines, "  "+key+": "+msg)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// expectEvent waits for an event about mallory's Canary with reason and a message containing want.
func (h *hostile) expectEvent(canary, reason, want string) {
	h.t.Helper()
	err := framework.Eventually(h.ctx, 60*time.Second, "event "+reason+" on "+canary, func(ctx context.Context) (bool, error) {
		var evs corev1.EventList
		if err := h.env.Client.List(ctx, &evs, client.InNamespace(h.malloryNS)); err != nil {
			return false, err
		}
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Name == canary && ev.Reason == reason && strings.Contains(ev.Message, want) {
				h.t.Logf("%s event %s: %s", canary, reason, ev.Message)
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		h.mallory[canary].fatalf("%v", err)
	}
}

// expectHangsReached fails unless the hanging receiver was called by every hanging rollout
// webhook: otherwise the scenario would not have tested hanging calls at all.
func (h *hostile) expectHangsReached() {
	h.t.Helper()
	want := 2 * hangHooks
	err := framework.Eventually(h.ctx, 30*time.Second, "the hanging webhooks to be called", func(context.Context) (bool, error) {
		return h.hangSrv.count("/hang") >= want, nil
	})
	if err != nil {
		h.mallory[mHangA].fatalf("%v: the hanging receiver got %d rollout calls; expected at least %d", err, h.hangSrv.count("/hang"), want)
	}
	h.t.Logf("hanging receiver: %d rollout and %d event calls held", h.hangSrv.count("/hang"), h.hangSrv.count("/events"))
	for _, name := range []string{mHangA, mHangB} {
		c, err := h.env.GetCanary(h.ctx, h.malloryNS, name)
		if err == nil {
			h.t.Logf("%s: phase %s, %s", name, c.Status.Phase, readyMessage(c))
		}
	}
}

// expectControllerUp fails if the controller process ended or was started more than once, or
// recovered from a panic, during the scenario.
func (h *hostile) expectControllerUp() {
	h.t.Helper()
	if exited, err := h.ctrl.Exited(); exited {
		h.alice.fatalf("the controller exited during the scenario (%v)", err)
	}
	b, err := os.ReadFile(h.ctrl.LogFile())
	if err != nil {
		h.t.Fatal(err)
	}
	starts := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "---- ") && strings.Contains(line, " starting ") {
			starts++ // the line framework.Controller writes at each start
			continue
		}
		if strings.Contains(strings.ToLower(line), "panic") {
			h.alice.fatalf("the controller recovered from a panic: %s", line)
		}
	}
	if starts != 1 {
		h.alice.fatalf("the controller log shows %d starts; expected 1", starts)
	}
}

// expectNoSecretLeak looks for every secret value wherever mallory, or anyone without access
// to the Secrets, could read it: every Canary status polled, the other objects' statuses, the
// events of the three namespaces, the controller's log, Slack, and mallory's servers.
func (h *hostile) expectNoSecretLeak() {
	h.t.Helper()
	var leaks []string
	check := func(where, text string) {
		if s := h.findSecret(text); s != "" {
			leaks = append(leaks, fmt.Sprintf("%s holds %s", where, s))
		}
	}
	h.pollStatuses(h.ctx)
	h.statusMu.Lock()
	if h.leak != "" {
		leaks = append(leaks, h.leak)
	}
	polled := h.polled
	h.statusMu.Unlock()
	summary := h.leaksInCluster(check)
	logb, err := os.ReadFile(h.ctrl.LogFile())
	if err != nil {
		h.t.Fatal(err)
	}
	check("the controller log", string(logb))
	msgs, err := h.env.SlackMessages(h.ctx, "", "")
	if err != nil {
		h.t.Fatal(err)
	}
	for _, m := range msgs {
		b, _ := json.Marshal(m)
		check(fmt.Sprintf("Slack message %d", m.Seq), string(b))
		if strings.Contains(m.Path, h.platformSlackPath()) {
			leaks = append(leaks, fmt.Sprintf("Slack message %d was posted through platform's provider: %s", m.Seq, b))
		}
	}
	leaks = append(leaks, h.leaksAtMallory(check)...)
	if len(leaks) > 0 {
		h.alice.fatalf("secret values leaked, or a check of them was not put to the test:\n  %s", strings.Join(leaks, "\n  "))
	}
	h.t.Logf("no secret in %d Canary statuses polled, %s, %d log bytes, %d Slack messages, %d+%d+%d requests to mallory's servers",
		polled, summary, len(logb), len(msgs), len(h.metricsSrv.requests()), len(h.echoSrv.requests()), len(h.hangSrv.requests()))
}

// leaksInCluster checks the statuses of the MetricTemplates and AlertProviders and every event
// of the three namespaces, and says how many it looked at.
func (h *hostile) leaksInCluster(check func(where, text string)) string {
	h.t.Helper()
	var templates siskinv1.MetricTemplateList
	var providers siskinv1.AlertProviderList
	if err := h.env.Client.List(h.ctx, &templates); err != nil {
		h.t.Fatal(err)
	}
	if err := h.env.Client.List(h.ctx, &providers); err != nil {
		h.t.Fatal(err)
	}
	for _, x := range templates.Items {
		b, _ := json.Marshal(x.Status)
		check("the status of MetricTemplate "+x.Namespace+"/"+x.Name, string(b))
	}
	for _, x := range providers.Items {
		b, _ := json.Marshal(x.Status)
		check("the status of AlertProvider "+x.Namespace+"/"+x.Name, string(b))
	}
	events := 0
	for _, ns := range []string{h.aliceNS, h.malloryNS, h.platformNS} {
		var evs corev1.EventList
		if err := h.env.Client.List(h.ctx, &evs, client.InNamespace(ns)); err != nil {
			h.t.Fatal(err)
		}
		for _, ev := range evs.Items {
			b, _ := json.Marshal(ev)
			check(fmt.Sprintf("event %s/%s (%s)", ns, ev.Name, ev.Reason), string(b))
		}
		events += len(evs.Items)
	}
	return fmt.Sprintf("%d MetricTemplates, %d AlertProviders, %d events", len(templates.Items), len(providers.Items), events)
}

// leaksAtMallory checks what mallory's servers received: none of the values but her echoed
// header, which goes to the address beside it by design, and no credentials at all (the
// controller's own metrics server has none). A server that should have been called and was
// not is reported too: the checks would then prove nothing.
func (h *hostile) leaksAtMallory(check func(where, text string)) []string {
	h.t.Helper()
	var leaks []string
	for _, r := range h.metricsSrv.requests() {
		check("a request to mallory's metrics server", r.String())
		if r.Header.Get("Authorization") != "" {
			leaks = append(leaks, "a request to mallory's metrics server carries an Authorization header: "+r.String())
		}
	}
	echoed := false
	for _, r := range h.echoSrv.requests() {
		check("a request to mallory's echo server", strings.ReplaceAll(r.String(), h.echoHeader, "<her own header>"))
		echoed = echoed || r.Header.Get("X-Echo-Token") == h.echoHeader
	}
	for _, r := range h.hangSrv.requests() {
		check("a request to mallory's hanging server", r.String())
	}
	if !echoed {
		leaks = append(leaks, "(not a leak) the echo receiver never got mallory's header: the scrubbing of reply excerpts was not exercised")
	}
	if len(h.metricsSrv.requests()) == 0 {
		leaks = append(leaks, "(not a leak) mallory's metrics server was never queried: the credential check proved nothing")
	}
	return leaks
}

// findSecret names the first secret value text holds, as is or base64-encoded; "" if none.
func (h *hostile) findSecret(text string) string {
	for name, v := range map[string]string{
		"platform's bearer token": h.platformToken, "platform's Slack token": h.platformSlackToken,
		"mallory's metadata header": h.metadataHeader, "mallory's echoed header": h.echoHeader,
	} {
		if strings.Contains(text, v) || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(v))) {
			return name
		}
	}
	return ""
}
