package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router/istio"
	"github.com/siskin-dev/siskin/pkg/target"
)

// cannedState is a Canary at one moment of a rollout, written to the API server as the
// controller would have left it, with its Deployments, Services, route and events.
type cannedState struct {
	name    string
	status  siskinv1.CanaryStatus
	spec    func(*siskinv1.Canary)
	route   canary.DesiredRoute
	ready   int32 // ready replicas of the canary Deployment
	replica int32 // replicas of the canary Deployment
	events  []eventsv1.Event
}

func ago(d time.Duration) *metav1.Time { return &metav1.Time{Time: testNow.Add(-d)} }

func cond(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: *ago(time.Minute), ObservedGeneration: 1}
}

func event(typ, reason, note string, at time.Duration) eventsv1.Event {
	return eventsv1.Event{Type: typ, Reason: reason, Note: note, EventTime: metav1.MicroTime{Time: testNow.Add(-at)}}
}

const (
	revOld = "0a1b2c3d4e5f6a7b"
	revNew = "9f8e7d6c5b4a3f2e"
)

func check(name, kind, value, minimum, maximum string, v siskinv1.CheckVerdict, msg string) siskinv1.CheckResult {
	return siskinv1.CheckResult{Name: name, Kind: kind, Value: value, Min: minimum, Max: maximum, Verdict: v, Message: msg, Time: *ago(20 * time.Second)}
}

