package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/shard"
)

// Shards is what the reconciler asks of pkg/shard's Manager.
type Shards interface {
	Of(namespace, name string, labels map[string]string) (int, error)
	Enter(ctx context.Context, shard int) (context.Context, func(), bool)
	Holds(shard int) bool
	OnAcquired(f func(ctx context.Context, shard int))
}

// ShardOptions configure the shards of a replica (--shards and its companions).
type ShardOptions struct {
	// Shards is the number of shards; 0 or 1 is no sharding.
	Shards int
	// Index is the shard this replica prefers; -1 takes it from the ordinal at the end of the
	// pod's name (POD_NAME, else the host name), and none there means no preference.
	Index int
	// Namespace holds the Leases; empty means the namespace of the pod's service account.
	Namespace string
	// ID names the Leases: <ID>-shard-<i> (the leader-election id).
	ID string
	// LeaseDuration, RenewDeadline and RetryPeriod are the Leases' timings; zero means
	// shard.DefaultLeaseDuration and its companions, and a LeaseDuration alone sets the others
	// in the proportions of the defaults.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// NewShards adds to the manager the elections of the shards and returns them, or nil without
// sharding. The Canary controller then runs on every replica, and reconciles only the
// Canaries of the shards its replica holds.
func NewShards(mgr ctrl.Manager, o ShardOptions) (Shards, error) {
	if o.Shards <= 1 {
		return nil, nil
	}
	ns := o.Namespace
	if ns == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, errors.New("--shards needs --leader-election-namespace outside a cluster: the namespace of the shards' Leases")
		}
		ns = strings.TrimSpace(string(b))
	}
	index := o.Index
	if index < 0 {
		index = -1
		pod := os.Getenv("POD_NAME")
		if pod == "" {
			pod, _ = os.Hostname()
		}
		if i, ok := shard.Ordinal(pod); ok {
			index = i % o.Shards
		}
	} else if index >= o.Shards {
		return nil, fmt.Errorf("--shard-index %d is not one of the %d shards (0 to %d)", index, o.Shards, o.Shards-1)
	}
	if o.LeaseDuration > 0 && o.RenewDeadline == 0 && o.RetryPeriod == 0 {
		// The proportions of client-go's defaults (15s, 10s, 2s).
		o.RenewDeadline, o.RetryPeriod = o.LeaseDuration*2/3, o.LeaseDuration*2/15
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("shards: host name: %w", err)
	}
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("shards: lease client: %w", err)
	}
	m, err := shard.New(shard.Options{
		Shards: o.Shards, Preferred: index, Namespace: ns, ID: o.ID,
		Identity: host + "_" + rand.Text(),
		Leases:   cs.CoordinationV1(), LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
		Registerer: ctrlmetrics.Registry,
		Logger:     mgr.GetLogger().WithName("shards"),
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(m); err != nil {
		return nil, fmt.Errorf("add shards: %w", err)
	}
	mgr.GetLogger().WithName("shards").Info("sharding", "shards", o.Shards, "preferred", index, "namespace", ns, "lease", shard.LeaseName(o.ID, 0))
	return m, nil
}

// holdShard enters the shard of a Canary: ok is false when this replica does not hold it, and
// the context ends when it stops holding it. Without sharding every Canary is held.
func (r *CanaryReconciler) holdShard(ctx context.Context, obj *siskinv1.Canary) (context.Context, func(), bool) {
	if r.shards == nil {
		return ctx, func() {}, true
	}
	i, _ := r.shards.Of(obj.Namespace, obj.Name, obj.Labels)
	inner, done, ok := r.shards.Enter(ctx, i)
	if !ok {
		ctrl.LoggerFrom(ctx).V(2).Info("canary of a shard held elsewhere", "shard", i)
	}
	return inner, done, ok
}

// shardLost reports whether the replica stopped holding the Canary's shard during the round:
// what the round decided is then dropped, unwritten, for the shard's new holder to decide again.
func (r *CanaryReconciler) shardLost(ctx context.Context, obj *siskinv1.Canary) bool {
	if r.shards == nil {
		return false
	}
	i, _ := r.shards.Of(obj.Namespace, obj.Name, obj.Labels)
	if ctx.Err() == nil && r.shards.Holds(i) {
		return false
	}
	ctrl.LoggerFrom(ctx).Info("shard lost during the round, dropping it", "shard", i, "phase", obj.Status.Phase)
	return true
}

// invalidShard stalls a Canary whose siskin.dev/shard label names no shard. Its hashed shard's
// holder, and only it, reports the error.
func (r *CanaryReconciler) invalidShard(ctx context.Context, obj *siskinv1.Canary) (round, bool) {
	if r.shards == nil {
		return round{}, false
	}
	_, err := r.shards.Of(obj.Namespace, obj.Name, obj.Labels)
	if err == nil {
		return round{}, false
	}
	msg := err.Error()
	cond := findCondition(obj.Status.Conditions, siskinv1.ConditionStalled)
	canary.SetStalled(&obj.Status, obj.Generation, siskinv1.ReasonInvalidShard, msg)
	ctrl.LoggerFrom(ctx).Info("canary shard label is invalid", "reason", siskinv1.ReasonInvalidShard, "error", msg)
	var evs []canary.Event
	if cond == nil || cond.Reason != siskinv1.ReasonInvalidShard || cond.Message != msg {
		evs = append(evs, canary.Event{Warning: true, Reason: siskinv1.ReasonInvalidShard, Message: msg, Severity: siskinv1.SeverityError})
	}
	return round{events: evs, err: reconcile.TerminalError(err)}, true
}

// shardLabelChanged lets a change of the siskin.dev/shard label through the Canary watch: the
// Canary moves to another shard (or out of an invalid one).
func (r *CanaryReconciler) shardLabelChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			if r.shards == nil || e.ObjectOld == nil || e.ObjectNew == nil {
				return false
			}
			return e.ObjectOld.GetLabels()[shard.Label] != e.ObjectNew.GetLabels()[shard.Label]
		},
	}
}

