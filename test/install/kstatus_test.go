package install

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// cond is a condition as the controller writes it.
type cond struct {
	typ    string
	status metav1.ConditionStatus
	reason string
}

// canaryObject is an unstructured Canary at generation gen whose status describes observed,
// with the given phase and conditions. observed < 0 leaves the status out entirely.
func canaryObject(gen, observed int64, phase siskinv1.CanaryPhase, conds ...cond) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": siskinv1.GroupVersion.String(),
		"kind":       "Canary",
		"metadata":   map[string]any{"name": "podinfo", "namespace": "test", "generation": gen},
		"spec": map[string]any{
			"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
		},
	}}
	if observed < 0 {
		return u
	}
	list := make([]any, 0, len(conds))
	for _, c := range conds {
		list = append(list, map[string]any{
			"type": c.typ, "status": string(c.status), "reason": c.reason, "message": c.reason,
			"observedGeneration": observed, "lastTransitionTime": "2026-11-25T10:00:00Z",
		})
	}
	u.Object["status"] = map[string]any{
		"observedGeneration": observed,
		"phase":              string(phase),
		"conditions":         list,
	}
	return u
}

var (
	readyTrue            = cond{siskinv1.ConditionReady, metav1.ConditionTrue, siskinv1.ReasonSucceeded}
	readyFalse           = cond{siskinv1.ConditionReady, metav1.ConditionFalse, siskinv1.ReasonProgressing}
	reconciling          = cond{siskinv1.ConditionReconciling, metav1.ConditionTrue, siskinv1.ReasonProgressing}
	stalled              = cond{siskinv1.ConditionStalled, metav1.ConditionTrue, siskinv1.ReasonRolledBack}
	promotedTrue         = cond{siskinv1.ConditionPromoted, metav1.ConditionTrue, siskinv1.ReasonSucceeded}
	promotedFalse        = cond{siskinv1.ConditionPromoted, metav1.ConditionFalse, siskinv1.ReasonRolledBack}
	promotedUnknown      = cond{siskinv1.ConditionPromoted, metav1.ConditionUnknown, siskinv1.ReasonInitializing}
	reconcileError       = cond{siskinv1.ConditionReconciling, metav1.ConditionTrue, siskinv1.ReasonReconcileError}
	readyFalseRoundError = cond{siskinv1.ConditionReady, metav1.ConditionFalse, siskinv1.ReasonReconcileError}
)

// TestKstatusReadsEveryPhase checks the status kstatus (and so Flux with wait: true, and
// kubectl/kpt/cli-utils appliers) computes for each phase and condition combination the
// controller writes: InProgress while a rollout or a wait is under way, Current at rest,
// Failed once a rollout is rolled back or the spec cannot work.
func TestKstatusReadsEveryPhase(t *testing.T) {
	tests := []struct {
		name string
		obj  *unstructured.Unstructured
		want status.Status
	}{
		{"an initializing canary is in progress",
			canaryObject(1, 1, siskinv1.PhaseInitializing, readyFalse, reconciling, promotedUnknown), status.InProgressStatus},
		{"an initialized canary is current",
			canaryObject(1, 1, siskinv1.PhaseInitialized, readyTrue, promotedTrue), status.CurrentStatus},
		{"a canary waiting for approval is in progress",
			canaryObject(2, 2, siskinv1.PhaseWaiting, readyFalse, reconciling, promotedTrue), status.InProgressStatus},
		{"a progressing canary is in progress",
			canaryObject(2, 2, siskinv1.PhaseProgressing, readyFalse, reconciling, promotedTrue), status.InProgressStatus},
		{"a canary waiting for promotion is in progress",
			canaryObject(2, 2, siskinv1.PhaseWaitingPromotion, readyFalse, reconciling, promotedTrue), status.InProgressStatus},
		{"a promoting canary is in progress",
			canaryObject(2, 2, siskinv1.PhasePromoting, readyFalse, reconciling, promotedTrue), status.InProgressStatus},
		{"a finalising canary is in progress",
			canaryObject(2, 2, siskinv1.PhaseFinalising, readyFalse, reconciling, promotedTrue), status.InProgressStatus},
		{"a succeeded canary is current",
			canaryObject(2, 2, siskinv1.PhaseSucceeded, readyTrue, promotedTrue), status.CurrentStatus},
		{"a rolled-back canary is failed",
			canaryObject(2, 2, siskinv1.PhaseFailed, readyFalse, stalled, promotedFalse), status.FailedStatus},
		{"a failed canary still waiting for the router to confirm the rollback is in progress",
			canaryObject(2, 2, siskinv1.PhaseFailed, readyFalse,
				cond{siskinv1.ConditionReconciling, metav1.ConditionTrue, siskinv1.ReasonRollingBack}, promotedFalse), status.InProgressStatus},
		{"an initialization past its progress deadline is failed",
			canaryObject(1, 1, siskinv1.PhaseInitializing, readyFalse,
				cond{siskinv1.ConditionStalled, metav1.ConditionTrue, siskinv1.ReasonProgressDeadlineExceeded}, promotedUnknown), status.FailedStatus},
		{"a canary with a spec that cannot work is failed",
			canaryObject(1, 1, "", cond{siskinv1.ConditionReady, metav1.ConditionFalse, siskinv1.ReasonInvalidSpec},
				cond{siskinv1.ConditionStalled, metav1.ConditionTrue, siskinv1.ReasonInvalidSpec}), status.FailedStatus},
		{"a failed reconcile round is in progress, not failed: the next round may succeed",
			canaryObject(2, 2, siskinv1.PhaseSucceeded, readyFalseRoundError, reconcileError, promotedTrue), status.InProgressStatus},
		{"a succeeded canary whose new spec is not observed yet is in progress",
			canaryObject(3, 2, siskinv1.PhaseSucceeded, readyTrue, promotedTrue), status.InProgressStatus},
		{"a failed canary whose new spec is not observed yet is in progress: the new spec may fix it",
			canaryObject(3, 2, siskinv1.PhaseFailed, readyFalse, stalled, promotedFalse), status.InProgressStatus},
		// kstatus reads an object without status.observedGeneration and conditions as Current:
		// until the controller's first status write, a new Canary looks done to Flux.
		{"a canary the controller has not written yet is current to kstatus",
			canaryObject(1, -1, ""), status.CurrentStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := status.Compute(tt.obj)
			if err != nil {
				t.Fatalf("compute status: %v", err)
			}
			if res.Status != tt.want {
				t.Errorf("kstatus = %s (%s), want %s", res.Status, res.Message, tt.want)
			}
		})
	}
}

