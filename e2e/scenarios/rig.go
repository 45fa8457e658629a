//go:build e2e

package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// Timeouts of the waits. A rollout with 10 s steps takes about a minute; the margins cover a
// busy two-core machine.
const (
	initTimeout    = 90 * time.Second
	rolloutTimeout = 4 * time.Minute
)

// Input is what a scenario runs against.
type Input struct {
	Env    *framework.Env
	Router framework.Router
	// Namespace is the scenario's own namespace; it is created and deleted by the scenario.
	Namespace string
	// Name is the name of the app's Deployment and of its Canary.
	Name string
	// Port is the app's port.
	Port int32
}

// rig is one running scenario: its namespace, its own controller (watching only that
// namespace, so that a scenario may kill and restart it) and helpers that fail the test with a
// diagnosis.
type rig struct {
	t    *testing.T
	in   Input
	ctx  context.Context
	ctrl *framework.Controller
	// prepared says the router's objects (routerKit.objects) are created.
	prepared bool
}

func newRig(t *testing.T, in Input) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &rig{t: t, in: in, ctx: ctx}
	if err := in.Env.CreateNamespace(ctx, in.Namespace); err != nil {
		t.Fatal(err)
	}
	ctrl, err := in.Env.StartController(ctx, framework.ControllerOptions{
		LogFile:    filepath.Join(in.Env.StateDir, "logs", "siskin-"+in.Namespace+".log"),
		Provider:   in.Router.Provider,
		Namespaces: []string{in.Namespace},
		Args:       strings.Fields(os.Getenv("E2E_CONTROLLER_ARGS")),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.ctrl = ctrl
	t.Logf("controller log: %s", ctrl.LogFile())
	t.Cleanup(func() {
		if err := ctrl.Stop(); err != nil {
			t.Log(err)
		}
		if !t.Failed() {
			_ = in.Env.DeleteNamespace(context.Background(), in.Namespace)
		}
	})
	return r
}

// app creates the app's Deployment with 2 replicas and the given environment.
func (r *rig) app(env map[string]string) {
	r.t.Helper()
	a := framework.App{Namespace: r.in.Namespace, Name: r.in.Name, Replicas: 2, Port: r.in.Port, Env: env}
	if err := r.in.Env.CreateApp(r.ctx, a); err != nil {
		r.t.Fatal(err)
	}
}

// canary returns the scenarios' default Canary: a weighted canary of two steps (30%, 60%) every
// 10 s, the built-in metrics over 30 s with a minimum sample, and a load test against the
// canary Service (through the router's host, for a router that counts only what it routed),
// with what the router's kit changes. Scenarios change what they test.
func (r *rig) canary() *siskinv1.Canary {
	sample := &siskinv1.CanaryMetricMinSample{Min: 10}
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: r.in.Name, Namespace: r.in.Namespace},
		Spec: siskinv1.CanarySpec{
			Provider:  r.in.Router.Provider,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: r.in.Name},
			Service:   r.in.Router.Service(r.in.Env, r.in.Namespace, r.in.Name, r.in.Port),
			Analysis: &siskinv1.CanaryAnalysis{
				Interval:   "10s",
				Threshold:  2,
				StepWeight: 30,
				MaxWeight:  ptr.To[int32](60),
				Metrics: []siskinv1.CanaryMetric{
					{Name: siskinv1.MetricRequestSuccessRate, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr.To(99.0)}, MinSample: sample},
					{Name: siskinv1.MetricRequestDuration, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr.To(500.0)}, MinSample: sample},
				},
				Webhooks: []siskinv1.CanaryWebhook{r.loadTest(r.loadTarget())},
			},
		},
	}
	if k := r.kit(); k.canary != nil {
		k.canary(r, c)
	}
	return c
}

// loadTest is a rollout webhook that has the load tester send background load to url (through
// the data plane, which it uses as its HTTP proxy).
func (r *rig) loadTest(url string) siskinv1.CanaryWebhook {
	return siskinv1.CanaryWebhook{
		Name: "load-test", Type: siskinv1.RolloutHook, URL: r.in.Env.Info.Loadtester + "/", Timeout: "5s",
		Metadata: map[string]string{"cmd": "hey -z 3m -q 5 -c 2 " + url},
	}
}

// create creates the Canary, after what the user writes for its router, and waits until it is
// Initialized.
func (r *rig) create(c *siskinv1.Canary) {
	r.t.Helper()
	r.prepare()
	if err := r.in.Env.Client.Create(r.ctx, c); err != nil {
		r.t.Fatalf("create Canary: %v", err)
	}
	r.waitPhase(initTimeout, siskinv1.PhaseInitialized)
	r.waitRouted()
}

