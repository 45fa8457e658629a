package controller

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
	"github.com/siskin-dev/siskin/pkg/target"
)

// Field indexes on Canaries, so that a change to a target (Deployment, DaemonSet, StatefulSet), autoscaler or config finds its
// Canaries in the cache without a list of every Canary.
const (
	indexTarget     = "siskin.dev/target"
	indexAutoscaler = "siskin.dev/autoscaler"
	indexConfig     = "siskin.dev/config"
	indexActive     = "siskin.dev/active"
)

// wakeBuffer bounds the wake-ups of queued Canaries waiting to be enqueued.
const wakeBuffer = 256

// activePhases are the phases of a rollout in flight: they hold a slot of
// --max-concurrent-canaries.
var activePhases = map[siskinv1.CanaryPhase]bool{
	siskinv1.PhaseWaiting: true, siskinv1.PhaseProgressing: true, siskinv1.PhaseWaitingPromotion: true,
	siskinv1.PhasePromoting: true, siskinv1.PhaseFinalising: true,
}

// +kubebuilder:rbac:groups=keda.sh,resources=scaledobjects,verbs=get;list;watch;create;patch

// SetupWithManager registers the controller, its watches and its indexes. Istio and Gateway
// API objects, and KEDA's ScaledObjects, are watched only when their CRDs are installed.
func (r *CanaryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &siskinv1.Canary{}, indexTarget, func(o client.Object) []string {
		return []string{o.(*siskinv1.Canary).Spec.TargetRef.Name}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &siskinv1.Canary{}, indexAutoscaler, func(o client.Object) []string {
		if ref := o.(*siskinv1.Canary).Spec.AutoscalerRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &siskinv1.Canary{}, indexConfig, func(o client.Object) []string {
		var keys []string
		for k := range o.(*siskinv1.Canary).Status.TrackedConfigs {
			keys = append(keys, k)
		}
		return keys
	}); err != nil {
		return err
	}

	if err := idx.IndexField(ctx, &siskinv1.Canary{}, indexActive, activeIndex); err != nil {
		return err
	}

	if err := idx.IndexField(ctx, &siskinv1.Canary{}, indexQueued, func(o client.Object) []string {
		if queuedSince(o.(*siskinv1.Canary)) != nil {
			return []string{"true"}
		}
		return nil
	}); err != nil {
		return err
	}

	r.wake = make(chan event.GenericEvent, wakeBuffer)
	b := ctrl.NewControllerManagedBy(mgr).
		For(&siskinv1.Canary{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{},
			r.writes.Awaited(),
			r.shardLabelChanged(),
		))).
		Owns(&appsv1.Deployment{}).
		Owns(&appsv1.DaemonSet{}).
		Owns(&corev1.Service{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Watches(&appsv1.Deployment{}, r.enqueueBy(indexTarget, nil)).
		Watches(&appsv1.DaemonSet{}, r.enqueueBy(indexTarget, nil)).
		Watches(&appsv1.StatefulSet{}, r.enqueueBy(indexTarget, nil)).
		Watches(&autoscalingv2.HorizontalPodAutoscaler{}, r.enqueueBy(indexAutoscaler, nil)).
		Watches(&corev1.ConfigMap{}, r.enqueueBy(indexConfig, func(name string) string { return "configmap/" + name })).
		Watches(&corev1.Secret{}, r.enqueueBy(indexConfig, func(name string) string { return "secret/" + name })).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			NeedLeaderElection:      r.shardedControllerRunsEverywhere(),
			// Due steps of rollouts in flight go before new rollouts (rollout_priority.go).
			NewQueue: newRolloutQueue(mgr.GetCache(), mgr.GetLogger()),
		})
	// The routing objects of every provider (providers.All), where their API is served, each
	// kind once (nginx and skipper both own Ingresses).
	watched := map[schema.GroupVersionKind]bool{}
	for _, p := range providers.All {
		for _, gvk := range p.Owns {
			if watched[gvk] || !served(mgr.GetRESTMapper(), gvk) {
				continue
			}
			watched[gvk] = true
			b = b.Owns(owned(mgr.GetScheme(), gvk))
		}
	}
	if served(mgr.GetRESTMapper(), target.ScaledObjectGVK) {
		// KEDA's ScaledObjects: the primary's is owned, the target's wakes its Canaries. A
		// cluster without KEDA has no watch; a Canary naming a ScaledObject there is told so.
		b = b.Owns(scaledObject()).Watches(scaledObject(), r.enqueueBy(indexAutoscaler, nil))
	}
	b = r.watchShards(b)
	return b.Complete(r)
}

// enqueueBy maps an object to the Canaries of its namespace whose index holds its (keyed) name.
func (r *CanaryReconciler) enqueueBy(index string, key func(string) string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		value := o.GetName()
		if key != nil {
			value = key(value)
		}
		list := &siskinv1.CanaryList{}
		if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{index: value}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "list canaries by index", "reason", index)
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, c := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
		}
		return reqs
	})
}

// scaledObject is an empty KEDA ScaledObject, for the watches.
func scaledObject() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(target.ScaledObjectGVK)
	return u
}

// owned is an empty object of a kind a router owns, for the watches: typed when the scheme has
// the kind, unstructured when its router reads and writes it so (a TraefikService).
func owned(s *runtime.Scheme, gvk schema.GroupVersionKind) client.Object {
	if obj, err := s.New(gvk); err == nil {
		if o, ok := obj.(client.Object); ok {
			return o
		}
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// served reports whether the API server serves a kind (its CRD is installed).
func served(m meta.RESTMapper, gvk schema.GroupVersionKind) bool {
	_, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
	return err == nil
}

// activeIndex indexes a Canary whose rollout is in flight under indexActive.
func activeIndex(o client.Object) []string {
	if activePhases[o.(*siskinv1.Canary).Status.Phase] {
		return []string{"true"}
	}
	return nil
}
