//go:build e2e

package scenarios

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
	"github.com/siskin-dev/siskin/internal/cli"
)

// OperatorTools proves the kubectl plugin against the real controller and data plane:
//
//   - plan: `kubectl siskin plan -o json` on the Canary before a release; the release is then
//     promoted through the same steps with the same weights and phases, and each interval
//     between consecutive steps (status.rolloutStartTime, then status.lastStepTime of each
//     step, as the controller wrote them) is the plan's within one second.
//   - dashboard: `kubectl siskin dashboard` runs as a subprocess with the environment's
//     kubeconfig, driven by headless chromium: the fleet page lists the Canary, the Canary page
//     shows the planned steps, the current step, the traffic chart and a metric point while a
//     second release progresses, and Abort (confirmed in the dialog) rolls it back: Failed by
//     ManualAbort, the route back on the primary. Screenshots are saved as artifacts.
//
// Istio only: neither tool depends on the router, and a second run would only add load.
func OperatorTools(t *testing.T, in Input) {
	r := newRig(t, in)
	r.app(map[string]string{"VERSION": "1.0.0"})
	c := r.canary()
	c.APIVersion, c.Kind = siskinv1.GroupVersion.String(), "Canary"
	// Steps 20, 40, 60, then promotion: four analysis steps to time. A higher threshold than
	// the rig's keeps the second rollout in progress until the browser aborts it, even if a
	// check fails.
	c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight, c.Spec.Analysis.Threshold = 20, ptr.To[int32](60), 5
	plan := r.plan(c)
	r.create(c)

	d := r.startDashboard()
	b := r.newBrowser()
	key := in.Namespace + "/" + in.Name
	row := fmt.Sprintf(`tr[data-key=%q]`, key)
	b.do("open the printed URL", chromedp.Navigate(d))
	b.waitFor("the fleet lists the Canary", fmt.Sprintf(`document.querySelector(%q) !== null`, row), 30*time.Second)
	b.screenshot("1-fleet-initialized")

	// Plan against the real schedule.
	steps := r.watchSteps()
	release := time.Now()
	r.release(map[string]string{"VERSION": "1.1.0"})
	// The plan assumes the metrics have data from the first step. The load test starts only at
	// the first step, so the test also sends to the canary Service from the release on: the
	// data plane counts a request once it is routed to a canary pod, so the first step finds
	// data, as it would with users already on the canary.
	load := in.Env.StartTraffic(r.ctx, fmt.Sprintf("%s-canary.%s:%d", in.Name, in.Namespace, in.Port), 10, nil)
	r.waitPhase(rolloutTimeout, siskinv1.PhaseSucceeded)
	t.Logf("load on the canary Service: %s", load.Stop())
	r.comparePlan(plan, steps.since(release))
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the promotion; expected 1.1.0", v)
	}

	// Dashboard on a second rollout: follow it, then abort it. Ten steps of 10% leave the
	// browser time to follow it on a loaded machine before it could be promoted.
	cur, err := in.Env.GetCanary(r.ctx, in.Namespace, in.Name)
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Analysis.StepWeight, cur.Spec.Analysis.MaxWeight = 10, ptr.To[int32](100)
	if err := in.Env.Client.Update(r.ctx, cur); err != nil {
		t.Fatalf("lengthen the Canary's schedule: %v", err)
	}
	cur.APIVersion, cur.Kind = siskinv1.GroupVersion.String(), "Canary"
	cur.ObjectMeta = metav1.ObjectMeta{Name: cur.Name, Namespace: cur.Namespace}
	cur.Status = siskinv1.CanaryStatus{}
	plan = r.plan(cur)
	r.release(map[string]string{"VERSION": "1.2.0"})
	b.waitFor("the fleet shows the rollout without a reload", fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent.startsWith("Progressing")`, row+" td.phase"), 60*time.Second)
	b.screenshot("2-fleet-progressing")
	link := b.eval("read the Canary link", fmt.Sprintf(`document.querySelector(%q).href`, row+" a"))
	b.do("open the Canary page", chromedp.Navigate(link))
	var want []string
	for _, m := range plan.Moments {
		switch {
		case m.Step > 0 && m.Phase == string(siskinv1.PhasePromoting):
			want = append(want, "promote@+"+m.At)
		case m.Step > 0:
			want = append(want, fmt.Sprintf("%d%%@+%s", m.CanaryWeight, m.At))
		}
	}
	b.waitFor("the steps of the schedule", fmt.Sprintf(`document.querySelectorAll("#steps .step").length === %d`, len(want)), 20*time.Second)
	if got := b.eval("read the steps", `[...document.querySelectorAll("#steps .step")].map((s) => s.querySelector(".label").textContent + "@" + s.querySelector(".at").textContent).join(" ")`); normalSteps(got) != normalSteps(strings.Join(want, " ")) {
		t.Errorf("the Canary page shows the steps %q; the plan has %q", got, strings.Join(want, " "))
	}
	// The page follows the rollout without a reload: the current step moves on, and the
	// metric's chart gets the point of the step that ran.
	current := `(document.querySelector("#steps .step.current .label") || {textContent: ""}).textContent`
	b.waitFor("a current step", current+` !== ""`, 30*time.Second)
	first := b.eval("read the current step", current)
	if first == "promote" {
		r.fatalf("the Canary page opened at the promotion step: the browser was too slow to follow the rollout")
	}
	b.waitFor("the next step becomes current", fmt.Sprintf(`%s !== %q`, current, first), 60*time.Second)
	t.Logf("Canary page: current step %s, then %s", first, b.eval("read the current step", current))
	b.waitFor("the traffic chart", `document.querySelectorAll("#traffic-chart path.line.canary").length === 1`, 20*time.Second)
	metric := fmt.Sprintf(`.metric-chart[data-metric=%q] circle.dot`, siskinv1.MetricRequestSuccessRate)
	b.waitFor("a point of the success rate", fmt.Sprintf(`document.querySelectorAll(%q).length >= 1`, metric), 30*time.Second)
	t.Logf("Canary page during the rollout: first point %q", b.eval("read the first point", fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, metric+" title")))
	b.screenshot("3-canary-progressing")
	if now, err := in.Env.GetCanary(r.ctx, in.Namespace, in.Name); err != nil || now.Status.Phase != siskinv1.PhaseProgressing {
		r.fatalf("the second rollout is no longer in progress before the abort (error %v)", err)
	}

	b.do("click abort", chromedp.Click(chromedp.CSS(`button[data-action="abort"]`)))
	b.waitFor("the confirmation dialog", `document.getElementById("confirm").open`, 10*time.Second)
	b.screenshot("4-confirm-abort")
	b.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitFor("the controller acknowledges the abort", `document.getElementById("action-status").dataset.state === "acknowledged"`, 60*time.Second)
	got := r.waitPhase(rolloutTimeout, siskinv1.PhaseFailed)
	if got.Annotations[siskinv1.AnnotationAbort] == "" || got.Status.ManualRequests[siskinv1.AnnotationAbort] != got.Annotations[siskinv1.AnnotationAbort] {
		r.fatalf("the abort request %q is not the one acknowledged in status.manualRequests %v", got.Annotations[siskinv1.AnnotationAbort], got.Status.ManualRequests)
	}
	if cond := framework.Condition(got, siskinv1.ConditionPromoted); cond == nil || cond.Reason != siskinv1.ReasonRolledBack || !strings.Contains(cond.Message, "aborted by") {
		r.fatalf("Failed for %q; expected rolled back by the abort", readyMessage(got))
	}
	r.expectRouteAtRest()
	b.waitFor("the page shows the rollback", `document.getElementById("phase").textContent === "Failed"`, 30*time.Second)
	b.waitFor("the timeline shows the manual abort", fmt.Sprintf(`document.getElementById("timeline").textContent.includes(%q)`, siskinv1.ReasonManualAbort), 30*time.Second)
	b.waitFor("the route is back on the primary", `document.getElementById("tree").textContent.includes("weights primary/canary 100/0")`, 30*time.Second)
	b.screenshot("5-canary-aborted")
	if v := r.primaryVersion(); v != "1.1.0" {
		r.fatalf("primary runs %q after the abort; expected 1.1.0", v)
	}
	r.expectServed(5, "1.1.0", nil)
}

// plan runs `kubectl siskin plan -f FILE -o json` on c.
func (r *rig) plan(c *siskinv1.Canary) cli.PlanView {
	r.t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		r.t.Fatal(err)
	}
	file := filepath.Join(r.t.TempDir(), "canary.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
	out, err := exec.CommandContext(r.ctx, r.in.Env.Bin("kubectl-siskin"), "plan", "-f", file, "-o", "json").Output()
	if err != nil {
		r.t.Fatalf("kubectl-siskin plan (build it with `make plugin`): %v\n%s", err, stderrOf(err))
	}
	var v cli.PlanView
	if err := json.Unmarshal(out, &v); err != nil {
		r.t.Fatalf("kubectl-siskin plan -o json: %v\n%s", err, out)
	}
	return v
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// opStep is a status of the Canary as the controller wrote it, and when the watch saw it.
type opStep struct {
	seen     time.Time
	phase    siskinv1.CanaryPhase
	weight   int32
	lastStep time.Time
}

type opStepLog struct {
	mu   sync.Mutex
	recs []opStep
}

// since returns the distinct analysis steps seen after t: each new status.lastStepTime in
// phase Progressing (the first is the rollout's start) and the first in Promoting.
func (s *opStepLog) since(t time.Time) []opStep {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []opStep
	promoting := false
	for _, rec := range s.recs {
		if rec.seen.Before(t) || rec.lastStep.IsZero() {
			continue
		}
		switch rec.phase {
		case siskinv1.PhaseProgressing:
			if len(out) > 0 && out[len(out)-1].lastStep.Equal(rec.lastStep) {
				continue
			}
		case siskinv1.PhasePromoting:
			if promoting {
				continue
			}
			promoting = true
		default:
			continue
		}
		out = append(out, rec)
	}
	return out
}

// watchSteps records every status the controller writes, from a watch (a poll could miss a
// short phase), until the test ends.
func (r *rig) watchSteps() *opStepLog {
	r.t.Helper()
	wc, err := client.NewWithWatch(r.in.Env.Config, client.Options{Scheme: framework.Scheme()})
	if err != nil {
		r.t.Fatal(err)
	}
	s := &opStepLog{}
	started := make(chan struct{})
	go func() {
		once := sync.OnceFunc(func() { close(started) })
		defer once()
		for r.ctx.Err() == nil {
			w, err := wc.Watch(r.ctx, &siskinv1.CanaryList{}, client.InNamespace(r.in.Namespace))
			if err != nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			once()
			for ev := range w.ResultChan() {
				c, ok := ev.Object.(*siskinv1.Canary)
				if !ok || c.Name != r.in.Name || (ev.Type != watch.Added && ev.Type != watch.Modified) {
					continue
				}
				rec := opStep{seen: time.Now(), phase: c.Status.Phase, weight: c.Status.CanaryWeight}
				if c.Status.LastStepTime != nil {
					rec.lastStep = c.Status.LastStepTime.Time
				}
				s.mu.Lock()
				s.recs = append(s.recs, rec)
				s.mu.Unlock()
			}
			w.Stop()
		}
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		r.t.Fatal("the watch of Canaries did not start within 30s")
	}
	return s
}

// comparePlan fails unless the rollout went through the plan's steps (its first moment, then
// each moment with an analysis step) with the same phase and canary weight, each interval
// between consecutive steps within a second of the plan's.
func (r *rig) comparePlan(plan cli.PlanView, seen []opStep) {
	r.t.Helper()
	var want []cli.MomentView
	for i, m := range plan.Moments {
		if i == 0 || m.Step > 0 {
			want = append(want, m)
		}
	}
	var report strings.Builder
	for i := range max(len(want), len(seen)) {
		if i < len(want) {
			m := want[i]
			fmt.Fprintf(&report, "  plan +%-4s %-11s weight %2d", m.At, m.Phase, m.CanaryWeight)
		} else {
			fmt.Fprintf(&report, "  plan %-30s", "-")
		}
		if i < len(seen) {
			s := seen[i]
			fmt.Fprintf(&report, " | seen %-11s weight %2d lastStepTime +%s (watch +%s)", s.phase, s.weight,
				s.lastStep.Sub(seen[0].lastStep), s.seen.Sub(seen[0].seen).Round(10*time.Millisecond))
		}
		report.WriteString("\n")
	}
	r.t.Logf("plan against the rollout:\n%s", report.String())
	if len(seen) != len(want) {
		r.fatalf("the rollout went through %d steps; the plan has %d\n%s", len(seen), len(want), report.String())
	}
	for i, m := range want {
		s := seen[i]
		if string(s.phase) != m.Phase || s.weight != m.CanaryWeight {
			r.fatalf("step %d: the rollout was %s at weight %d; the plan says %s at %d\n%s", i, s.phase, s.weight, m.Phase, m.CanaryWeight, report.String())
		}
		if i == 0 {
			continue
		}
		planned := time.Duration((m.Seconds - want[i-1].Seconds) * float64(time.Second))
		got := s.lastStep.Sub(seen[i-1].lastStep)
		if d := math.Abs((got - planned).Seconds()); d > 1 {
			r.fatalf("step %d came %s after the previous one; the plan says %s (more than 1s apart)\n%s", i, got, planned, report.String())
		}
	}
}

// startDashboard runs `kubectl siskin dashboard` on the scenario's namespace with the
// environment's kubeconfig until the test ends, and returns the URL it prints.
func (r *rig) startDashboard() string {
	r.t.Helper()
	ctx, cancel := context.WithCancel(r.ctx)
	cmd := exec.CommandContext(ctx, r.in.Env.Bin("kubectl-siskin"), "dashboard", "--port", "0",
		"-n", r.in.Namespace, "--kubeconfig", filepath.Join(r.in.Env.StateDir, "kubeconfig"))
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	logPath := filepath.Join(r.in.Env.StateDir, "logs", "dashboard-"+r.in.Namespace+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start kubectl-siskin dashboard (build it with `make plugin`): %v", err)
	}
	r.t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		_ = logFile.Close()
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			_, _ = fmt.Fprintln(logFile, sc.Text())
			if u, ok := strings.CutPrefix(sc.Text(), "Siskin dashboard: "); ok {
				urls <- strings.TrimSpace(u)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case u := <-urls:
		base, _, _ := strings.Cut(u, "?")
		r.t.Logf("dashboard at %s (log %s)", base, logPath)
		return u
	case <-time.After(60 * time.Second):
		r.t.Fatalf("kubectl-siskin dashboard printed no URL within 60s; log %s", logPath)
	}
	return ""
}

// browser drives one headless chromium tab, saving screenshots in dir.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func (r *rig) newBrowser() *browser {
	r.t.Helper()
	exe := os.Getenv("SISKIN_CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if exe != "" {
			break
		}
		exe, _ = exec.LookPath(name)
	}
	if exe == "" {
		r.t.Fatal("chromium not found: install it (hack/chromium.sh) or set SISKIN_CHROMIUM")
	}
	base := os.Getenv("SISKIN_ARTIFACTS")
	if base == "" {
		base = filepath.Join(r.in.Env.Repo, ".state", "artifacts")
	}
	dir := filepath.Join(base, "e2e-dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("screenshots in %s", dir)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1400, 1300), chromedp.Flag("disable-gpu", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(r.ctx, opts...)
	ctx, cancel := chromedp.NewContext(actx)
	r.t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: r.t, ctx: ctx, dir: dir}
	b.do("start chromium", chromedp.Navigate("about:blank"))
	return b
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	// Not a derived context: chromedp starts the browser on the context of the first action
	// and closes it when that context ends.
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// waitFor polls a JavaScript predicate in the page until it holds. A poll whose page's
// JavaScript context went away under it (a navigation or reload; seen once right after the
// printed URL was opened) is started again in the new context, until the deadline.
func (b *browser) waitFor(what, predicate string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](predicate,
			chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(100*time.Millisecond)))
		if err == nil {
			return
		}
		if !pageNavigated(err) || time.Until(deadline) <= 0 {
			b.fail(what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pageNavigated reports whether a script failed because its page's JavaScript context went away
// (a navigation or reload), not because of the script.
func pageNavigated(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot find context with specified id") ||
		strings.Contains(msg, "Execution context was destroyed") ||
		strings.Contains(msg, "Inspected target navigated or closed")
}

func (b *browser) eval(what, expr string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.fail(what, err)
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
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Errorf("save screenshot %s: %v", name, err)
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

// normalSteps writes each "label@+duration" of a step list with Go's duration format, so that the
// page's "+1m" and the plan's "+1m0s" compare equal.
func normalSteps(steps string) string {
	fields := strings.Fields(steps)
	for i, f := range fields {
		label, at, ok := strings.Cut(f, "@+")
		if !ok {
			continue
		}
		if d, err := time.ParseDuration(at); err == nil {
			fields[i] = label + "@+" + d.String()
		}
	}
	return strings.Join(fields, " ")
}
