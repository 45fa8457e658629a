package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// The next controller of a comparison starts only once the last one's fleet is gone: the wait
// lasts while a finalizer holds the namespace, and gives up, saying so, at its limit.
func TestDeleteNamespaceWaitsUntilItIsGone(t *testing.T) {
	ctx := context.Background()
	held := func() (*cluster, *corev1.Namespace) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-1000-siskin-1", Finalizers: []string{"bench.siskin.dev/held"}}}
		c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(ns).Build()
		return &cluster{c: c}, ns
	}

	cl, ns := held()
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(3 * time.Second) // past the first poll
		got := &corev1.Namespace{}
		if err := cl.c.Get(ctx, client.ObjectKeyFromObject(ns), got); err != nil {
			t.Error(err)
			return
		}
		got.Finalizers = nil
		released <- time.Now()
		if err := cl.c.Update(ctx, got); err != nil {
			t.Error(err)
		}
	}()
	if err := cl.deleteNamespace(ctx, ns.Name, time.Minute); err != nil {
		t.Fatal(err)
	}
	select {
	case <-released:
	default:
		t.Fatal("deleteNamespace returned while a finalizer still held the namespace")
	}

	cl, ns = held()
	err := cl.deleteNamespace(ctx, ns.Name, 3*time.Second)
	if err == nil || !strings.Contains(err.Error(), "still there") {
		t.Fatalf("deleteNamespace of a namespace that stays = %v, want an error saying it is still there", err)
	}
}
