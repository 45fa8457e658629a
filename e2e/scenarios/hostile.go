//go:build e2e

package scenarios

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// Hostile: one controller serves three tenants. Namespace platform keeps a MetricTemplate whose
// Secret holds a bearer token, and an AlertProvider whose Secret holds a Slack address and
// token. Namespace mallory applies, all at once, Canaries that try every attack of issue 15:
// query-template bombs, a templateRef and an alert providerRef into platform (with the
// Canary's metricsServer pointing at mallory's own server, to receive platform's token), a
// webhook to the cloud metadata address with headers from a Secret, a webhook whose receiver
// echoes those headers back, rollout and event webhooks that hang for their full 5m timeout,
// and a load test asking for a million workers. Meanwhile the test replays a signed load tester
// request at another endpoint. Namespace alice runs an ordinary rollout at the same time.
//
// It asserts that the controller never exits, that alice is promoted with every analysis step
// on time, that no secret value reaches mallory's servers, a Canary's status, an event, the
// controller's log or Slack, and that each refused input says why on mallory's Canary.
func Hostile(t *testing.T, in Input) {
	h := newHostile(t, in)
	h.applyPlatform()
	h.applyMallorySecrets()

	// Every Deployment and Canary is created before any waits, so that mallory's Canaries and
	// alice's are initialised, released and analysed together.
	h.alice.createApp(2)
	for _, r := range h.mallory {
		r.createApp(1)
	}
	if err := in.Env.Client.Create(h.ctx, h.alice.canary()); err != nil {
		t.Fatalf("create alice's Canary: %v", err)
	}
	for _, c := range h.malloryCanaries() {
		if err := in.Env.Client.Create(h.ctx, c); err != nil {
			t.Fatalf("create Canary %s/%s: %v", c.Namespace, c.Name, err)
		}
	}
	h.alice.waitPhase(initTimeout, siskinv1.PhaseInitialized)
	for _, r := range h.mallory {
		r.waitPhase(initTimeout, siskinv1.PhaseInitialized)
	}
	h.alice.waitRouted()

	steps := h.watchSteps()
	h.watchStatuses()
	start := time.Now()
	h.alice.release(map[string]string{"VERSION": "1.1.0"})
	for _, r := range h.mallory {
		r.release(map[string]string{"VERSION": "1.1.0"})
	}
	h.replaySignedGateCall()

	final := h.alice.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded, siskinv1.PhaseFailed)
	if final.Status.Phase != siskinv1.PhaseSucceeded {
		h.alice.fatalf("alice's release was rolled back while mallory attacked: %s", readyMessage(final))
	}
	if v := h.alice.primaryVersion(); v != "1.1.0" {
		h.alice.fatalf("alice's primary runs %q after the promotion; expected 1.1.0", v)
	}
	t.Logf("alice promoted %s after the release", time.Since(start).Round(time.Second))
	h.expectOnTime(steps.stop(), final.Status.LastAppliedSpec, final.Spec.Analysis.Interval)

	h.expectRefusals()
	h.expectHangsReached()
	h.expectControllerUp()
	h.expectNoSecretLeak()
}

// hostile is the running scenario: three tenants, one controller, mallory's servers.
type hostile struct {
	t   *testing.T
	in  Input
	ctx context.Context
	env *framework.Env

	ctrl *framework.Controller
	// Namespaces of the tenants.
	aliceNS, malloryNS, platformNS string
	alice                          *rig
	// mallory are mallory's Canaries by name: one attack each, so that no attack hides another
	// (a hanging webhook holds back every check of its own Canary's step).
	mallory map[string]*rig

	// The secret values: none of them may ever be seen by anyone but their receiver.
	platformToken, platformSlackToken, metadataHeader, echoHeader string

	// metricsSrv is mallory's Prometheus look-alike, named in her Canaries' metricsServer;
	// echoSrv answers every call with the request's headers; hangSrv never answers.
	metricsSrv, echoSrv, hangSrv *tenantServer
	// signedLT is a second load tester that requires signatures, and its key.
	signedLT  string
	signedKey []byte

	// statuses watches every Canary's status while the scenario runs.
	statusMu sync.Mutex
	seen     map[string]map[string]bool // "canary/check" → messages seen
	leak     string                     // the first secret seen in a status
	polled   int                        // Canary statuses looked at
}

// Names of mallory's Canaries and of their checks.
const (
	mBomb, mBorrow, mSSRF, mLoad, mHangA, mHangB = "bomb", "borrow", "ssrf", "load", "hang-a", "hang-b"
	hangHooks                                    = 3 // rollout webhooks of each hanging Canary
)