func cannedStates() []cannedState {
	return []cannedState{
		{
			name:  "promoting",
			route: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 20},
			ready: 2, replica: 2,
			status: siskinv1.CanaryStatus{
				Phase: siskinv1.PhaseProgressing, CanaryWeight: 20, Iterations: 2,
				LastAppliedSpec: revNew, LastPromotedSpec: revOld, LastStepTime: ago(20 * time.Second),
				LastChecks: []siskinv1.CheckResult{
					check("load-test", "webhook", "", "", "", siskinv1.VerdictPass, ""),
					check("request-success-rate", "metric", "99.87", "99", "", siskinv1.VerdictPass, ""),
					check("request-duration", "metric", "212", "", "500", siskinv1.VerdictPass, ""),
				},
				Conditions: []metav1.Condition{
					cond(siskinv1.ConditionReady, metav1.ConditionFalse, siskinv1.ReasonProgressing, "analysing revision 9f8e7d6c5b4a: canary weight 20/30, failed checks 0/2"),
					cond(siskinv1.ConditionReconciling, metav1.ConditionTrue, siskinv1.ReasonProgressing, "analysing revision 9f8e7d6c5b4a: canary weight 20/30, failed checks 0/2"),
				},
			},
			events: []eventsv1.Event{
				event(corev1.EventTypeNormal, siskinv1.ReasonNewRevision, "new revision 9f8e7d6c5b4a of Deployment/podinfo detected", 3*time.Minute),
				event(corev1.EventTypeNormal, siskinv1.ReasonStepWeightIncreased, "revision 9f8e7d6c5b4a: canary weight increased to 10% (promotion at 30%)", 80*time.Second),
				event(corev1.EventTypeNormal, siskinv1.ReasonStepWeightIncreased, "revision 9f8e7d6c5b4a: canary weight increased to 20% (promotion at 30%)", 20*time.Second),
			},
		},
		{
			name:  "failed",
			route: canary.DesiredRoute{PrimaryWeight: 100},
			ready: 0, replica: 0,
			status: siskinv1.CanaryStatus{
				Phase: siskinv1.PhaseFailed, FailedChecks: 2, CanaryWeight: 0,
				LastAppliedSpec: revNew, LastPromotedSpec: revOld,
				LastChecks: []siskinv1.CheckResult{
					check("load-test", "webhook", "", "", "", siskinv1.VerdictPass, ""),
					check("request-success-rate", "metric", "91.2", "99", "", siskinv1.VerdictFail, "request-success-rate 91.2 < 99"),
					check("request-duration", "metric", "", "", "500", siskinv1.VerdictNoData, "no samples in the last 1m"),
				},
				Conditions: []metav1.Condition{
					cond(siskinv1.ConditionReady, metav1.ConditionFalse, siskinv1.ReasonRolledBack, "revision 9f8e7d6c5b4a rolled back: metric request-success-rate 91.2 below 99; failed checks 2/2"),
					cond(siskinv1.ConditionStalled, metav1.ConditionTrue, siskinv1.ReasonRolledBack, "revision 9f8e7d6c5b4a rolled back: metric request-success-rate 91.2 below 99; failed checks 2/2"),
				},
			},
			events: []eventsv1.Event{
				event(corev1.EventTypeWarning, siskinv1.ReasonAnalysisCheckFailed, "revision 9f8e7d6c5b4a: metric request-success-rate 93.0 below 99; failed checks 1/2", 80*time.Second),
				event(corev1.EventTypeWarning, siskinv1.ReasonAnalysisCheckFailed, "revision 9f8e7d6c5b4a: metric request-success-rate 91.2 below 99; failed checks 2/2", 20*time.Second),
				event(corev1.EventTypeWarning, siskinv1.ReasonRolledBack, "revision 9f8e7d6c5b4a rolled back: metric request-success-rate 91.2 below 99; failed checks 2/2", 19*time.Second),
			},
		},
		{
			name:  "waiting-at-gate",
			route: canary.DesiredRoute{PrimaryWeight: 70, CanaryWeight: 30},
			ready: 2, replica: 2,
			status: siskinv1.CanaryStatus{
				Phase: siskinv1.PhaseWaitingPromotion, CanaryWeight: 30, Iterations: 3,
				LastAppliedSpec: revNew, LastPromotedSpec: revOld, LastStepTime: ago(20 * time.Second), WaitingSince: ago(5 * time.Minute),
				LastChecks: []siskinv1.CheckResult{
					check("load-test", "webhook", "", "", "", siskinv1.VerdictPass, ""),
					check("request-success-rate", "metric", "100", "99", "", siskinv1.VerdictPass, ""),
				},
				Conditions: []metav1.Condition{
					cond(siskinv1.ConditionReady, metav1.ConditionFalse, siskinv1.ReasonWaitingForPromotion, "revision 9f8e7d6c5b4a passed the analysis; confirm-promotion webhook approve answered 403: not yet"),
					cond(siskinv1.ConditionReconciling, metav1.ConditionTrue, siskinv1.ReasonWaitingForPromotion, "revision 9f8e7d6c5b4a passed the analysis; confirm-promotion webhook approve answered 403: not yet"),
				},
			},
			events: []eventsv1.Event{
				event(corev1.EventTypeNormal, siskinv1.ReasonWaitingForPromotion, "revision 9f8e7d6c5b4a: waiting for approval: confirm-promotion webhook approve answered 403: not yet", 5*time.Minute),
			},
		},
		{
			name:  "advised",
			route: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 20},
			ready: 2, replica: 2,
			status: siskinv1.CanaryStatus{
				Phase: siskinv1.PhaseProgressing, CanaryWeight: 20, Iterations: 2, Paused: true,
				LastAppliedSpec: revNew, LastPromotedSpec: revOld, LastStepTime: ago(40 * time.Second),
				Comparison: &siskinv1.ComparisonStatus{Revision: revNew, Control: "podinfo-primary", Looks: 9, LastLookTime: ago(5 * time.Second),
					Metrics: []siskinv1.ComparedMetricStatus{{
						Name: "request-success-rate", Kind: siskinv1.CompareRate, Verdict: siskinv1.ComparisonRegression,
						CanaryRequests: 4210, ControlRequests: 16840, CanaryEvents: 27, ControlEvents: 51,
						Ratio: "2.12", RatioLow: "1.60", RatioHigh: "2.80", Evidence: "412.00", PassEvidence: "0.01",
						Message: "request-success-rate: errors 2.12× the primary's (95% CS 1.60–2.80) after 4,210 canary requests; evidence of a regression 412.00 ≥ 100.00",
						State:   "internal",
					}}},
				Advice: &siskinv1.Advice{Since: *ago(time.Minute), Deadline: metav1.NewTime(testNow.Add(59 * time.Minute)), Reason: siskinv1.ReasonRegressionDetected,
					Message: "request-success-rate: errors 2.12× the primary's (95% CS 1.60–2.80) after 4,210 canary requests"},
				Conditions: []metav1.Condition{
					cond(siskinv1.ConditionReady, metav1.ConditionFalse, siskinv1.ReasonAdviceRequested, "revision 9f8e7d6c5b4a: errors 2.12× the primary's; waiting for a person"),
					cond(siskinv1.ConditionReconciling, metav1.ConditionTrue, siskinv1.ReasonAdviceRequested, "revision 9f8e7d6c5b4a: errors 2.12× the primary's; waiting for a person"),
				},
			},
		},
		{
			name:  "queued",
			route: canary.DesiredRoute{PrimaryWeight: 100},
			ready: 0, replica: 0,
			status: siskinv1.CanaryStatus{
				Phase: siskinv1.PhaseSucceeded, LastAppliedSpec: revOld, LastPromotedSpec: revOld,
				Conditions: []metav1.Condition{
					cond(siskinv1.ConditionReady, metav1.ConditionFalse, siskinv1.ReasonQueued, "revision 9f8e7d6c5b4a waits for a rollout slot (3 of 3 in use)"),
					cond(siskinv1.ConditionReconciling, metav1.ConditionTrue, siskinv1.ReasonQueued, "revision 9f8e7d6c5b4a waits for a rollout slot (3 of 3 in use)"),
				},
			},
		},
	}
}

