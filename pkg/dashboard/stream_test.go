package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name string
	data string
}

// readEvents sends the stream's events to a channel until the body ends.
func readEvents(t *testing.T, body *bufio.Reader) <-chan sseEvent {
	t.Helper()
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		var ev sseEvent
		for {
			line, err := body.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "":
				if ev.name != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

// nextDetail waits for a "canary" event that satisfies ok.
func nextDetail(t *testing.T, events <-chan sseEvent, what string, ok func(*Detail) bool) *Detail {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, open := <-events:
			if !open {
				t.Fatalf("stream ended while waiting for %s", what)
			}
			if ev.name == "problem" {
				t.Fatalf("stream problem while waiting for %s: %s", what, ev.data)
			}
			if ev.name != "canary" {
				continue
			}
			d := &Detail{}
			if err := json.Unmarshal([]byte(ev.data), d); err != nil {
				t.Fatal(err)
			}
			if ok(d) {
				return d
			}
		case <-timeout:
			t.Fatalf("no canary event with %s within 20s", what)
		}
	}
}

func TestStreamPushesEachStatusChangeAndKeepsTheStepsSeen(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	c := rollouttest.Canary(ns, "podinfo", siskinv1.ProviderKubernetes)
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	s, ts := serve(t, env.Config, Options{Namespace: ns})
	ck := session(t, s, ts)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/stream?canary="+ns+"/podinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(ck)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream Content-Type %q", ct)
	}
	events := readEvents(t, bufio.NewReader(res.Body))
	nextDetail(t, events, "the Canary", func(d *Detail) bool { return d.Name == "podinfo" })

	// Two analysis steps, as the controller would write them, one status write each.
	var d *Detail
	for i, step := range []struct {
		weight  int32
		value   string
		verdict siskinv1.CheckVerdict
	}{{10, "99.5", siskinv1.VerdictPass}, {20, "97.0", siskinv1.VerdictFail}} {
		at := metav1.NewTime(time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC))
		c.Status = siskinv1.CanaryStatus{
			Phase: siskinv1.PhaseProgressing, CanaryWeight: step.weight, LastStepTime: &at,
			LastChecks: []siskinv1.CheckResult{{
				Name: "request-success-rate", Kind: "metric", Value: step.value, Min: "99",
				Verdict: step.verdict, Time: at,
			}},
		}
		if err := k8sClient.Status().Update(ctx, c); err != nil {
			t.Fatal(err)
		}
		d = nextDetail(t, events, "the step at weight "+step.value, func(d *Detail) bool {
			return d.Weight == step.weight && len(d.Metrics) == 1 && len(d.Metrics[0].Points) == i+1
		})
	}
	pts := d.Metrics[0].Points
	if pts[0].Step != 1 || pts[1].Step != 2 || *pts[0].Value != 99.5 || *pts[1].Value != 97 || *pts[1].Min != 99 || pts[1].Verdict != "Fail" {
		t.Errorf("metric points = %+v, want steps 1 and 2 with 99.5 (Pass) and 97 (Fail), min 99", pts)
	}
	// A round checks, then moves the weight: each step's checks ran at the weight before it.
	if pts[0].Weight != 0 || pts[1].Weight != 10 {
		t.Errorf("points at weights %d and %d, want 0 and 10", pts[0].Weight, pts[1].Weight)
	}
	var weights []int32
	for _, p := range d.Traffic {
		weights = append(weights, p.Weight)
	}
	if len(weights) < 3 || weights[len(weights)-2] != 10 || weights[len(weights)-1] != 20 {
		t.Errorf("traffic history %v, want it to end with 10, 20", weights)
	}
	steps := 0
	for _, e := range d.Timeline {
		if e.Kind == "step" {
			steps++
		}
	}
	if steps != 2 {
		t.Errorf("timeline has %d analysis steps, want 2: %+v", steps, d.Timeline)
	}
}

// askingCanary compares the canary with the primary and asks a person instead of rolling back.
func askingCanary(ns string) *siskinv1.Canary {
	c := rollouttest.Canary(ns, "podinfo", siskinv1.ProviderKubernetes)
	c.Spec.Analysis = &siskinv1.CanaryAnalysis{
		Interval: "1m", Threshold: 2, StepWeight: 20, MaxWeight: ptr.To[int32](60),
		Comparison: &siskinv1.CanaryComparison{Metrics: []siskinv1.ComparedMetric{{Name: "request-success-rate"}}},
		Advise:     &siskinv1.CanaryAdvise{Timeout: "30m", OnTimeout: siskinv1.AdviseRollback},
	}
	return c
}

// testState stands for the sequential test's encoded state, which the dashboard never sends.
const testState = "c2VxdWVudGlhbC1zdGF0ZQ"

