package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
)

// chromiumPath finds Debian's chromium (or $SISKIN_CHROMIUM). The browser test fails, never
// skips, without it: CI installs it (.ci/run).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SISKIN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: install it (apt-get install -y chromium) or set SISKIN_CHROMIUM; the dashboard's browser test needs it and CI installs it in .ci/run")
	return ""
}

// artifactDir is where the browser test's screenshots go: $SISKIN_ARTIFACTS/dashboard, else
// .state/artifacts/dashboard in the repository (ignored by git).
func artifactDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SISKIN_ARTIFACTS")
	if base == "" {
		base = filepath.Join(testenv.RepoRoot(), ".state", "artifacts")
	}
	dir := filepath.Join(base, "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// weightedCanary steps 20, 40, 60 every 10 s (the shortest interval), checking the success rate
// and a rollout webhook at each step.
func weightedCanary(ns, hookURL string) *siskinv1.Canary {
	c := rollouttest.Canary(ns, "podinfo", siskinv1.ProviderIstio)
	c.Spec.Analysis = &siskinv1.CanaryAnalysis{
		Interval: "10s", Threshold: 2, StepWeight: 20, MaxWeight: ptr.To[int32](60),
		Metrics: []siskinv1.CanaryMetric{{
			Name: "request-success-rate", Interval: "1m", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr.To(99.0)},
		}},
		Webhooks: []siskinv1.CanaryWebhook{{Name: "load", Type: siskinv1.RolloutHook, URL: hookURL}},
	}
	return c
}

// browser drives one headless chromium tab, saving screenshots in dir.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.WindowSize(1400, 1300),
		chromedp.Flag("disable-gpu", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &browser{t: t, ctx: ctx, dir: artifactDir(t)}
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// waitFor polls a JavaScript predicate in the page until it holds.
func (b *browser) waitFor(what, predicate string, within time.Duration) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		b.fail(what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, sel)))
	if err != nil {
		b.fail("read "+sel, err)
	}
	return s
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("save %s: %v", path, err)
	}
}

// fail saves what the page showed and stops the test.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	b.screenshot("failed")
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(body) > 3000 {
		body = body[:3000]
	}
	b.t.Fatalf("%s: %v\npage (screenshot failed.png in %s):\n%s", what, err, b.dir, body)
}