// goldenCanary is the spec of every canned state: istio, weights 10 to 30, two metrics, a
// load test and a promotion gate.
func goldenCanary(ns string) *siskinv1.Canary {
	c := rollouttest.Canary(ns, "podinfo", siskinv1.ProviderIstio)
	c.Spec.Analysis = &siskinv1.CanaryAnalysis{
		Interval: "1m", Threshold: 2, StepWeight: 10, MaxWeight: ptr.To[int32](30),
		Metrics: []siskinv1.CanaryMetric{
			{Name: siskinv1.MetricRequestSuccessRate, ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr.To(99.0)}},
			{Name: siskinv1.MetricRequestDuration, ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr.To(500.0)}},
		},
		Webhooks: []siskinv1.CanaryWebhook{
			{Name: "load-test", Type: siskinv1.RolloutHook, URL: "http://loadtester.test/"},
			{Name: "approve", Type: siskinv1.ConfirmPromotionHook, URL: "http://loadtester.test/gate/check"},
		},
	}
	return c
}

// writeState creates the objects of state s in a namespace named after it.
func writeState(t *testing.T, s cannedState) string {
	t.Helper()
	ctx := context.Background()
	ns := newNamespace(t, "get-"+s.name)
	c := goldenCanary(ns)
	if s.spec != nil {
		s.spec(c)
	}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Status = s.status
	c.Status.ObservedGeneration = c.Generation
	if err := k8sClient.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		name               string
		replicas, ready    int32
		revisionAnnotation string
	}{
		{"podinfo-primary", 3, 3, revOld},
		{"podinfo", s.replica, s.ready, ""},
	} {
		dep := rollouttest.Podinfo(ns, "podinfo:6.0.0")
		dep.Name, dep.Spec.Replicas = d.name, ptr.To(d.replicas)
		if d.revisionAnnotation != "" {
			dep.Annotations = map[string]string{target.AnnotationRevision: d.revisionAnnotation}
		}
		if err := k8sClient.Create(ctx, dep); err != nil {
			t.Fatal(err)
		}
		dep.Status.Replicas, dep.Status.UpdatedReplicas, dep.Status.ReadyReplicas, dep.Status.AvailableReplicas = d.replicas, d.replicas, d.ready, d.ready
		dep.Status.ObservedGeneration = dep.Generation
		if err := k8sClient.Status().Update(ctx, dep); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9898, TargetPort: intstr.FromInt32(9898)}}},
		}
		if err := k8sClient.Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	// The route as the controller's own router writes it.
	if err := istio.New(k8sClient, k8sClient).Apply(ctx, c, s.route); err != nil {
		t.Fatal(err)
	}
	for i, e := range s.events {
		e.Name = "podinfo." + string(rune('a'+i))
		e.Namespace = ns
		e.Regarding = corev1.ObjectReference{APIVersion: siskinv1.GroupVersion.String(), Kind: "Canary", Name: c.Name, Namespace: ns, UID: c.UID}
		e.ReportingController, e.ReportingInstance, e.Action = "siskin", "siskin-test", string(c.Status.Phase)
		if err := k8sClient.Create(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	return ns
}

// TestGetGolden draws `get canary` for each canned state and compares it with
// testdata/get-<state>.golden.
func TestGetGolden(t *testing.T) {
	for _, s := range cannedStates() {
		t.Run(s.name, func(t *testing.T) {
			ns := writeState(t, s)
			code, stdout, stderr := run(t, func() time.Time { return testNow }, "get", "canary", "podinfo", "-n", ns)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			golden(t, "get-"+s.name, stdout)

			// -o json carries the same facts as data.
			code, stdout, stderr = run(t, func() time.Time { return testNow }, "get", "canary", "podinfo", "-n", ns, "-o", "json")
			if code != ExitOK {
				t.Fatalf("-o json: exit %d: %s", code, stderr)
			}
			var v View
			if err := json.Unmarshal([]byte(stdout), &v); err != nil {
				t.Fatalf("-o json is not a View: %v\n%s", err, stdout)
			}
			if v.Phase != string(s.status.Phase) || v.Route.CanaryWeight != s.route.CanaryWeight || len(v.Checks) != len(s.status.LastChecks) {
				t.Errorf("-o json: phase %s, route canary weight %d, %d checks; want %s, %d, %d", v.Phase, v.Route.CanaryWeight, len(v.Checks), s.status.Phase, s.route.CanaryWeight, len(s.status.LastChecks))
			}
		})
	}
}

// TestGetWatchRedrawsOnChange follows a Canary with -w: a status change is drawn without
// polling, and plain output (not a terminal) has no escape codes.
func TestGetWatchRedrawsOnChange(t *testing.T) {
	s := cannedStates()[0]
	s.name = "watch"
	ns := writeState(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut rollouttest.SyncBuffer
	done := make(chan int)
	go func() {
		done <- runWith(ctx, func() time.Time { return testNow }, &out, &errOut, "get", "canary", "podinfo", "-n", ns, "-w")
	}()

	waitOutput(t, &out, "Weight:      20%")
	c := &siskinv1.Canary{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, c); err != nil {
		t.Fatal(err)
	}
	c.Status.CanaryWeight, c.Status.Iterations = 30, 3
	if err := k8sClient.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &out, "Weight:      30%")
	cancel()
	if code := <-done; code != ExitOK {
		t.Errorf("exit %d after Ctrl-C: %s", code, errOut.String())
	}
	if strings.Contains(out.String(), clearScreen) {
		t.Error("plain output contains terminal escape codes")
	}
}

// waitOutput waits until out contains want.
func waitOutput(t *testing.T, out *rollouttest.SyncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never showed %q:\n%s", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListShowsEveryCanaryWithItsQueue lists the canned states across namespaces.
func TestListShowsEveryCanaryWithItsQueue(t *testing.T) {
	for _, s := range cannedStates() {
		s.name = "list-" + s.name
		writeState(t, s)
	}
	code, stdout, stderr := run(t, func() time.Time { return testNow }, "list", "-A")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Other tests' Canaries may be listed too: keep the header and this test's.
	var b strings.Builder
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "NAMESPACE") || strings.HasPrefix(l, "get-list-") {
			b.WriteString(l + "\n")
		}
	}
	golden(t, "list", b.String())
}

// golden compares got with testdata/<name>.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