// askingStatus is the status the controller writes when a comparison finds a regression and
// the rollout asks a person: paused at 20%, with the evidence.
func askingStatus(now time.Time) siskinv1.CanaryStatus {
	since, deadline := metav1.NewTime(now.Add(-2*time.Minute)), metav1.NewTime(now.Add(28*time.Minute))
	msg := "request-success-rate: errors 2.12× the primary's (95% CS 1.60–2.80) after 4,210 canary requests; evidence of a regression 412.00 ≥ 100.00"
	return siskinv1.CanaryStatus{
		Phase: siskinv1.PhaseProgressing, CanaryWeight: 20, Paused: true, LastAppliedSpec: "5d7f8c9b6a41",
		Comparison: &siskinv1.ComparisonStatus{
			Revision: "5d7f8c9b6a41", Control: "podinfo-primary", Looks: 7, LastLookTime: &since,
			Metrics: []siskinv1.ComparedMetricStatus{{
				Name: "request-success-rate", Kind: siskinv1.CompareRate, Verdict: siskinv1.ComparisonRegression,
				CanaryRequests: 4210, ControlRequests: 16840, CanaryEvents: 89, ControlEvents: 168,
				Ratio: "2.12", RatioLow: "1.60", RatioHigh: "2.80", Evidence: "412.00", PassEvidence: "0.01",
				Message: msg, State: testState,
			}},
		},
		Advice: &siskinv1.Advice{Since: since, Reason: siskinv1.ReasonRegressionDetected, Message: msg, Deadline: deadline},
	}
}

func TestStreamSendsTheComparisonAndTheAdviceButNotTheTestsState(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	c := askingCanary(ns)
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	s, ts := serve(t, env.Config, Options{Namespace: ns})
	ck := session(t, s, ts)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/stream?canary="+ns+"/podinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(ck)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	events := readEvents(t, bufio.NewReader(res.Body))
	d := nextDetail(t, events, "the Canary", func(d *Detail) bool { return d.Name == "podinfo" })
	if d.Comparison != nil || d.Advice != nil {
		t.Errorf("a Canary without evidence shows comparison %+v and advice %+v, want none", d.Comparison, d.Advice)
	}

	now := time.Now().UTC().Truncate(time.Second)
	c.Status = askingStatus(now)
	if err := k8sClient.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	// The raw events: neither the page nor the fleet carries the test's state.
	var fleet, detail string
	timeout := time.After(20 * time.Second)
	for fleet == "" || detail == "" {
		select {
		case ev, open := <-events:
			if !open {
				t.Fatal("stream ended while waiting for the advice")
			}
			if ev.name == "problem" {
				t.Fatalf("stream problem: %s", ev.data)
			}
			if strings.Contains(ev.data, `"advice"`) {
				switch ev.name {
				case "fleet":
					fleet = ev.data
				case "canary":
					detail = ev.data
				}
			}
		case <-timeout:
			t.Fatalf("no fleet and canary events with the advice within 20s (fleet %q)", fleet)
		}
	}
	api := do(t, ts, http.MethodGet, "/api/canaries/"+ns+"/podinfo", nil, ck)
	if api.StatusCode != http.StatusOK {
		t.Fatalf("GET the Canary: %s", api.Status)
	}
	for what, body := range map[string]string{"fleet event": fleet, "canary event": detail, "GET /api/canaries": string(api.Body)} {
		if strings.Contains(body, testState) || strings.Contains(body, `"state"`) {
			t.Errorf("the %s carries the comparison's state: %s", what, body)
		}
	}

	d = &Detail{}
	if err := json.Unmarshal([]byte(detail), d); err != nil {
		t.Fatal(err)
	}
	cmp := d.Comparison
	if cmp == nil || cmp.Control != "podinfo-primary" || cmp.Looks != 7 || cmp.LastLookTime == nil || len(cmp.Metrics) != 1 {
		t.Fatalf("comparison = %+v, want podinfo-primary, 7 looks, one metric", cmp)
	}
	want := ComparedMetric{
		Name: "request-success-rate", Kind: "rate", Verdict: "Regression",
		CanaryRequests: 4210, ControlRequests: 16840, CanaryEvents: 89, ControlEvents: 168,
		Ratio: "2.12", RatioLow: "1.60", RatioHigh: "2.80", Evidence: "412.00", PassEvidence: "0.01",
		Message: c.Status.Comparison.Metrics[0].Message,
	}
	if cmp.Metrics[0] != want {
		t.Errorf("compared metric = %+v, want %+v", cmp.Metrics[0], want)
	}
	a := d.Advice
	if a == nil || a.Reason != siskinv1.ReasonRegressionDetected || a.Message != want.Message || a.OnTimeout != siskinv1.AdviseRollback ||
		!a.Since.Equal(now.Add(-2*time.Minute)) || !a.Deadline.Equal(now.Add(28*time.Minute)) {
		t.Errorf("advice = %+v, want the regression, since 2 minutes, deadline in 28, then rollback", a)
	}
	var rows []Row
	if err := json.Unmarshal([]byte(fleet), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Advice == nil || rows[0].Advice.Reason != siskinv1.ReasonRegressionDetected {
		t.Errorf("fleet rows = %+v, want the Canary with its advice", rows)
	}
}