func newHostile(t *testing.T, in Input) *hostile {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &hostile{
		t: t, in: in, ctx: ctx, env: in.Env,
		aliceNS: in.Namespace + "-alice", malloryNS: in.Namespace + "-mallory", platformNS: in.Namespace + "-platform",
		platformToken: "platform-token-" + randomHex(t), platformSlackToken: "platform-slack-" + randomHex(t),
		metadataHeader: "mallory-metadata-" + randomHex(t), echoHeader: "mallory-echo-" + randomHex(t),
		seen: map[string]map[string]bool{},
	}
	for _, ns := range []string{h.aliceNS, h.malloryNS, h.platformNS} {
		if err := in.Env.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			return // kept for a look
		}
		for _, ns := range []string{h.aliceNS, h.malloryNS, h.platformNS} {
			_ = in.Env.DeleteNamespace(context.Background(), ns)
		}
	})
	h.metricsSrv = newTenantServer(t, promAnswer)
	h.echoSrv = newTenantServer(t, echoAnswer)
	h.hangSrv = newTenantServer(t, nil)
	h.signedKey = []byte("loadtester-key-" + randomHex(t) + "\n")
	h.signedLT = startSignedLoadtester(t, in.Env, in.Namespace, h.signedKey)

	ctrl, err := in.Env.StartController(ctx, framework.ControllerOptions{
		LogFile:    filepath.Join(in.Env.StateDir, "logs", "siskin-"+in.Namespace+".log"),
		Provider:   in.Router.Provider,
		Namespaces: []string{h.aliceNS, h.malloryNS, h.platformNS},
		Args:       strings.Fields(os.Getenv("E2E_CONTROLLER_ARGS")),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.ctrl = ctrl
	t.Logf("controller log: %s", ctrl.LogFile())
	// Registered after the servers' cleanups, so it runs before them: the controller stops
	// while the hanging receiver still holds its calls, as it would in a cluster.
	t.Cleanup(func() {
		if err := ctrl.Stop(); err != nil {
			t.Log(err)
		}
	})
	h.alice = &rig{t: t, ctx: ctx, ctrl: ctrl, in: Input{Env: in.Env, Router: in.Router, Namespace: h.aliceNS, Name: in.Name, Port: in.Port}}
	h.mallory = map[string]*rig{}
	for _, name := range []string{mBomb, mBorrow, mSSRF, mLoad, mHangA, mHangB} {
		h.mallory[name] = &rig{t: t, ctx: ctx, ctrl: ctrl, in: Input{Env: in.Env, Router: in.Router, Namespace: h.malloryNS, Name: name, Port: in.Port}}
	}
	return h
}

// createApp creates the rig's Deployment with VERSION 1.0.0.
func (r *rig) createApp(replicas int32) {
	r.t.Helper()
	a := framework.App{Namespace: r.in.Namespace, Name: r.in.Name, Replicas: replicas, Port: r.in.Port, Env: map[string]string{"VERSION": "1.0.0"}}
	if err := r.in.Env.CreateApp(r.ctx, a); err != nil {
		r.t.Fatal(err)
	}
}

// applyPlatform creates platform's credentials: a MetricTemplate whose Secret holds a bearer
// token and that names no address (so it would take the referencing Canary's metricsServer,
// were that allowed), and an AlertProvider whose Secret holds its Slack address and token.
func (h *hostile) applyPlatform() {
	ns := h.platformNS
	h.create(secret(ns, "prometheus-auth", map[string]string{"token": h.platformToken}))
	h.create(&siskinv1.MetricTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "latency"},
		Spec: siskinv1.MetricTemplateSpec{
			Provider: siskinv1.MetricTemplateProvider{Type: "prometheus", SecretRef: &siskinv1.LocalObjectReference{Name: "prometheus-auth"}},
			Query:    `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{destination_workload_namespace="{{ namespace }}"}[{{ interval }}])) by (le))`,
		},
	})
	h.create(secret(ns, "slack-credentials", map[string]string{
		"address": h.env.Info.Slack.URL + "/" + h.platformSlackPath(), "token": h.platformSlackToken,
	}))
	h.create(&siskinv1.AlertProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slack"},
		Spec:       siskinv1.AlertProviderSpec{Type: "slack", Channel: "platform", SecretRef: &siskinv1.LocalObjectReference{Name: "slack-credentials"}},
	})
}

// platformSlackPath is where platform's Slack address points in the sink: a post there went
// through platform's provider.
func (h *hostile) platformSlackPath() string { return "platform-" + h.platformNS }

