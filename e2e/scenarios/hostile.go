//go:build e2e

package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
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
