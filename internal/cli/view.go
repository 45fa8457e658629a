package cli

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/providers"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// maxEvents is how many of the last events `get` shows.
const maxEvents = 8

// View is what `get canary` shows (and prints with -o json|yaml): the Canary, the objects it
// drives as they are live, its last checks, its webhooks and its last events.
type View struct {
	Namespace        string         `json:"namespace"`
	Name             string         `json:"name"`
	Phase            string         `json:"phase"`
	Revision         string         `json:"revision,omitempty"`
	PromotedRevision string         `json:"promotedRevision,omitempty"`
	Weight           int32          `json:"weight"`
	Step             int            `json:"step"`
	Steps            int            `json:"steps"`
	NextStep         *metav1.Time   `json:"nextStep,omitempty"`
	Paused           bool           `json:"paused,omitempty"`
	Queued           bool           `json:"queued,omitempty"`
	FailedChecks     int32          `json:"failedChecks"`
	Threshold        int32          `json:"threshold"`
	Conditions       []ConditionRow `json:"conditions,omitempty"`
	Deployments      []WorkloadView `json:"deployments"`
	Services         []ObjectView   `json:"services"`
	Route            RouteView      `json:"route"`
	Checks           []CheckView    `json:"checks,omitempty"`
	// Comparison is the evidence of analysis.comparison in the current (or last) rollout.
	Comparison *siskinv1.ComparisonStatus `json:"comparison,omitempty"`
	// Advice is the question the rollout waits on (analysis.advise).
	Advice   *siskinv1.Advice `json:"advice,omitempty"`
	Webhooks []WebhookView    `json:"webhooks,omitempty"`
	Events   []EventView      `json:"events,omitempty"`
}

// ConditionRow is one condition of the Canary.
type ConditionRow struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// WorkloadView is a workload (the primary and the canary Deployment or DaemonSet, or the
// StatefulSet rolled out in place) with the readiness of its pods.
type WorkloadView struct {
	// Kind is Deployment, DaemonSet or StatefulSet.
	Kind      string `json:"kind,omitempty"`
	Role      string `json:"role"`
	Name      string `json:"name"`
	Exists    bool   `json:"exists"`
	Replicas  int32  `json:"replicas"`
	Ready     int32  `json:"ready"`
	Updated   int32  `json:"updated"`
	Available int32  `json:"available"`
	// Revision is the target revision the primary was last copied from.
	Revision string `json:"revision,omitempty"`
	// Partition is a StatefulSet's rolling-update partition: pods at or above it run the new
	// revision.
	Partition *int32 `json:"partition,omitempty"`
}

// ObjectView is an object that exists or not.
type ObjectView struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
}

// CheckView is a check of the last analysis step.
type CheckView struct {
	Name    string      `json:"name"`
	Kind    string      `json:"kind"`
	Value   string      `json:"value,omitempty"`
	Min     string      `json:"min,omitempty"`
	Max     string      `json:"max,omitempty"`
	Verdict string      `json:"verdict"`
	Message string      `json:"message,omitempty"`
	Time    metav1.Time `json:"time"`
}

// WebhookView is a webhook of the analysis with its state.
type WebhookView struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// State is the verdict of its last check (Pass, Fail, NoData, Error), "closed" for a gate
	// the rollout waits at, or empty.
	State   string `json:"state,omitempty"`
	Message string `json:"message,omitempty"`
	// Since is when the rollout started waiting at a closed gate.
	Since *metav1.Time `json:"since,omitempty"`
}

// EventView is an event about the Canary.
type EventView struct {
	Time   metav1.Time `json:"time"`
	Type   string      `json:"type"`
	Reason string      `json:"reason"`
	Note   string      `json:"note"`
	Count  int32       `json:"count,omitempty"`
}

// gateWaits maps each gate to the reason the controller gives while it is closed.
var gateWaits = map[siskinv1.WebhookType]string{
	siskinv1.ConfirmRolloutHook:         siskinv1.ReasonWaitingForApproval,
	siskinv1.ConfirmTrafficIncreaseHook: siskinv1.ReasonWaitingForTrafficIncrease,
	siskinv1.ConfirmPromotionHook:       siskinv1.ReasonWaitingForPromotion,
}