// TestKstatusReadsDeletingCanary checks that a Canary being deleted (its finalizer hands
// traffic back to the target) is Terminating.
func TestKstatusReadsDeletingCanary(t *testing.T) {
	u := canaryObject(2, 2, siskinv1.PhaseTerminating, readyFalse, reconciling)
	deleted := metav1.NewTime(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	u.SetDeletionTimestamp(&deleted)
	res, err := status.Compute(u)
	if err != nil {
		t.Fatalf("compute status: %v", err)
	}
	if res.Status != status.TerminatingStatus {
		t.Errorf("kstatus = %s (%s), want %s", res.Status, res.Message, status.TerminatingStatus)
	}
}

// TestKstatusReadsControllerConditions computes the conditions with the controller's own
// helpers (pkg/canary), so a change there that breaks what kstatus reads fails here.
func TestKstatusReadsControllerConditions(t *testing.T) {
	tests := []struct {
		name  string
		phase siskinv1.CanaryPhase
		set   func(*siskinv1.CanaryStatus, int64)
		want  status.Status
	}{
		{"initialized", siskinv1.PhaseInitialized, func(s *siskinv1.CanaryStatus, g int64) {
			canary.SetReadiness(s, g, siskinv1.ReasonInitialized, "revision abc is the primary")
		}, status.CurrentStatus},
		{"progressing", siskinv1.PhaseProgressing, func(s *siskinv1.CanaryStatus, g int64) {
			canary.SetReadiness(s, g, siskinv1.ReasonProgressing, "canary weight 10")
		}, status.InProgressStatus},
		{"succeeded", siskinv1.PhaseSucceeded, func(s *siskinv1.CanaryStatus, g int64) {
			canary.SetReadiness(s, g, siskinv1.ReasonSucceeded, "revision abc is promoted")
		}, status.CurrentStatus},
		{"terminating", siskinv1.PhaseTerminating, func(s *siskinv1.CanaryStatus, g int64) {
			canary.SetReadiness(s, g, siskinv1.ReasonTerminating, "handing traffic back")
		}, status.InProgressStatus},
		{"stalled on an invalid spec", "", func(s *siskinv1.CanaryStatus, g int64) {
			canary.SetStalled(s, g, siskinv1.ReasonInvalidSpec, "interval must be at least 10s")
		}, status.FailedStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &siskinv1.Canary{
				TypeMeta:   metav1.TypeMeta{APIVersion: siskinv1.GroupVersion.String(), Kind: "Canary"},
				ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test", Generation: 4},
			}
			c.Status.Phase = tt.phase
			c.Status.ObservedGeneration = c.Generation
			tt.set(&c.Status, c.Generation)
			obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c)
			if err != nil {
				t.Fatalf("convert: %v", err)
			}
			res, err := status.Compute(&unstructured.Unstructured{Object: obj})
			if err != nil {
				t.Fatalf("compute status: %v", err)
			}
			if res.Status != tt.want {
				t.Errorf("kstatus = %s (%s), want %s; conditions %+v", res.Status, res.Message, tt.want, c.Status.Conditions)
			}
		})
	}
}