// applyMallorySecrets creates mallory's header Secrets and her bomb templates.
func (h *hostile) applyMallorySecrets() {
	ns := h.malloryNS
	h.create(secret(ns, "metadata-headers", map[string]string{"X-Metadata-Token": h.metadataHeader}))
	h.create(secret(ns, "echo-headers", map[string]string{"X-Echo-Token": h.echoHeader}))
	for name, query := range map[string]string{"bomb": defineBomb(), "bomb-range": rangeBomb, "bomb-printf": printfBomb()} {
		h.create(&siskinv1.MetricTemplate{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       siskinv1.MetricTemplateSpec{Provider: siskinv1.MetricTemplateProvider{Type: "prometheus"}, Query: query},
		})
	}
}

// defineBomb doubles its output at each of 40 nested templates: 2^40 copies of a query.
func defineBomb() string {
	var b strings.Builder
	b.WriteString(`{{ define "b0" }}sum(rate(istio_requests_total[1m])){{ end }}`)
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, `{{ define "b%d" }}{{ template "b%d" }}{{ template "b%d" }}{{ end }}`, i, i-1, i-1)
	}
	b.WriteString(`{{ template "b40" }}`)
	return b.String()
}

// rangeBomb loops 2^63-1 times.
const rangeBomb = `{{ range 9223372036854775807 }}sum(rate(istio_requests_total[1m])) + {{ end }}0`

// printfBomb uses only allowed constructs, with and printf, to double a string 16 times:
// 64 B × 2^16 = 4 MiB, were nothing bounding what printf builds.
func printfBomb() string {
	var b strings.Builder
	fmt.Fprintf(&b, `{{ with $v0 := %q }}`, strings.Repeat("x", 64))
	for i := 1; i <= 16; i++ {
		fmt.Fprintf(&b, `{{ with $v%d := printf "%%s%%s" $v%d $v%d }}`, i, i-1, i-1)
	}
	b.WriteString(`{{ $v16 }}` + strings.Repeat("{{ end }}", 17))
	return b.String()
}

// malloryCanaries returns mallory's Canaries, one attack each.
func (h *hostile) malloryCanaries() []*siskinv1.Canary {
	byTemplate := func(name, template, ns string) siskinv1.CanaryMetric {
		return siskinv1.CanaryMetric{Name: name, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr.To(500.0)},
			TemplateRef: &siskinv1.CrossNamespaceObjectReference{Name: template, Namespace: ns}}
	}
	hook := func(name, url, timeout string) siskinv1.CanaryWebhook {
		return siskinv1.CanaryWebhook{Name: name, Type: siskinv1.RolloutHook, URL: url, Timeout: timeout}
	}
	bomb := h.malloryCanary(mBomb)
	bomb.Spec.Analysis.Metrics = []siskinv1.CanaryMetric{
		byTemplate("bomb", "bomb", ""), byTemplate("bomb-range", "bomb-range", ""), byTemplate("bomb-printf", "bomb-printf", ""),
	}

	// Her metricsServer is her own: a template that took its address from the Canary would
	// send platform's token there. A built-in metric makes the controller query her server for
	// real, so that what it receives is not nothing by construction.
	borrow := h.malloryCanary(mBorrow)
	borrow.Spec.MetricsServer = h.metricsSrv.srv.URL
	borrow.Spec.Analysis.Metrics = []siskinv1.CanaryMetric{
		byTemplate("platform-latency", "latency", h.platformNS),
		{Name: siskinv1.MetricRequestSuccessRate, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr.To(99.0)}},
	}
	borrow.Spec.Analysis.Alerts = []siskinv1.CanaryAlert{{Name: "platform-slack", ProviderRef: siskinv1.CrossNamespaceObjectReference{Name: "slack", Namespace: h.platformNS}}}

	ssrf := h.malloryCanary(mSSRF)
	metadata := hook("metadata", "http://169.254.169.254/latest/meta-data/", "5s")
	metadata.SecretRef = &siskinv1.LocalObjectReference{Name: "metadata-headers"}
	// Her Secret's header may go to her own receiver; its echo must not go any further.
	echo := hook("echo", h.echoSrv.srv.URL+"/debug/echo", "5s")
	echo.SecretRef = &siskinv1.LocalObjectReference{Name: "echo-headers"}
	ssrf.Spec.Analysis.Webhooks = []siskinv1.CanaryWebhook{metadata, echo}

	load := h.malloryCanary(mLoad)
	oversized := hook("load-test", h.env.Info.Loadtester+"/", "10s")
	oversized.Metadata = map[string]string{"cmd": fmt.Sprintf("hey -z 1m -c 1000000 http://%s-canary.%s:%d/", mLoad, h.malloryNS, h.in.Port)}
	load.Spec.Analysis.Webhooks = []siskinv1.CanaryWebhook{oversized}

	out := []*siskinv1.Canary{bomb, borrow, ssrf, load}
	for _, name := range []string{mHangA, mHangB} {
		c := h.malloryCanary(name)
		for i := range hangHooks {
			c.Spec.Analysis.Webhooks = append(c.Spec.Analysis.Webhooks, hook(fmt.Sprintf("hang-%d", i), h.hangSrv.srv.URL+"/hang", "5m"))
		}
		// Event webhooks are called for every event, on a pool shared by all Canaries.
		ev := hook("hang-events", h.hangSrv.srv.URL+"/events", "5m")
		ev.Type = siskinv1.EventHook
		c.Spec.Analysis.Webhooks = append(c.Spec.Analysis.Webhooks, ev)
		out = append(out, c)
	}
	return out
}

