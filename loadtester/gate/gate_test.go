package gate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

type store interface {
	Check(ctx context.Context, key Key) (bool, error)
	SetOpen(ctx context.Context, key Key, open bool) (string, error)
}

func checkOpen(t *testing.T, s store, k Key, want bool) {
	t.Helper()
	got, err := s.Check(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("%s at %q open = %v, want %v", k, k.Revision, got, want)
	}
}

func set(t *testing.T, s store, k Key, open bool) {
	t.Helper()
	if _, err := s.SetOpen(t.Context(), k, open); err != nil {
		t.Fatal(err)
	}
}

// clock is a settable fake clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

var stores = map[string]func(c *clock) store{
	"memory": func(c *clock) store { m := NewMemory(time.Hour); m.Now = c.now; return m },
	"configmap": func(c *clock) store {
		s := NewConfigMap(fake.NewClientBuilder().Build(), "siskin", "gates", time.Hour)
		s.Now = c.now
		return s
	},
}

func TestStoresOpenAndCloseGatesPerCanary(t *testing.T) {
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			s := newStore(&clock{t: time.Unix(1e9, 0)})
			a := Key{Kind: Promotion, Namespace: "test", Name: "podinfo", Revision: "r1"}
			b := Key{Kind: Promotion, Namespace: "other", Name: "podinfo", Revision: "r1"}
			r := Key{Kind: Rollback, Namespace: "test", Name: "podinfo", Revision: "r1"}
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

func TestAnApprovalBelongsToOneRevision(t *testing.T) {
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			s := newStore(&clock{t: time.Unix(1e9, 0)})
			r1 := Key{Kind: Promotion, Namespace: "test", Name: "podinfo", Revision: "r1"}
			r2 := r1
			r2.Revision = "r2"
			anyRev := r1
			anyRev.Revision = ""

			if _, err := s.SetOpen(t.Context(), anyRev, true); !errors.Is(err, ErrNoRevision) {
				t.Fatalf("opening before any check: err = %v, want ErrNoRevision", err)
			}
			checkOpen(t, s, r1, false) // r1 waits at the gate
			rev, err := s.SetOpen(t.Context(), anyRev, true)
			if err != nil || rev != "r1" {
				t.Fatalf("open without a revision = %q, %v; want the waiting r1", rev, err)
			}
			checkOpen(t, s, r1, true)
			checkOpen(t, s, r2, false) // the next release waits again
			checkOpen(t, s, r1, false) // and r1's approval is gone, not merely hidden

			set(t, s, r2, true) // an explicit revision may be approved ahead of its check
			checkOpen(t, s, r2, true)
		})
	}
}

func TestEntriesExpire(t *testing.T) {
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			c := &clock{t: time.Unix(1e9, 0)}
			s := newStore(c)
			k := Key{Kind: Promotion, Namespace: "test", Name: "podinfo", Revision: "r1"}
			set(t, s, k, true)
			c.t = c.t.Add(2 * time.Hour)
			checkOpen(t, s, k, false)
		})
	}
}

func TestConfigMapRemovesOldAndExpiredEntries(t *testing.T) {
	api := fake.NewClientBuilder().Build()
	c := &clock{t: time.Unix(1e9, 0)}
	s := NewConfigMap(api, "siskin", "gates", time.Hour)
	s.Now = c.now
	for i := range 20 {
		set(t, s, Key{Kind: Promotion, Namespace: "test", Name: "podinfo", Revision: fmt.Sprint("r", i)}, true)
	}
	set(t, s, Key{Kind: Promotion, Namespace: "test", Name: "gone", Revision: "r1"}, true)
	c.t = c.t.Add(30 * time.Minute)
	checkOpen(t, s, Key{Kind: Rollback, Namespace: "test", Name: "podinfo", Revision: "r19"}, false)
	c.t = c.t.Add(31 * time.Minute) // the first two entries are now older than the TTL
	checkOpen(t, s, Key{Kind: Promotion, Namespace: "test", Name: "other", Revision: "x"}, false)

	var cm corev1.ConfigMap
	if err := api.Get(t.Context(), types.NamespacedName{Namespace: "siskin", Name: "gates"}, &cm); err != nil {
		t.Fatal(err)
	}
	want := []string{"gate.test.other", "rollback.test.podinfo"}
	if got := slices.Sorted(maps.Keys(cm.Data)); !slices.Equal(got, want) {
		t.Errorf("entries = %q, want %q (one per canary and kind, expired ones removed)", got, want)
	}
}

