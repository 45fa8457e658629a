package shard

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	k8stesting "k8s.io/client-go/testing"
)

// Short timings, for elections that settle in a second or two.
const (
	testLease = 2 * time.Second
	testRenew = 1200 * time.Millisecond
	testRetry = 200 * time.Millisecond
)

// partitionable is a Lease client that a test can cut off from the API server, as a replica
// behind a partition or frozen in place is.
type partitionable struct {
	coordinationv1client.LeasesGetter
	cut atomic.Bool
	// slow delays each Update, as a loaded API server does.
	slow atomic.Int64
}

func (p *partitionable) Leases(ns string) coordinationv1client.LeaseInterface {
	return &cutLeases{LeaseInterface: p.LeasesGetter.Leases(ns), cut: &p.cut, slow: &p.slow}
}

type cutLeases struct {
	coordinationv1client.LeaseInterface
	cut  *atomic.Bool
	slow *atomic.Int64
}

var errCut = errors.New("partitioned")

func (c *cutLeases) Get(ctx context.Context, name string, o metav1.GetOptions) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.LeaseInterface.Get(ctx, name, o)
}

func (c *cutLeases) Create(ctx context.Context, l *coordinationv1.Lease, o metav1.CreateOptions) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.LeaseInterface.Create(ctx, l, o)
}

func (c *cutLeases) Update(ctx context.Context, l *coordinationv1.Lease, o metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	time.Sleep(time.Duration(c.slow.Load()))
	return c.LeaseInterface.Update(ctx, l, o)
}

func (c *cutLeases) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, o metav1.PatchOptions, sub ...string) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.LeaseInterface.Patch(ctx, name, pt, data, o, sub...)
}

func (c *cutLeases) Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	return c.LeaseInterface.Watch(ctx, o)
}

// newClientset is a fake API server whose Lease writes are fenced by resourceVersion, as a
// real one's are: of two replicas writing the same Lease version, one gets a Conflict.
func newClientset() *fake.Clientset {
	cs := fake.NewClientset()
	var mu sync.Mutex
	version := 0
	fence := func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		var lease *coordinationv1.Lease
		// An UpdateAction is also a CreateAction: tell them apart by verb.
		switch a := a.(type) {
		case k8stesting.CreateAction:
			lease = a.GetObject().(*coordinationv1.Lease).DeepCopy()
			if a.GetVerb() == "create" {
				break
			}
			stored, err := cs.Tracker().Get(a.GetResource(), a.GetNamespace(), lease.Name)
			if err != nil {
				return true, nil, err
			}
			if rv := stored.(*coordinationv1.Lease).ResourceVersion; rv != lease.ResourceVersion {
				return true, nil, apierrors.NewConflict(a.GetResource().GroupResource(), lease.Name, errors.New("the object has been modified"))
			}
		case k8stesting.PatchAction:
			// Only the annotations of a claim are patched.
			stored, err := cs.Tracker().Get(a.GetResource(), a.GetNamespace(), a.GetName())
			if err != nil {
				return true, nil, err
			}
			lease = stored.(*coordinationv1.Lease).DeepCopy()
			var p struct {
				Metadata struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(a.GetPatch(), &p); err != nil {
				return true, nil, err
			}
			if lease.Annotations == nil {
				lease.Annotations = map[string]string{}
			}
			maps.Copy(lease.Annotations, p.Metadata.Annotations)
		default:
			return false, nil, nil
		}
		version++
		lease.ResourceVersion = strconv.Itoa(version)
		var err error
		if a.GetVerb() == "create" {
			err = cs.Tracker().Create(a.GetResource(), lease, a.GetNamespace())
		} else {
			err = cs.Tracker().Update(a.GetResource(), lease, a.GetNamespace())
		}
		if err != nil {
			return true, nil, err
		}
		return true, lease.DeepCopy(), nil
	}
	cs.PrependReactor("create", "leases", fence)
	cs.PrependReactor("update", "leases", fence)
	cs.PrependReactor("patch", "leases", fence)
	return cs
}

// replica is a running Manager.
type replica struct {
	m      *Manager
	leases *partitionable
	stop   context.CancelFunc
	done   chan struct{}
}