// malloryCanary is a weighted canary of mallory's with no checks yet.
func (h *hostile) malloryCanary(name string) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.malloryNS},
		Spec: siskinv1.CanarySpec{
			Provider:  h.in.Router.Provider,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   h.in.Router.Service(h.env, h.malloryNS, name, h.in.Port),
			Analysis:  &siskinv1.CanaryAnalysis{Interval: "10s", Threshold: 2, StepWeight: 30, MaxWeight: ptr.To[int32](60)},
		},
	}
}

func (h *hostile) create(obj client.Object) {
	h.t.Helper()
	if err := h.env.Client.Create(h.ctx, obj); err != nil {
		h.t.Fatalf("create %T %s/%s: %v", obj, obj.GetNamespace(), obj.GetName(), err)
	}
}

func secret(ns, name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
}

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

// expectNoSecretLeak looks for every secret value wherever mallory or anyone without access to
// the Secrets could read it.
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
	h.statusMu.Unlock()

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
	// Mallory's servers: none of the values, and no credentials at all (the controller's own
	// metrics server has none).
	for _, r := range h.metricsSrv.requests() {
		check("a request to mallory's metrics server", r.String())
		if r.Header.Get("Authorization") != "" {
			leaks = append(leaks, "a request to mallory's metrics server carries an Authorization header: "+r.String())
		}
	}
	echoed := false
	for _, r := range h.echoSrv.requests() {
		// Her own header goes to the address beside it; nothing else may.
		check("a request to mallory's echo server", strings.ReplaceAll(r.String(), h.echoHeader, "<her own header>"))
		echoed = echoed || r.Header.Get("X-Echo-Token") == h.echoHeader
	}
	for _, r := range h.hangSrv.requests() {
		check("a request to mallory's hanging server", r.String())
	}
	if len(leaks) > 0 {
		h.alice.fatalf("secret values leaked:\n  %s", strings.Join(leaks, "\n  "))
	}
	if n := len(h.metricsSrv.requests()); n == 0 {
		h.mallory[mBorrow].fatalf("mallory's metrics server was never queried: the credential check proved nothing")
	}
	if !echoed {
		h.mallory[mSSRF].fatalf("the echo receiver never got mallory's header: the scrubbing of reply excerpts was not exercised")
	}
	h.statusMu.Lock()
	polled := h.polled
	h.statusMu.Unlock()
	h.t.Logf("no secret in %d Canary statuses polled, %d MetricTemplates, %d AlertProviders, %d events, %d log bytes, %d Slack messages, %d+%d+%d requests to mallory's servers",
		polled, len(templates.Items), len(providers.Items), events, len(logb), len(msgs), len(h.metricsSrv.requests()), len(h.echoSrv.requests()), len(h.hangSrv.requests()))
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

