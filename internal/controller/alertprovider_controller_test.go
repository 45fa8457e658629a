package controller

import (
	"context"
	"testing"

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

	steps := []struct {
		name   string
		health *notify.Health
		want   string
	}{
		{"nothing sent yet", nil, "Unknown/NoDeliveries"},
		{"the last message failed", &notify.Health{Type: typ, LastError: failure, ConsecutiveFailures: 3}, "False/DeliveryFailed"},
		{"a message was delivered again", &notify.Health{Type: typ, Delivered: 1}, "True/Delivered"},
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