// waitRouted waits until the data plane answers for the Canary's host. Like a real mesh or
// gateway, it applies a route a moment after the route is written (and Initialized only says
// the route is written); users start only once the host is served.
func (r *rig) waitRouted() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := r.in.Env.Get(r.ctx, r.host(), "/", nil)
		if err == nil && resp.Code == 200 {
			return
		}
		if time.Now().After(deadline) {
			r.fatalf("the data plane did not serve %s within 10s of initialization: answered %d (error %v)", r.host(), resp.Code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitPhase waits for one of the phases and fails the test with a diagnosis if it does not come.
func (r *rig) waitPhase(timeout time.Duration, phases ...siskinv1.CanaryPhase) *siskinv1.Canary {
	r.t.Helper()
	c, err := r.in.Env.WaitPhase(r.ctx, r.in.Namespace, r.in.Name, timeout, r.ctrl, phases...)
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// wait waits until cond holds for the Canary.
func (r *rig) wait(timeout time.Duration, what string, cond func(*siskinv1.Canary) bool) *siskinv1.Canary {
	r.t.Helper()
	c, err := r.in.Env.WaitCanary(r.ctx, r.in.Namespace, r.in.Name, timeout, what, r.ctrl, cond)
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// release changes the app's environment: a new revision.
func (r *rig) release(env map[string]string) {
	r.t.Helper()
	if err := r.in.Env.SetEnv(r.ctx, r.in.Namespace, r.in.Name, env); err != nil {
		r.t.Fatal(err)
	}
}

// record starts recording the Canary's states; the recorder stops with the test.
func (r *rig) record() *framework.Recorder {
	rec := r.in.Env.Record(r.ctx, r.in.Router.Provider, r.in.Namespace, r.in.Name)
	r.t.Cleanup(func() {
		snaps := rec.Stop()
		if r.t.Failed() {
			r.t.Logf("states recorded:\n%s", framework.Format(snaps))
			if n, last := rec.Failures(); n > 0 {
				r.t.Logf("%d polls of the recorder failed; the last: %s", n, last)
			}
		}
	})
	return rec
}

// snapshots returns what rec recorded, once it has recorded the Canary in phase (the recorder
// polls, so it may be a moment behind a wait that has just seen the phase).
func (r *rig) snapshots(rec *framework.Recorder, phase siskinv1.CanaryPhase) []framework.Snapshot {
	r.t.Helper()
	var snaps []framework.Snapshot
	_ = framework.Eventually(r.ctx, 5*time.Second, "the recorder to see "+string(phase), func(context.Context) (bool, error) {
		snaps = rec.Snapshots()
		return len(snaps) > 0 && snaps[len(snaps)-1].Phase == phase, nil
	})
	return snaps
}

// host is what clients send to reach the app through its route.
func (r *rig) host() string { return r.in.Router.Host(r.in.Namespace, r.in.Name, r.in.Port) }

// fatalf fails the test with a diagnosis. The failure is said again after the diagnosis, so
// that the end of a long log (all a CI summary may show) still says what failed.
func (r *rig) fatalf(format string, args ...any) {
	r.t.Helper()
	msg := fmt.Sprintf(format, args...)
	r.t.Fatalf("%s\n%s\nfailed: %s", msg, r.in.Env.Diagnose(r.ctx, r.in.Namespace, r.in.Name, r.ctrl), firstLine(msg))
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// primaryVersion returns VERSION of the primary Deployment.
func (r *rig) primaryVersion() string {
	r.t.Helper()
	env, err := r.in.Env.DeploymentEnv(r.ctx, r.in.Namespace, r.in.Name+"-primary")
	if err != nil {
		r.t.Fatal(err)
	}
	return env["VERSION"]
}

// expectServed sends requests through the route and fails unless n in a row are answered 200
// by version within dataPlaneLag.
//
// The data plane builds its routing table from the route a moment after the API server shows
// the route (as a mesh's proxies do), and pods leave the endpoints a moment after they stop.
// While the table is still the old one, a weighted route can answer some requests by version
// and others not: one right answer does not show the data plane has caught up, n in a row do.
func (r *rig) expectServed(n int, version string, header map[string]string) {
	r.t.Helper()
	h := map[string][]string{}
	for k, v := range header {
		h[k] = []string{v}
	}
	deadline := time.Now().Add(dataPlaneLag)
	inARow := 0
	for inARow < n {
		resp, err := r.in.Env.Get(r.ctx, r.host(), "/", h)
		if err == nil && resp.Code == 200 && resp.Version == version {
			inARow++
			continue
		}
		inARow = 0
		if time.Now().After(deadline) {
			r.fatalf("request to %s (headers %v) answered %d by version %q (error %v) %s after the route was; expected %d in a row answered 200 by %s", r.host(), header, resp.Code, resp.Version, err, dataPlaneLag, n, version)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dataPlaneLag bounds how long after the route the data plane may still route by the old one.
const dataPlaneLag = 10 * time.Second

// slackContains waits until the Slack sink holds, for this Canary, a message containing each
// text in order, and returns the messages.
func (r *rig) slackContains(texts ...string) []string {
	r.t.Helper()
	var got []string
	err := framework.Eventually(r.ctx, 20*time.Second, "Slack messages "+strings.Join(texts, ", "), func(ctx context.Context) (bool, error) {
		msgs, err := r.in.Env.SlackMessages(ctx, r.in.Namespace, r.in.Name)
		if err != nil {
			return false, err
		}
		got = got[:0]
		for _, m := range msgs {
			got = append(got, m.Text)
		}
		i := 0
		for _, m := range got {
			if i < len(texts) && strings.Contains(m, texts[i]) {
				i++
			}
		}
		return i == len(texts), nil
	})
	if err != nil {
		r.t.Fatalf("%v; messages:\n  %s", err, strings.Join(got, "\n  "))
	}
	return got
}

func readyMessage(c *siskinv1.Canary) string {
	cond := framework.Condition(c, siskinv1.ConditionReady)
	if cond != nil && cond.Reason == siskinv1.ReasonRollingBack {
		// The rollback is decided and written first; Ready says it still waits for the router
		// to confirm the route, and the Promoted condition keeps why it was rolled back.
		cond = framework.Condition(c, siskinv1.ConditionPromoted)
	}
	if cond != nil {
		return cond.Reason + ": " + cond.Message
	}
	return ""
}

func terminal(c *siskinv1.Canary) bool {
	return c.Status.Phase == siskinv1.PhaseSucceeded || c.Status.Phase == siskinv1.PhaseFailed
}