// TestDashboardInABrowserFollowsARolloutAndAbortsIt runs the controller against the test API
// server with a weighted rollout in progress, and drives the dashboard in headless chromium:
// the fleet page lists the Canary, the Canary page shows the steps and the charts as the
// rollout moves, and abort (confirmed in the dialog) rolls it back.
func TestDashboardInABrowserFollowsARolloutAndAbortsIt(t *testing.T) {
	ctx := context.Background()
	b := newBrowser(t)
	ns := newNamespace(t)
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(hooks.Close)
	rollouttest.StartController(t, env, ns, rollouttest.ControllerOptions{Provider: siskinv1.ProviderIstio, MetricsServer: rollouttest.FakePrometheus(t)})
	rollouttest.RunKubelet(t, k8sClient, ns)
	if err := k8sClient.Create(ctx, rollouttest.Podinfo(ns, "podinfo:6.0.0")); err != nil {
		t.Fatal(err)
	}
	c := weightedCanary(ns, hooks.URL)
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitForCanary(t, c, "Initialized", func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseInitialized })

	s, ts := serve(t, env.Config, Options{Namespace: ns})
	key := ns + "/podinfo"
	row := fmt.Sprintf(`tr[data-key=%q]`, key)

	// Fleet page: the Canary, live.
	b.do("open the printed URL", chromedp.Navigate(ts.URL+"/?token="+s.Token()))
	b.waitFor("the fleet lists the Canary", fmt.Sprintf(`document.querySelector(%q) !== null`, row), 15*time.Second)
	if got := b.text(row + " td.phase"); got != "Initialized" {
		t.Errorf("fleet phase of %s = %q, want Initialized", key, got)
	}
	b.do("filter with no match", chromedp.SendKeys(chromedp.CSS("#filter"), "no-such-canary"))
	b.waitFor("the filter hides the Canary", fmt.Sprintf(`document.querySelector(%q) === null`, row), 5*time.Second)
	b.do("clear the filter", chromedp.Click(chromedp.CSS("#filter")), chromedp.KeyEvent(strings.Repeat("\b", len("no-such-canary"))), chromedp.SendKeys(chromedp.CSS("#filter"), "podinfo"))
	b.waitFor("the filter shows the Canary", fmt.Sprintf(`document.querySelector(%q) !== null`, row), 5*time.Second)

	rollouttest.Release(t, k8sClient, ns, "podinfo:6.1.0")
	b.waitFor("the fleet shows the rollout without a reload", fmt.Sprintf(`document.querySelector(%q).querySelector("td.phase").textContent.startsWith("Progressing")`, row), 20*time.Second)
	b.screenshot("1-fleet-progressing")

	// Canary page: steps and charts as they happen.
	href := b.text(row + " a") // the link's text is the name; its target is the Canary page
	if href != "podinfo" {
		t.Errorf("fleet link text %q, want podinfo", href)
	}
	link, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).href`, row+" a")))
	if err != nil {
		b.fail("read the Canary link", err)
	}
	b.do("open the Canary page", chromedp.Navigate(link))
	// The planner's schedule: each step checks, then sets the next weight or promotes.
	b.waitFor("the steps of the schedule", `document.querySelectorAll("#steps .step").length === 4`, 10*time.Second)
	labels, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#steps .step")].map((s) => s.querySelector(".label").textContent + "@" + s.querySelector(".at").textContent).join(" ")`))
	if err != nil {
		b.fail("read the steps", err)
	}
	if labels != "20%@+10s 40%@+20s 60%@+30s promote@+40s" {
		t.Errorf("steps = %q, want 20%%, 40%%, 60%%, promote every 10s", labels)
	}
	b.waitFor("the first step is current", `(document.querySelector("#steps .step.current .label") || {}).textContent === "20%"`, 20*time.Second)
	b.waitFor("the traffic chart", `document.querySelectorAll("#traffic-chart path.line.canary").length === 1`, 10*time.Second)
	// The first analysis step comes one interval (10 s) after the rollout starts.
	metric := `.metric-chart[data-metric="request-success-rate"] circle.dot`
	b.waitFor("a point of the success rate", fmt.Sprintf(`document.querySelectorAll(%q).length >= 1`, metric), 30*time.Second)
	b.waitFor("the second step is current", `(document.querySelector("#steps .step.current .label") || {}).textContent === "40%"`, 20*time.Second)
	// The chart grows as the next step happens, without a reload.
	b.waitFor("a second point of the success rate", fmt.Sprintf(`document.querySelectorAll(%q).length >= 2`, metric), 30*time.Second)
	if got := b.text(`.metric-chart[data-metric="request-success-rate"] circle.dot title`); !strings.HasPrefix(got, "step 1 at 0%: 99.") {
		t.Errorf("the first point's title is %q, want step 1 at 0%% with its value and bound", got)
	}
	if n := b.text(`#timeline`); n == "" {
		t.Error("the timeline is empty during the rollout")
	}
	b.screenshot("2-canary-progressing")

	// Abort, confirmed in the dialog.
	b.do("click abort", chromedp.Click(chromedp.CSS(`button[data-action="abort"]`)))
	b.waitFor("the confirmation dialog", `document.getElementById("confirm").open`, 5*time.Second)
	b.screenshot("3-confirm-abort")
	if got := getCanary(t, c).Annotations[siskinv1.AnnotationAbort]; got != "" {
		t.Fatalf("abort was set (%s) before it was confirmed", got)
	}
	b.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitFor("the controller acknowledges the abort", `document.getElementById("action-status").dataset.state === "acknowledged"`, 20*time.Second)
	got := waitForCanary(t, c, "Failed", func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseFailed && c.Status.CanaryWeight == 0
	})
	if got.Status.ManualRequests[siskinv1.AnnotationAbort] != got.Annotations[siskinv1.AnnotationAbort] {
		t.Errorf("manualRequests %v do not hold the abort set %q", got.Status.ManualRequests, got.Annotations[siskinv1.AnnotationAbort])
	}
	b.waitFor("the page shows the rollback", `document.getElementById("phase").textContent === "Failed"`, 20*time.Second)
	b.waitFor("the timeline shows the manual abort", fmt.Sprintf(`document.getElementById("timeline").textContent.includes(%q)`, siskinv1.ReasonManualAbort), 20*time.Second)
	b.waitFor("the route is back on the primary", `document.getElementById("tree").textContent.includes("VirtualService") &&
		document.getElementById("tree").textContent.includes("weights primary/canary 100/0")`, 20*time.Second)
	b.screenshot("4-canary-aborted")
	if w := virtualServiceWeights(t, ns); w != "podinfo-primary=100 podinfo-canary=0" {
		t.Errorf("VirtualService weights after the abort: %s, want all traffic to the primary", w)
	}
}