func startReplica(t *testing.T, cs *fake.Clientset, identity string, preferred int, reg prometheus.Registerer) *replica {
	t.Helper()
	p := &partitionable{LeasesGetter: cs.CoordinationV1()}
	m, err := New(Options{
		Shards: 2, Preferred: preferred, Namespace: "siskin-system", ID: "siskin", Identity: identity,
		Leases: p, LeaseDuration: testLease, RenewDeadline: testRenew, RetryPeriod: testRetry,
		Registerer: reg, Logger: testr.New(t).WithName(identity),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{m: m, leases: p, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_ = m.Start(ctx)
	}()
	t.Cleanup(func() { r.stop(); <-r.done })
	return r
}

// exclusive samples the replicas every few milliseconds until stop is closed and fails the
// test if two of them ever hold the same shard at once.
func exclusive(t *testing.T, stop <-chan struct{}, replicas ...*replica) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			for shard := range 2 {
				holders := 0
				for _, r := range replicas {
					if r.m.Holds(shard) {
						holders++
					}
				}
				if holders > 1 {
					t.Errorf("shard %d held by %d replicas at once", shard, holders)
					return
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return &wg
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func holds(r *replica, want ...int) func() bool {
	return func() bool { return slices.Equal(r.m.Held(), want) }
}

func holder(t *testing.T, cs *fake.Clientset, shard int) string {
	t.Helper()
	l, err := cs.CoordinationV1().Leases("siskin-system").Get(context.Background(), LeaseName("siskin", shard), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestEachReplicaGetsTheShardItPrefers(t *testing.T) {
	cs := newClientset()
	reg := prometheus.NewRegistry()
	a := startReplica(t, cs, "a", 0, reg)
	b := startReplica(t, cs, "b", 1, nil)
	stop := make(chan struct{})
	wg := exclusive(t, stop, a, b)
	eventually(t, "a holds shard 0, b shard 1", 3*time.Second, func() bool { return holds(a, 0)() && holds(b, 1)() })
	// Past the lease duration each contends for the other's shard too, and must not get it.
	time.Sleep(2 * testLease)
	close(stop)
	wg.Wait()
	if !holds(a, 0)() || !holds(b, 1)() {
		t.Errorf("held: a %v, b %v", a.m.Held(), b.m.Held())
	}
	if got := testutil.ToFloat64(a.m.held); got != 1 {
		t.Errorf("siskin_shards_held of a = %v, want 1", got)
	}
	if got := testutil.CollectAndCount(reg, "siskin_shard_transitions_total"); got != 1 {
		t.Errorf("a's transitions series = %d, want 1 (shard 0 acquired)", got)
	}
}

func TestAStoppedReplicasShardIsTakenOver(t *testing.T) {
	cs := newClientset()
	a := startReplica(t, cs, "a", 0, nil)
	b := startReplica(t, cs, "b", 1, nil)
	eventually(t, "each its own shard", 3*time.Second, func() bool { return holds(a, 0)() && holds(b, 1)() })
	stop := make(chan struct{})
	wg := exclusive(t, stop, a, b)
	b.stop()
	<-b.done
	if h := holder(t, cs, 1); h == "b" {
		t.Errorf("b still holds the Lease of shard 1 after stopping; it releases it")
	}
	eventually(t, "a takes shard 1 over", 3*testLease, holds(a, 0, 1))
	close(stop)
	wg.Wait()
}

func TestAPartitionedReplicaStopsBeforeItsShardIsTakenOver(t *testing.T) {
	cs := newClientset()
	a := startReplica(t, cs, "a", 0, nil)
	b := startReplica(t, cs, "b", 1, nil)
	eventually(t, "each its own shard", 3*time.Second, func() bool { return holds(a, 0)() && holds(b, 1)() })
	stop := make(chan struct{})
	wg := exclusive(t, stop, a, b)

	_, done, ok := b.m.Enter(context.Background(), 1)
	if !ok {
		t.Fatal("b cannot enter the shard it holds")
	}
	done()
	cut := time.Now()
	b.leases.cut.Store(true) // b renews nothing from now on, and releases nothing either
	eventually(t, "b stops holding shard 1", 2*testRenew, func() bool { return !b.m.Holds(1) })
	lost := time.Since(cut)
	if _, _, ok := b.m.Enter(context.Background(), 1); ok {
		t.Error("b enters a shard it no longer holds")
	}
	eventually(t, "a takes shard 1 over", 3*testLease, holds(a, 0, 1))
	taken := time.Since(cut)
	if lost >= taken {
		t.Errorf("b held shard 1 until %s after the cut, a took it at %s", lost, taken)
	}
	close(stop)
	wg.Wait()
}

func TestTheReplicaThatPrefersAShardGetsItBack(t *testing.T) {
	cs := newClientset()
	a := startReplica(t, cs, "a", 0, nil)
	eventually(t, "a holds both shards alone", 4*time.Second, holds(a, 0, 1))
	b := startReplica(t, cs, "b-restarted", 1, nil)
	stop := make(chan struct{})
	wg := exclusive(t, stop, a, b)
	eventually(t, "a hands shard 1 over to b", 5*time.Second, func() bool { return holds(a, 0)() && holds(b, 1)() })
	close(stop)
	wg.Wait()
	// The claim is met: a later take-over by a is not handed back to an old claim.
	l, err := cs.CoordinationV1().Leases("siskin-system").Get(context.Background(), LeaseName("siskin", 1), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := l.Annotations[ClaimAnnotation]; ok {
		t.Errorf("claim %q left on the Lease b holds", v)
	}
	// a waits a lease duration before contending again, and then b holds it.
	time.Sleep(2 * testLease)
	if !holds(a, 0)() || !holds(b, 1)() {
		t.Errorf("held: a %v, b %v", a.m.Held(), b.m.Held())
	}
}

func TestWorkOnAShardEndsBeforeItsLeaseIsReleased(t *testing.T) {
	cs := newClientset()
	a := startReplica(t, cs, "a", 0, nil)
	eventually(t, "a holds shard 0", 3*time.Second, holds(a, 0))
	ctx, done, ok := a.m.Enter(context.Background(), 0)
	if !ok {
		t.Fatal("a cannot enter shard 0")
	}
	a.stop()
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("the work's context is not cancelled when the replica stops")
	}
	time.Sleep(3 * testRetry)
	if h := holder(t, cs, 0); h != "a" {
		t.Fatalf("the Lease was released (holder %q) while work on the shard was still running", h)
	}
	if _, _, ok := a.m.Enter(context.Background(), 0); ok {
		t.Error("new work enters a shard being handed over")
	}
	done()
	<-a.done
	if h := holder(t, cs, 0); h != "" {
		t.Errorf("holder after the work returned and the replica stopped = %q, want none", h)
	}
}

func TestTenureEndsAtTheRenewDeadline(t *testing.T) {
	s := &slot{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if s.valid(t0, time.Second) {
		t.Fatal("a shard never written is held")
	}
	if _, first := s.renew(t0); !first {
		t.Fatal("the first write does not start a tenure")
	}
	if !s.valid(t0.Add(999*time.Millisecond), time.Second) {
		t.Error("not held within the renew deadline of the write")
	}
	if s.valid(t0.Add(time.Second), time.Second) {
		t.Error("held at the renew deadline of the write")
	}
	if _, first := s.renew(t0.Add(800 * time.Millisecond)); first {
		t.Error("a renewal starts a second tenure")
	}
	if !s.valid(t0.Add(1500*time.Millisecond), time.Second) {
		t.Error("a renewal does not extend the tenure")
	}
	if !s.end() || s.valid(t0.Add(1500*time.Millisecond), time.Second) {
		t.Error("an ended tenure is still held")
	}
}

func TestNewRefusesUnsafeTimings(t *testing.T) {
	base := Options{Shards: 2, Preferred: -1, Namespace: "ns", ID: "siskin", Identity: "a", Leases: fake.NewClientset().CoordinationV1()}
	for _, tc := range []struct {
		name string
		edit func(*Options)
	}{
		{"one shard", func(o *Options) { o.Shards = 1 }},
		{"a preferred shard out of range", func(o *Options) { o.Preferred = 2 }},
		{"a renew deadline as long as the lease", func(o *Options) { o.LeaseDuration, o.RenewDeadline = 10*time.Second, 10*time.Second }},
		{"no namespace", func(o *Options) { o.Namespace = "" }},
	} {
		o := base
		tc.edit(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := New(base); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
}

func TestATenureThatLapsesAndResumesIsAnnouncedAgain(t *testing.T) {
	cs := newClientset()
	a := startReplica(t, cs, "a", 0, nil)
	var mu sync.Mutex
	starts := 0
	a.m.OnAcquired(func(_ context.Context, shard int) {
		if shard == 0 {
			mu.Lock()
			starts++
			mu.Unlock()
		}
	})
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return starts
	}
	eventually(t, "a holds shard 0", 3*time.Second, holds(a, 0))
	time.Sleep(testRetry)
	first := count()
	// Renewals that take most of the renew deadline: the tenure lapses between them while
	// client-go's elector, whose deadline counts from each round's start, still leads.
	a.leases.slow.Store(int64(testRenew * 9 / 10))
	eventually(t, "the tenure lapses", 3*time.Second, func() bool { return !a.m.Holds(0) })
	eventually(t, "a new tenure is announced", 3*time.Second, func() bool { return count() > first })
	a.leases.slow.Store(0)
	eventually(t, "a holds shard 0 again", 3*time.Second, holds(a, 0))
}
