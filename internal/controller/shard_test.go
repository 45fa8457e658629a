package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/shard"
)

// shardReplica is one sharded controller: its shards, and the status writes of each Canary it
// made.
type shardReplica struct {
	name   string
	shards *shard.Manager

	mu      sync.Mutex
	writes  map[string]int // Canary name → status writes
	entered map[int]int    // shard → reconciles that entered it
	stop    func()
}

func (r *shardReplica) Of(ns, name string, labels map[string]string) (int, error) {
	return r.shards.Of(ns, name, labels)
}
func (r *shardReplica) Holds(i int) bool { return r.shards.Holds(i) }
func (r *shardReplica) OnAcquired(f func(context.Context, int)) {
	r.shards.OnAcquired(f)
}

// Enter counts the reconciles that enter each shard.
func (r *shardReplica) Enter(ctx context.Context, i int) (context.Context, func(), bool) {
	inner, done, ok := r.shards.Enter(ctx, i)
	if ok {
		r.mu.Lock()
		r.entered[i]++
		r.mu.Unlock()
	}
	return inner, done, ok
}

func (r *shardReplica) wrote(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes[name]
}

func (r *shardReplica) enteredShard(i int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entered[i]
}

// startShardedController runs a controller on namespace ns with two shards whose Leases are in
// ns, preferring shard preferred, with Lease timings of seconds.
func startShardedController(t *testing.T, ns, name string, preferred int) *shardReplica {
	t.Helper()
	rep := &shardReplica{name: name, writes: map[string]int{}, entered: map[int]int{}}
	cfg := rest.CopyConfig(env.Config)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}, DefaultTransform: TrimForCache},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		NewClient: func(cfg *rest.Config, opts client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, opts)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, interceptor.Funcs{
				SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
					if _, ok := obj.(*siskinv1.Canary); ok && sub == "status" {
						rep.mu.Lock()
						rep.writes[obj.GetName()]++
						rep.mu.Unlock()
					}
					return c.SubResource(sub).Patch(ctx, obj, p, opts...)
				},
			}), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep.shards, err = shard.New(shard.Options{
		Shards: 2, Preferred: preferred, Namespace: ns, ID: "siskin", Identity: name, Leases: cs.CoordinationV1(),
		LeaseDuration: 2 * time.Second, RenewDeadline: 1200 * time.Millisecond, RetryPeriod: 200 * time.Millisecond,
		Logger: testr.New(t).WithName(name),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Add(rep.shards); err != nil {
		t.Fatal(err)
	}
	r, err := New(mgr, Options{
		DefaultProvider: siskinv1.ProviderKubernetes, Concurrency: 2, Registry: prometheus.NewRegistry(), Shards: rep,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager %s: %v", name, err)
		}
	}()
	stopped := false
	rep.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("manager %s did not stop within 30s", name)
		}
	}
	t.Cleanup(rep.stop)
	return rep
}

// shardCanary is a blue/green Canary of the Deployment of the same name.
func shardCanary(ns, name string, labels map[string]string) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderKubernetes,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   siskinv1.CanaryService{Port: 9898},
			Analysis:  &siskinv1.CanaryAnalysis{Interval: "1s", Threshold: 5, Iterations: 2},
		},
	}
}

func TestShardsSplitCanariesBetweenReplicasAndMoveWhenOneStops(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	a := startShardedController(t, ns, "a", 0)
	b := startShardedController(t, ns, "b", 1)
	runKubelet(t, ns)
	ctx := context.Background()

	names := map[string]map[string]string{
		"zero":  {shard.Label: "0"},
		"one":   {shard.Label: "1"},
		"wrong": {shard.Label: "seven"},
	}
	for name, labels := range names {
		if err := k8sClient.Create(ctx, appDeployment(ns, name, "podinfo:6.0.0")); err != nil {
			t.Fatal(err)
		}
		if err := k8sClient.Create(ctx, shardCanary(ns, name, labels)); err != nil {
			t.Fatal(err)
		}
	}
	initialized := func(c *siskinv1.Canary) bool { return c.Status.Phase == siskinv1.PhaseInitialized }
	waitFor(t, client.ObjectKey{Namespace: ns, Name: "zero"}, "Initialized", initialized)
	waitFor(t, client.ObjectKey{Namespace: ns, Name: "one"}, "Initialized", initialized)
	wrong := waitFor(t, client.ObjectKey{Namespace: ns, Name: "wrong"}, "Stalled by its shard label", func(c *siskinv1.Canary) bool {
		s := meta.FindStatusCondition(c.Status.Conditions, siskinv1.ConditionStalled)
		return s != nil && s.Reason == siskinv1.ReasonInvalidShard
	})
	waitForEvent(t, wrong, siskinv1.ReasonInvalidShard, `siskin.dev/shard="seven" is not a shard`)

	// Each Canary is written by the replica of its shard only; the invalid label's by the
	// replica of its hashed shard.
	owner := map[int]*shardReplica{0: a, 1: b}
	other := map[int]*shardReplica{0: b, 1: a}
	for name, s := range map[string]int{"zero": 0, "one": 1, "wrong": shard.Hash(ns, "wrong", 2)} {
		if owner[s].wrote(name) == 0 || other[s].wrote(name) != 0 {
			t.Errorf("status writes of %s (shard %d): %s %d, %s %d; want only %s's", name, s,
				owner[s].name, owner[s].wrote(name), other[s].name, other[s].wrote(name), owner[s].name)
		}
	}

	// b stops: a takes shard 1 over and reconciles its Canaries at once, though none changed.
	before := a.enteredShard(1)
	b.stop()
	deadline := time.Now().Add(10 * time.Second)
	for a.enteredShard(1) == before {
		if time.Now().After(deadline) {
			t.Fatalf("a did not reconcile the Canaries of shard 1 after b stopped (held: %v)", a.shards.Held())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A new revision of shard 1's Canary is rolled out by a.
	wroteBefore := b.wrote("one")
	d := appDeployment(ns, "one", "podinfo:6.0.1")
	if err := k8sClient.Patch(ctx, d, client.Merge); err != nil {
		t.Fatal(err)
	}
	waitForWithin(t, client.ObjectKey{Namespace: ns, Name: "one"}, "Succeeded", 60*time.Second, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	if got := b.wrote("one"); got != wroteBefore {
		t.Errorf("b wrote %d statuses of one after it stopped", got-wroteBefore)
	}

	// Fixing the label moves the Canary out of its invalid shard, and it initializes.
	c := &siskinv1.Canary{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wrong"}, c); err != nil {
		t.Fatal(err)
	}
	c.Labels[shard.Label] = "1"
	if err := k8sClient.Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, client.ObjectKey{Namespace: ns, Name: "wrong"}, "Initialized", func(c *siskinv1.Canary) bool {
		return initialized(c) && meta.FindStatusCondition(c.Status.Conditions, siskinv1.ConditionStalled) == nil
	})
}
