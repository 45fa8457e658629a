package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/notify"
)

type healthMap map[types.NamespacedName]notify.Health

func (m healthMap) Health(p types.NamespacedName) (notify.Health, bool) {
	h, ok := m[p]
	return h, ok
}

// Every provider type is accepted by the CRD, and its Ready condition follows its deliveries.
func TestAlertProviderReadyFollowsDeliveries(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"slack", "msteams", "discord", "rocket", "gchat", "generic"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			readyFollowsDeliveries(t, typ)
		})
	}
}

func readyFollowsDeliveries(t *testing.T, typ string) {
	ns := newNamespace(t)
	ctx := context.Background()
	ap := &siskinv1.AlertProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "on-call", Namespace: ns},
		Spec:       siskinv1.AlertProviderSpec{Type: typ, Address: "http://127.0.0.1:1/hook"},
	}
	if err := k8sClient.Create(ctx, ap); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: ns, Name: "on-call"}
	health := healthMap{}
	r := &AlertProviderReconciler{Client: k8sClient, Health: health}
	failure := "post to http://127.0.0.1:1: answered 500 Internal Server Error"
	t0 := time.Now()

	steps := []struct {
		name   string
		health *notify.Health
		want   string
	}{
		{"nothing sent yet", nil, "Unknown/NoDeliveries"},
		{"a message queued, none sent yet", &notify.Health{Type: typ}, "Unknown/NoDeliveries"},
		{"the last message failed", &notify.Health{Type: typ, LastError: failure, ConsecutiveFailures: 3, LastFailure: t0}, "False/DeliveryFailed"},
		{"a message was delivered again", &notify.Health{Type: typ, Delivered: 1, LastFailure: t0, LastSuccess: t0.Add(time.Second)}, "True/Delivered"},
	}
	for _, s := range steps {
		if s.health != nil {
			health[key] = *s.health
		}
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := &siskinv1.AlertProvider{}
		if err := k8sClient.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		c := meta.FindStatusCondition(got.Status.Conditions, siskinv1.ConditionReady)
		if c == nil || string(c.Status)+"/"+c.Reason != s.want {
			t.Fatalf("%s: Ready = %+v, want %s", s.name, c, s.want)
		}
		if s.health != nil && s.health.LastError != "" && c.Message != "3 notification(s) not delivered in a row: "+failure {
			t.Errorf("%s: message %q does not say what failed", s.name, c.Message)
		}
	}
}

// Replicas that send notifications for different shards each know only their own deliveries.
// They must agree on the latest outcome: before, each wrote its own view at every reconcile,
// and the watch event of one's write made the other write its view back, without end.
func TestAlertProviderReplicasAgreeOnTheLatestOutcome(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ctx := context.Background()
	ap := &siskinv1.AlertProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "on-call", Namespace: ns},
		Spec:       siskinv1.AlertProviderSpec{Type: "slack", Address: "http://127.0.0.1:1/hook"},
	}
	if err := k8sClient.Create(ctx, ap); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: ns, Name: "on-call"}
	t0 := time.Now().Add(-time.Minute)
	// Replica a delivered a minute ago; replica b has failed since; replica c sent nothing.
	a := &AlertProviderReconciler{Client: k8sClient, Health: healthMap{key: {Type: "slack", Delivered: 4, LastSuccess: t0}}}
	b := &AlertProviderReconciler{Client: k8sClient, Health: healthMap{key: {
		Type: "slack", Failed: 1, ConsecutiveFailures: 1, LastError: "post to http://127.0.0.1:1: answered 500", LastFailure: t0.Add(30 * time.Second),
	}}}
	c := &AlertProviderReconciler{Client: k8sClient, Health: healthMap{}}

	read := func() *siskinv1.AlertProvider {
		t.Helper()
		got := &siskinv1.AlertProvider{}
		if err := k8sClient.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	reconcile := func(r *AlertProviderReconciler) {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatal(err)
		}
	}
	// Each write brings a watch event to every replica: reconcile them in turn, as it would.
	reconcile(a)
	reconcile(b)
	settled := read().ResourceVersion
	for round := range 3 {
		for name, r := range map[string]*AlertProviderReconciler{"a": a, "b": b, "c": c} {
			reconcile(r)
			if got := read(); got.ResourceVersion != settled {
				cond := meta.FindStatusCondition(got.Status.Conditions, siskinv1.ConditionReady)
				t.Fatalf("round %d: replica %s wrote the status again (Ready %+v): the replicas do not agree", round, name, cond)
			}
		}
	}
	got := read()
	cond := meta.FindStatusCondition(got.Status.Conditions, siskinv1.ConditionReady)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != reasonDeliveryFailed {
		t.Fatalf("Ready = %+v, want the latest outcome: False/DeliveryFailed from replica b", cond)
	}
	if lt := got.Status.LastNotificationTime; lt == nil || !lt.Equal(&metav1.MicroTime{Time: t0.Add(30 * time.Second).Truncate(time.Microsecond)}) {
		t.Errorf("lastNotificationTime = %v, want the time of replica b's failure", lt)
	}

	// A later delivery on replica a is reported over b's failure.
	a.Health = healthMap{key: {Type: "slack", Delivered: 5, LastSuccess: t0.Add(45 * time.Second)}}
	reconcile(a)
	reconcile(b)
	reconcile(c)
	cond = meta.FindStatusCondition(read().Status.Conditions, siskinv1.ConditionReady)
	if cond == nil || cond.Status != metav1.ConditionTrue {
		t.Fatalf("Ready = %+v after replica a's later delivery, want True", cond)
	}

	// The spec changes: the delivery shown was to the provider as it was. Whichever replica
	// reconciles, the condition of the new generation is Unknown until a newer outcome, which
	// any replica then reports.
	got = read()
	delivered := got.Status.LastNotificationTime
	got.Spec.Address = "http://127.0.0.1:2/hook"
	if err := k8sClient.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*AlertProviderReconciler{a, b, c, a} {
		reconcile(r)
	}
	got = read()
	cond = meta.FindStatusCondition(got.Status.Conditions, siskinv1.ConditionReady)
	if cond == nil || cond.Status != metav1.ConditionUnknown || cond.ObservedGeneration != got.Generation ||
		!strings.Contains(cond.Message, "since the spec changed") {
		t.Fatalf("Ready = %+v after the spec changed (generation %d), want Unknown since the spec changed", cond, got.Generation)
	}
	if lt := got.Status.LastNotificationTime; lt == nil || !lt.Equal(delivered) {
		t.Errorf("lastNotificationTime = %v after the spec changed, want the last delivery before (%v)", lt, delivered)
	}
	c.Health = healthMap{key: {Type: "slack", Delivered: 1, LastSuccess: t0.Add(90 * time.Second)}}
	reconcile(a)
	reconcile(c)
	reconcile(b)
	cond = meta.FindStatusCondition(read().Status.Conditions, siskinv1.ConditionReady)
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.ObservedGeneration != got.Generation {
		t.Fatalf("Ready = %+v after replica c delivered with the new spec, want True", cond)
	}
}