// shardWakeBuffer bounds the Canaries of an acquired shard waiting to be enqueued.
const shardWakeBuffer = 256

// watchShards enqueues, each time this replica acquires a shard, every Canary of that shard at
// once rather than at the next resync. Without sharding it changes nothing.
func (r *CanaryReconciler) watchShards(b *builder.Builder) *builder.Builder {
	if r.shards == nil {
		return b
	}
	ch := make(chan event.GenericEvent, shardWakeBuffer)
	r.shards.OnAcquired(func(ctx context.Context, i int) { go r.enqueueShard(ctx, i, ch) })
	return b.WatchesRawSource(source.Channel(ch, &handler.EnqueueRequestForObject{}))
}

// enqueueShard sends the Canaries of shard i to the controller until the tenure ctx ends.
func (r *CanaryReconciler) enqueueShard(ctx context.Context, i int, ch chan<- event.GenericEvent) {
	log := ctrl.Log.WithName("shards")
	list := &siskinv1.CanaryList{}
	if err := r.List(ctx, list); err != nil {
		log.Error(err, "list the canaries of an acquired shard", "shard", i)
		return
	}
	n := 0
	for k := range list.Items {
		c := &list.Items[k]
		if s, _ := r.shards.Of(c.Namespace, c.Name, c.Labels); s != i {
			continue
		}
		select {
		case ch <- event.GenericEvent{Object: c}:
			n++
		case <-ctx.Done():
			return
		}
	}
	log.Info("canaries of an acquired shard enqueued", "shard", i, "canaries", n)
}

// shardedControllerRunsEverywhere is the Canary controller's NeedLeaderElection: with shards
// it runs on every replica, the shards' Leases deciding which Canaries each reconciles.
func (r *CanaryReconciler) shardedControllerRunsEverywhere() *bool {
	if r.shards == nil {
		return nil
	}
	f := false
	return &f
}