// replaySignedGateCall signs a call to the signed load tester's /gate/check as the controller
// would, then sends the same body and signature to /gate/open: the signature binds the path,
// so the replay is refused and the gate stays closed. A correctly signed /gate/open shows that
// the key itself was right.
func (h *hostile) replaySignedGateCall() {
	h.t.Helper()
	key := webhooks.NormalizeKey(h.signedKey)
	body, _ := json.Marshal(map[string]string{"name": mLoad, "namespace": h.malloryNS, "checksum": "rev-" + h.in.Namespace, "type": string(siskinv1.ConfirmPromotionHook), "phase": "Progressing"})
	call := func(path, signature string) (int, string) {
		h.t.Helper()
		req, _ := http.NewRequestWithContext(h.ctx, http.MethodPost, h.signedLT+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if signature != "" {
			req.Header.Set(webhooks.SignatureV2Header, signature)
		}
		resp, err := localClient.Do(req)
		if err != nil {
			h.t.Fatalf("call the signed load tester at %s: %v", path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	sign := func(path string) string { return webhooks.SignRequest(key, time.Now(), http.MethodPost, path, body) }
	expect := func(what string, code int, msg string, want int, wantMsg string) {
		h.t.Helper()
		if code != want || !strings.Contains(msg, wantMsg) {
			h.t.Fatalf("signed load tester, %s: answered %d %q; expected %d with %q", what, code, msg, want, wantMsg)
		}
		h.t.Logf("signed load tester, %s: %d %s", what, code, msg)
	}
	captured := sign("/gate/check")
	code, msg := call("/gate/check", captured)
	expect("signed /gate/check", code, msg, http.StatusForbidden, "is closed")
	code, msg = call("/gate/open", captured)
	expect("the /gate/check signature replayed at /gate/open", code, msg, http.StatusUnauthorized, "signature does not match")
	code, msg = call("/gate/open", "")
	expect("unsigned /gate/open", code, msg, http.StatusUnauthorized, "missing "+webhooks.SignatureV2Header)
	code, msg = call("/gate/check", sign("/gate/check"))
	expect("/gate/check after the replays", code, msg, http.StatusForbidden, "is closed")
	code, msg = call("/gate/open", sign("/gate/open"))
	expect("/gate/open signed for /gate/open", code, msg, http.StatusOK, "opened")
	code, msg = call("/gate/check", sign("/gate/check"))
	expect("/gate/check after the signed open", code, msg, http.StatusOK, "is open")
}

// localClient talks to loopback servers the test runs; never through a proxy.
var localClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

// startSignedLoadtester runs a second bin/siskin-loadtester, as the chart runs it, that
// requires X-Siskin-Signature-V2 under key: the local environment's load tester has no key. Its
// key file ends in a newline, which both sides drop (webhooks.NormalizeKey).
func startSignedLoadtester(t *testing.T, env *framework.Env, name string, key []byte) string {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "signing-key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	logf, err := os.Create(filepath.Join(env.StateDir, "logs", "loadtester-signed-"+name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), env.Bin("siskin-loadtester"),
		"--listen-address="+addr, "--signature-secret-file="+keyFile, "--require-signature", "--gate-store=memory")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("start the signed load tester: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logf.Close()
	})
	url := "http://" + addr
	err = framework.Eventually(context.Background(), 20*time.Second, "the signed load tester's /healthz", func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
		resp, err := localClient.Do(req)
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("%v; log %s", err, logf.Name())
	}
	return url
}

// tenantServer is one of mallory's receivers on loopback: it records every request and
// answers with answer, or never (until the test ends) when answer is nil.
type tenantServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []recorded
	release chan struct{}
}

// recorded is a request a tenantServer received.
type recorded struct {
	Method, URL string
	Header      http.Header
	Body        string
}

func (r recorded) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL)
	_ = r.Header.Write(&b)
	b.WriteString("\n" + r.Body)
	return b.String()
}

func newTenantServer(t *testing.T, answer func(http.ResponseWriter, recorded)) *tenantServer {
	s := &tenantServer{release: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		rec := recorded{Method: r.Method, URL: r.URL.String(), Header: r.Header.Clone(), Body: string(body)}
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		s.mu.Unlock()
		if answer == nil {
			select {
			case <-s.release:
			case <-r.Context().Done():
			}
			return
		}
		answer(w, rec)
	}))
	// Close waits for the handlers, so the hanging ones are let go first.
	t.Cleanup(func() { close(s.release); s.srv.Close() })
	return s
}

func (s *tenantServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

// count is the number of requests to path.
func (s *tenantServer) count(path string) int {
	n := 0
	for _, r := range s.requests() {
		if strings.HasPrefix(r.URL, path) {
			n++
		}
	}
	return n
}

// promAnswer answers any query with the value 100, as Prometheus would.
func promAnswer(w http.ResponseWriter, _ recorded) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%s,"100"]}]}}`,
		strconv.FormatInt(time.Now().Unix(), 10))
}

// echoAnswer fails the call with the request's headers in the body, as many debugging
// endpoints answer.
func echoAnswer(w http.ResponseWriter, r recorded) {
	w.WriteHeader(http.StatusInternalServerError)
	// Her header first, so that it falls within the excerpt the controller keeps.
	_, _ = io.WriteString(w, "echo of your request: X-Echo-Token="+r.Header.Get("X-Echo-Token")+"; ")
	_ = r.Header.Write(w)
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