// buildView reads Canary key and what it drives.
func buildView(ctx context.Context, c client.Client, key client.ObjectKey) (*View, error) {
	cn, err := getCanary(ctx, c, key)
	if err != nil {
		return nil, err
	}
	provider := resolveProvider(ctx, c, cn)
	st := &cn.Status
	pr := canary.ProgressOf(cn, provider)
	v := &View{
		Namespace: cn.Namespace, Name: cn.Name, Phase: string(st.Phase),
		Revision: st.LastAppliedSpec, PromotedRevision: st.LastPromotedSpec,
		Weight: st.CanaryWeight, Step: pr.Step, Steps: pr.Steps, Paused: st.Paused,
		FailedChecks: st.FailedChecks, Threshold: 1, Queued: isQueued(cn),
	}
	if a := cn.Spec.Analysis; a != nil && a.Threshold > 0 {
		v.Threshold = a.Threshold
	}
	if !pr.NextStep.IsZero() {
		v.NextStep = &metav1.Time{Time: pr.NextStep}
	}
	for _, cond := range st.Conditions {
		v.Conditions = append(v.Conditions, ConditionRow{Type: cond.Type, Status: string(cond.Status), Reason: cond.Reason, Message: cond.Message})
	}
	kind := cn.Spec.TargetRef.Kind
	if kind == "" {
		kind = target.KindDeployment
	}
	workloads := []struct{ role, name string }{
		{"primary", target.PrimaryName(cn.Spec.TargetRef.Name)},
		{"canary", cn.Spec.TargetRef.Name},
	}
	if kind == target.KindStatefulSet {
		// Rolled out in place: the one StatefulSet is both.
		workloads = workloads[1:]
		workloads[0].role = "in place"
	}
	if a := cn.Spec.Analysis; a != nil && a.Comparison != nil && a.Comparison.Control == siskinv1.ControlBaseline {
		workloads = append(workloads, struct{ role, name string }{"baseline", cn.Spec.TargetRef.Name + "-baseline"})
	}
	for _, w := range workloads {
		wv, err := workloadView(ctx, c, cn.Namespace, kind, w.role, w.name)
		if err != nil {
			return nil, err
		}
		v.Deployments = append(v.Deployments, wv)
	}
	if providers.Generates(provider) { // provider replicas generates no Services
		apex, primary, canaryName := router.ServiceNames(cn)
		for _, name := range []string{apex, primary, canaryName} {
			err := c.Get(ctx, client.ObjectKey{Namespace: cn.Namespace, Name: name}, &corev1.Service{})
			if err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("get service %s/%s: %w", cn.Namespace, name, err)
			}
			v.Services = append(v.Services, ObjectView{Kind: "Service", Name: name, Exists: err == nil})
		}
	}
	v.Route = observeRoute(ctx, c, cn, provider)
	for _, ch := range st.LastChecks {
		v.Checks = append(v.Checks, CheckView{
			Name: ch.Name, Kind: ch.Kind, Value: ch.Value, Min: ch.Min, Max: ch.Max,
			Verdict: string(ch.Verdict), Message: ch.Message, Time: ch.Time,
		})
	}
	if st.Comparison != nil {
		v.Comparison = st.Comparison.DeepCopy()
		for i := range v.Comparison.Metrics {
			v.Comparison.Metrics[i].State = "" // the test's internals, not for people
		}
	}
	v.Advice = st.Advice
	v.Webhooks = webhookViews(cn)
	if events, err := canaryEvents(ctx, c, cn); err == nil {
		if len(events) > maxEvents {
			events = events[len(events)-maxEvents:]
		}
		for i := range events {
			e := &events[i]
			v.Events = append(v.Events, EventView{Time: metav1.Time{Time: eventTime(e)}, Type: e.Type, Reason: e.Reason, Note: e.Note, Count: seriesCount(e)})
		}
	}
	return v, nil
}

// workloadView reads the workload of a role; the baseline is always a Deployment.
func workloadView(ctx context.Context, c client.Client, ns, kind, role, name string) (WorkloadView, error) {
	if role == "baseline" {
		kind = target.KindDeployment
	}
	wv := WorkloadView{Kind: kind, Role: role, Name: name}
	pc, err := target.ReadPodCounts(ctx, c, kind, client.ObjectKey{Namespace: ns, Name: name})
	switch {
	case apierrors.IsNotFound(err):
		return wv, nil
	case err != nil:
		return wv, err
	}
	wv.Exists = true
	wv.Replicas, wv.Ready, wv.Updated, wv.Available, wv.Partition = pc.Wanted, pc.Ready, pc.Updated, pc.Available, pc.Partition
	if role == "primary" {
		wv.Revision = pc.Object.GetAnnotations()[target.AnnotationRevision]
	}
	return wv, nil
}

// webhookViews lists the analysis webhooks with their state: the verdict of their last check,
// or, for a gate, whether the rollout waits at it.
func webhookViews(cn *siskinv1.Canary) []WebhookView {
	if cn.Spec.Analysis == nil {
		return nil
	}
	ready := apimeta.FindStatusCondition(cn.Status.Conditions, siskinv1.ConditionReady)
	var out []WebhookView
	for _, w := range cn.Spec.Analysis.Webhooks {
		typ := w.Type
		if typ == "" {
			typ = siskinv1.RolloutHook
		}
		wv := WebhookView{Name: w.Name, Type: string(typ)}
		for _, ch := range cn.Status.LastChecks {
			if ch.Kind == "webhook" && ch.Name == w.Name {
				wv.State, wv.Message = string(ch.Verdict), ch.Message
			}
		}
		if reason, gate := gateWaits[typ]; gate && ready != nil && ready.Reason == reason {
			wv.State, wv.Message, wv.Since = "closed", ready.Message, cn.Status.WaitingSince
		}
		out = append(out, wv)
	}
	return out
}

// isQueued reports whether a new revision waits for a rollout slot.
func isQueued(cn *siskinv1.Canary) bool {
	r := apimeta.FindStatusCondition(cn.Status.Conditions, siskinv1.ConditionReconciling)
	return r != nil && r.Reason == siskinv1.ReasonQueued
}

// dueIn says when t is due, relative to now.
func dueIn(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	if d <= 0 {
		return "now"
	}
	return "in " + d.String()
}

// age says how long ago t was.
func age(t, now time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String()
}