func TestConfigMapIgnoresApprovalsWithoutARevision(t *testing.T) {
	api := fake.NewClientBuilder().WithObjects(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "siskin", Name: "gates"},
		Data:       map[string]string{"gate.test.podinfo": "open"}, // written by an earlier version
	}).Build()
	checkOpen(t, NewConfigMap(api, "siskin", "gates", 0), Key{Kind: Promotion, Namespace: "test", Name: "podinfo", Revision: "r1"}, false)
}

func TestConfigMapGatesSurviveRestartAndAreShared(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	k := Key{Kind: Promotion, Namespace: "test", Name: "podinfo", Revision: "r1"}
	set(t, NewConfigMap(c, "siskin", "gates", 0), k, true)

	// A new store (a restarted or second replica) over the same API sees the gate open.
	second := NewConfigMap(c, "siskin", "gates", 0)
	checkOpen(t, second, k, true)
	set(t, second, k, false)
	checkOpen(t, NewConfigMap(c, "siskin", "gates", 0), k, false)

	var cm corev1.ConfigMap
	if err := c.Get(t.Context(), types.NamespacedName{Namespace: "siskin", Name: "gates"}, &cm); err != nil {
		t.Fatal(err)
	}
	if e, _ := decodeEntry(cm.Data, k); e.Open {
		t.Errorf("closed gate still open: %v", cm.Data)
	}
}

func TestConfigMapConcurrentWritersKeepEveryGate(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		s := NewConfigMap(c, "siskin", "gates", 0) // one store per simulated replica
		wg.Go(func() {
			_, err := s.SetOpen(context.Background(), Key{Kind: Promotion, Namespace: "test", Name: fmt.Sprint("app-", i), Revision: "r1"}, true)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := NewConfigMap(c, "siskin", "gates", 0)
	for i := range 10 {
		checkOpen(t, s, Key{Kind: Promotion, Namespace: "test", Name: fmt.Sprint("app-", i), Revision: "r1"}, true)
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
		if err := putEntry(cm.Data, Key{Kind: Promotion, Namespace: "test", Name: "other"}, entry{Revision: "r1", Open: true, Since: time.Now()}); err != nil {
			return err
		}
		if err := c.Client.Update(ctx, &cm); err != nil {
			return err
		}
	}
	return c.Client.Update(ctx, obj, opts...)
}

func TestConfigMapRetriesOnConflict(t *testing.T) {
	c := &conflictOnce{Client: fake.NewClientBuilder().Build()}
	s := NewConfigMap(c, "siskin", "gates", 0)
	set(t, s, Key{Kind: Promotion, Namespace: "test", Name: "a", Revision: "r1"}, true) // creates
	set(t, s, Key{Kind: Promotion, Namespace: "test", Name: "b", Revision: "r1"}, true) // conflicts once, retried
	if c.updates < 2 {
		t.Fatalf("updates = %d, want a retried update", c.updates)
	}
	checkOpen(t, s, Key{Kind: Promotion, Namespace: "test", Name: "a", Revision: "r1"}, true)
	checkOpen(t, s, Key{Kind: Promotion, Namespace: "test", Name: "b", Revision: "r1"}, true)
	checkOpen(t, s, Key{Kind: Promotion, Namespace: "test", Name: "other", Revision: "r1"}, true)
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
		{Kind: Promotion, Namespace: "test", Name: "a", Revision: "r 1"},
		{Kind: Promotion, Namespace: "test", Name: "a", Revision: strings.Repeat("f", 129)},
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