// TestDashboardInABrowserShowsTheEvidenceAndRollsBackWhenAsked shows a rollout that a
// comparison paused to ask a person (no controller runs: the status is the one it writes): the
// fleet marks it, the Canary page shows the question and the evidence, and "Roll back",
// confirmed, sets the abort annotation on the Canary.
func TestDashboardInABrowserShowsTheEvidenceAndRollsBackWhenAsked(t *testing.T) {
	ctx := context.Background()
	b := newBrowser(t)
	ns := newNamespace(t)
	c := askingCanary(ns)
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Status = askingStatus(time.Now())
	if err := k8sClient.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	s, ts := serve(t, env.Config, Options{Namespace: ns})
	row := fmt.Sprintf(`tr[data-key=%q]`, ns+"/podinfo")

	b.do("open the printed URL", chromedp.Navigate(ts.URL+"/?token="+s.Token()))
	b.waitFor("the fleet marks the Canary that asks a person", fmt.Sprintf(`(document.querySelector(%q) || {}).textContent === "asks a person"`, row+" .badge.asks"), 15*time.Second)

	b.do("open the Canary page", chromedp.Navigate(ts.URL+"/canary/"+ns+"/podinfo"))
	b.waitFor("the banner", `document.getElementById("advice") !== null`, 15*time.Second)
	b.waitFor("the comparison", `document.querySelector('#comparison tr[data-metric="request-success-rate"]') !== null`, 5*time.Second)
	b.screenshot("5-canary-asks")
	msg := c.Status.Advice.Message
	cells := `#comparison tr[data-metric="request-success-rate"] td.`
	for sel, want := range map[string]string{
		"#advice-reason":                siskinv1.ReasonRegressionDetected,
		"#advice-message":               msg,
		"#comparison-control":           "podinfo-primary",
		cells + "verdict":               "Regression",
		cells + "ratio":                 "2.12× (1.60–2.80)",
		cells + "canary-counts":         "89 / 4,210",
		cells + "control-counts":        "168 / 16,840",
		cells + "evidence":              "412.00",
		cells + "pass-evidence":         "0.01",
		cells + "message":               msg,
		`button[data-advice="resume"]`:  "Go on",
		`button[data-advice="abort"]`:   "Roll back",
		`button[data-advice="promote"]`: "Promote",
	} {
		if got := b.text(sel); got != want {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	if got := b.text("#comparison-looks"); !strings.HasPrefix(got, "7 looks") {
		t.Errorf("the comparison says %q, want 7 looks", got)
	}
	if b.text("#advice-since") == "" || b.text("#advice-deadline") == "" {
		t.Error("the banner shows no time asked or no deadline")
	}

	b.do("click Roll back", chromedp.Click(chromedp.CSS(`button[data-advice="abort"]`)))
	b.waitFor("the confirmation dialog", `document.getElementById("confirm").open`, 5*time.Second)
	if got := b.text("#confirm-title"); !strings.HasPrefix(got, "Roll back ") {
		t.Errorf("the dialog asks %q, want Roll back …", got)
	}
	b.screenshot("6-confirm-roll-back")
	if got := getCanary(t, c).Annotations[siskinv1.AnnotationAbort]; got != "" {
		t.Fatalf("abort was set (%s) before it was confirmed", got)
	}
	b.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitFor("the page sent the abort", `document.getElementById("action-status").dataset.state === "requested"`, 10*time.Second)
	got := getCanary(t, c)
	abort := got.Annotations[siskinv1.AnnotationAbort]
	if abort == "" {
		t.Fatalf("no %s annotation after Roll back: %v", siskinv1.AnnotationAbort, got.Annotations)
	}
	if status := b.text("#action-status"); !strings.Contains(status, siskinv1.AnnotationAbort+"="+abort) {
		t.Errorf("the page says %q, want it to name %s=%s", status, siskinv1.AnnotationAbort, abort)
	}
	for _, ann := range []string{siskinv1.AnnotationResume, siskinv1.AnnotationPromote} {
		if v, ok := got.Annotations[ann]; ok {
			t.Errorf("Roll back also set %s=%s", ann, v)
		}
	}
}

func getCanary(t *testing.T, c *siskinv1.Canary) *siskinv1.Canary {
	t.Helper()
	got := &siskinv1.Canary{}
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), got); err != nil {
		t.Fatal(err)
	}
	return got
}

func waitForCanary(t *testing.T, c *siskinv1.Canary, what string, ok func(*siskinv1.Canary) bool) *siskinv1.Canary {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := getCanary(t, c)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("canary not %s within 30s: phase %s, weight %d, conditions %+v", what, got.Status.Phase, got.Status.CanaryWeight, got.Status.Conditions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func virtualServiceWeights(t *testing.T, ns string) string {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(virtualServiceGVK)
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, u); err != nil {
		t.Fatal(err)
	}
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	out := ""
	for _, r := range routes {
		dests, _, _ := unstructured.NestedSlice(r.(map[string]any), "route")
		for _, d := range dests {
			host, _, _ := unstructured.NestedString(d.(map[string]any), "destination", "host")
			host, _, _ = strings.Cut(host, ".")
			w, _, _ := unstructured.NestedInt64(d.(map[string]any), "weight")
			if out != "" {
				out += " "
			}
			out += fmt.Sprintf("%s=%d", host, w)
		}
	}
	return out
}
