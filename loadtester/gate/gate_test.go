package gate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

type store interface {
	IsOpen(ctx context.Context, key Key) (bool, error)
	SetOpen(ctx context.Context, key Key, open bool) error
}

func checkOpen(t *testing.T, s store, k Key, want bool) {
	t.Helper()
	got, err := s.IsOpen(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("%s open = %v, want %v", k, got, want)
	}
}

func set(t *testing.T, s store, k Key, open bool) {
	t.Helper()
	if err := s.SetOpen(t.Context(), k, open); err != nil {
		t.Fatal(err)
	}
}

func TestStoresOpenAndCloseGatesPerCanary(t *testing.T) {
	stores := map[string]func() store{
		"memory":    func() store { return NewMemory() },
		"configmap": func() store { return NewConfigMap(fake.NewClientBuilder().Build(), "siskin", "gates") },
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			s := newStore()
			a := Key{Kind: Promotion, Namespace: "test", Name: "podinfo"}
			b := Key{Kind: Promotion, Namespace: "other", Name: "podinfo"}
			r := Key{Kind: Rollback, Namespace: "test", Name: "podinfo"}
			checkOpen(t, s, a, false)
			set(t, s, a, false) // closing a gate that was never opened is fine
			set(t, s, a, true)
			set(t, s, a, true)
			checkOpen(t, s, a, true)
			checkOpen(t, s, b, false)
			checkOpen(t, s, r, false)
			set(t, s, r, true)
			set(t, s, a, false)
			checkOpen(t, s, a, false)
			checkOpen(t, s, r, true)
		})
	}
}

func TestConfigMapGatesSurviveRestartAndAreShared(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	k := Key{Kind: Promotion, Namespace: "test", Name: "podinfo"}
	set(t, NewConfigMap(c, "siskin", "gates"), k, true)

	// A new store (a restarted or second replica) over the same API sees the gate open.
	second := NewConfigMap(c, "siskin", "gates")
	checkOpen(t, second, k, true)
	set(t, second, k, false)
	checkOpen(t, NewConfigMap(c, "siskin", "gates"), k, false)

	var cm corev1.ConfigMap
	if err := c.Get(t.Context(), types.NamespacedName{Namespace: "siskin", Name: "gates"}, &cm); err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Data[k.String()]; ok {
		t.Errorf("closed gate still has an entry: %v", cm.Data)
	}
}

func TestConfigMapConcurrentWritersKeepEveryGate(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		s := NewConfigMap(c, "siskin", "gates") // one store per simulated replica
		wg.Go(func() {
			errs <- s.SetOpen(context.Background(), Key{Kind: Promotion, Namespace: "test", Name: fmt.Sprint("app-", i)}, true)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := NewConfigMap(c, "siskin", "gates")
	for i := range 10 {
		checkOpen(t, s, Key{Kind: Promotion, Namespace: "test", Name: fmt.Sprint("app-", i)}, true)
	}
}

// conflictOnce fails the first Update with a conflict, as a concurrent writer would cause.
type conflictOnce struct {
	client.Client
	mu      sync.Mutex
	updates int
}

func (c *conflictOnce) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.mu.Lock()
	c.updates++
	first := c.updates == 1
	c.mu.Unlock()
	if first {
		// Another writer bumps the resourceVersion first.
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), &cm); err != nil {
			return err
		}
		cm.Data["gate.test.other"] = openValue
		if err := c.Client.Update(ctx, &cm); err != nil {
			return err
		}
	}
	return c.Client.Update(ctx, obj, opts...)
}

func TestConfigMapRetriesOnConflict(t *testing.T) {
	c := &conflictOnce{Client: fake.NewClientBuilder().Build()}
	s := NewConfigMap(c, "siskin", "gates")
	set(t, s, Key{Kind: Promotion, Namespace: "test", Name: "a"}, true) // creates
	set(t, s, Key{Kind: Promotion, Namespace: "test", Name: "b"}, true) // conflicts once, retried
	if c.updates < 2 {
		t.Fatalf("updates = %d, want a retried update", c.updates)
	}
	checkOpen(t, s, Key{Kind: Promotion, Namespace: "test", Name: "a"}, true)
	checkOpen(t, s, Key{Kind: Promotion, Namespace: "test", Name: "b"}, true)
	checkOpen(t, s, Key{Kind: Promotion, Namespace: "test", Name: "other"}, true)
}

func TestKeyValidateAndString(t *testing.T) {
	if err := (Key{Kind: Promotion, Namespace: "test", Name: "pod.info"}).Validate(); err != nil {
		t.Errorf("valid key: %v", err)
	}
	for _, k := range []Key{
		{Kind: "other", Namespace: "test", Name: "a"},
		{Kind: Promotion, Namespace: "Test", Name: "a"},
		{Kind: Promotion, Namespace: "a.b", Name: "a"},
		{Kind: Promotion, Namespace: "test", Name: ""},
		{Kind: Promotion, Namespace: "test", Name: "a/b"},
	} {
		if err := k.Validate(); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%+v: err = %v, want ErrInvalidKey", k, err)
		}
	}
	long := Key{Kind: Rollback, Namespace: "test", Name: strings.Repeat("a", 253)}
	if s := long.String(); len(s) > 253 || !strings.HasPrefix(s, "rollback.test.sha256-") {
		t.Errorf("long key = %q", s)
	}
}
