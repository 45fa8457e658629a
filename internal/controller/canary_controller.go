// Package controller holds Siskin's reconcilers. They are thin: load the object, observe the
// world from informer caches, ask pkg/canary what to do, act through small interfaces and write
// status once.
package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/observability"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/kubernetes"
	"github.com/siskin-dev/siskin/pkg/target"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// CanaryReconciler reconciles Canary objects.
type CanaryReconciler struct {
	// Client writes; its reads come from the informer cache.
	client.Client

	// Recorder emits Kubernetes events about Canaries.
	Recorder events.EventRecorder

	// DefaultProvider is the router provider of Canaries that name none.
	DefaultProvider string

	// MaxConcurrentReconciles bounds the number of Canaries reconciled at once.
	MaxConcurrentReconciles int

	// MaxConcurrentCanaries bounds the rollouts in flight at once; a new revision beyond it
	// waits at rest for a slot. 0 means no limit.
	MaxConcurrentCanaries int

	// Target adapts the Canaries' targets; New sets it to target.Kinds, which hands each call
	// to the adapter of the Canary's spec.targetRef.kind.
	Target target.Targets
	// Services manages the apex, -primary and -canary Services.
	Services *kubernetes.Router
	// Routers are the routers by provider (pkg/router/all); a provider missing here routes
	// with Services alone, as provider kubernetes does.
	Routers map[string]router.Router
	// Webhooks calls the Canaries' webhooks.
	Webhooks *webhooks.Client
	// Analyzer runs the metric checks of analysis steps.
	Analyzer *metrics.Analyzer
	// Metrics records Siskin's own Prometheus metrics.
	Metrics *observability.Recorder
	// Notifier announces events to the Canaries' alert providers; nil sends nothing.
	Notifier Notifier

	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// slots admits rollouts under MaxConcurrentCanaries and the adaptive limit.
	slots rolloutSlots
	// admission keeps the adaptive limit of concurrent rollouts (--step-lateness-target).
	admission rolloutAdmission
	// writes tracks status writes the cache has not shown yet, objects the writes of the
	// routers and the target adapters.
	writes  statusWrites
	objects *objectWrites
	// wake brings queued Canaries back when a rollout slot frees, and Canaries whose step's
	// calls ended off the workers.
	wake chan event.GenericEvent
	// gathers runs the calls of analysis steps off the workers.
	gathers gatherings
	// shards, when set, are the shards of the Canaries this replica may reconcile (shard.go).
	shards Shards
}

// Notifier sends a Canary's announcements to its alert providers without blocking.
type Notifier interface {
	Notify(ctx context.Context, c *siskinv1.Canary, e canary.Event)
}

// +kubebuilder:rbac:groups=siskin.dev,resources=canaries,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=siskin.dev,resources=canaries/status,verbs=patch
// +kubebuilder:rbac:groups=siskin.dev,resources=canaries/finalizers,verbs=update
// +kubebuilder:rbac:groups=siskin.dev,resources=metrictemplates;alertproviders,verbs=get;list;watch
// +kubebuilder:rbac:groups=siskin.dev,resources=alertproviders/status,verbs=patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apps,resources=daemonsets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=deletecollection
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=services;configmaps;secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create

// Reconcile moves one Canary a step forward and writes its status once.
func (r *CanaryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ctx = forCanary(ctx, req.NamespacedName)
	obj := &siskinv1.Canary{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.Forget(req.Namespace, req.Name)
			r.writes.forget(req.NamespacedName)
			r.objects.forget(req.NamespacedName)
			r.gathers.forget(req.NamespacedName)
			r.admission.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx, leave, held := r.holdShard(ctx, obj)
	if !held {
		return ctrl.Result{}, nil
	}
	defer leave()
	switch left, expired := r.writes.behind(req.NamespacedName, obj.ResourceVersion, r.now(), cacheWait); {
	case left > 0:
		// The cache still holds the Canary from before this controller's last status write;
		// that write's update event brings it back. The requeue is a safety net only.
		ctrl.LoggerFrom(ctx).V(1).Info("cache behind the last status write, waiting for it")
		return ctrl.Result{RequeueAfter: left}, nil
	case expired:
		ctrl.LoggerFrom(ctx).Info("cache did not catch up with the status write", "canary", req.Name, "after", cacheWait.String())
	}
	if left := r.objects.behind(ctx, req.NamespacedName, r.now(), cacheWait); left > 0 && obj.DeletionTimestamp.IsZero() {
		// The cache still holds an object from before the last actions' write (the route a
		// step set, the target it scaled); that object's update event brings the Canary back.
		ctrl.LoggerFrom(ctx).V(1).Info("cache behind the last actions' writes, waiting for it")
		return ctrl.Result{RequeueAfter: min(left, staleRetry)}, nil
	}
	if !obj.DeletionTimestamp.IsZero() {
		canary.Normalize(&obj.Spec) // Flagger spellings the routers do not read (suffix, allowOrigin)
		return r.finalize(ctx, obj)
	}
	if !controllerutil.ContainsFinalizer(obj, siskinv1.CanaryFinalizer) {
		// The finalizer guards the hand-back of traffic on deletion (with or without
		// revertOnDeletion), so it is in place before anything is created.
		patch := client.MergeFrom(obj.DeepCopy())
		controllerutil.AddFinalizer(obj, siskinv1.CanaryFinalizer)
		if err := r.Patch(ctx, obj, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer to canary %s: %w", req.NamespacedName, err)
		}
	}
	before := obj.Status.DeepCopy()
	rd := r.reconcile(ctx, obj)
	obj.Status.ObservedGeneration = obj.Generation
	// The status is the round's only commit point, and it comes before any side effect: it
	// records what the round decided (the intent), and the actions only converge the world to
	// it. A write that fails (a conflict with someone's annotation, a cancelled context, a
	// replica that lost its lease and meets the new leader's write) leaves the world untouched
	// and the round is planned again; an action that fails is asked for again by the next
	// round, planned from the status written here. The optimistic lock of the write fences the
	// actions on the Canary's resourceVersion.
	if r.shardLost(ctx, obj) {
		return ctrl.Result{}, nil
	}
	writeStart := r.now()
	if perr := r.patchStatus(ctx, obj, before); perr != nil {
		if apierrors.IsNotFound(perr) {
			return ctrl.Result{}, nil // the Canary is gone: nothing to converge
		}
		if apierrors.IsConflict(perr) && rd.err == nil {
			ctrl.LoggerFrom(ctx).V(1).Info("canary changed since it was read, planning again", "reason", perr.Error())
			return ctrl.Result{RequeueAfter: staleRetry}, nil
		}
		return ctrl.Result{}, errors.Join(rd.err, perr)
	}
	result, err := ctrl.Result{RequeueAfter: rd.requeue}, rd.err
	if err == nil && !obj.Spec.Suspend && rd.planned && !r.shardLost(ctx, obj) {
		if aerr := r.act(ctx, obj, rd.obs, rd.actions); aerr != nil {
			result, err = r.actFailed(ctx, obj, aerr)
		}
	}
	if err == nil {
		// A round that failed did not serve its step; the round that takes it measures it.
		r.measureStep(ctx, req.NamespacedName, rd.step, r.stepTaken(obj, rd.step), r.now().Sub(writeStart))
	}
	r.announce(ctx, obj, rd.events)
	r.Metrics.RecordStatus(obj)
	r.recordRollout(obj, before.Phase)
	return result, err
}

// round is what reconcile decided: the next status is in the Canary itself.
type round struct {
	// planned is true when the planner ran: only then are there actions to converge.
	planned bool
	obs     canary.Observation
	actions []canary.Action
	events  []canary.Event
	requeue time.Duration
	err     error
	// step is the analysis step due when the round started, measured once the round has
	// written (zero when none was due).
	step stepDue
}

// reconcile computes the next status of a Canary that is not being deleted, and the actions and
// events that follow once that status is written.
func (r *CanaryReconciler) reconcile(ctx context.Context, obj *siskinv1.Canary) round {
	log := ctrl.LoggerFrom(ctx)

	if obj.Spec.Suspend {
		canary.SetReadiness(&obj.Status, obj.Generation, siskinv1.ReasonSuspended, "reconciliation is suspended (spec.suspend)")
		return round{}
	}

	canary.Normalize(&obj.Spec) // Flagger spellings the routers do not read (suffix, allowOrigin)
	if err := canary.Validate(&obj.Spec, r.DefaultProvider); err != nil {
		canary.SetStalled(&obj.Status, obj.Generation, siskinv1.ReasonInvalidSpec, err.Error())
		log.Info("canary spec is invalid", "reason", siskinv1.ReasonInvalidSpec, "error", err.Error())
		return round{events: []canary.Event{{Warning: true, Reason: siskinv1.ReasonInvalidSpec, Message: err.Error(), Severity: siskinv1.SeverityError}},
			err: reconcile.TerminalError(err)}
	}
	if rd, invalid := r.invalidShard(ctx, obj); invalid {
		return rd
	}

	if rd, done := r.adopt(ctx, obj); done {
		return rd
	}
	// Read on a valid spec only: the step's due time is read from it.
	step := r.dueStep(obj)
	obs, configs, err := r.observe(ctx, obj)
	if err != nil {
		rd := r.failRound(obj, err)
		rd.step = step
		return rd
	}
	needs := canary.NeedsFor(obj, obs)
	if pending := r.gather(ctx, obj, &obs, needs); pending > 0 {
		// The step's webhooks and queries still run off this worker; their end brings the
		// Canary back. The requeue is a safety net.
		log.V(1).Info("analysis step still gathering, looking again when it ends")
		return round{requeue: pending, step: step}
	}

	if obs.Checks != nil {
		r.Metrics.RecordChecks(obj, obs.Checks)
	}
	d := canary.Plan(obj, obs)
	// The actions see the next status (routers read the session cookies the planner decided).
	obj.Status = d.Status
	if configs != nil {
		obj.Status.TrackedConfigs = configs
	}
	if d.RequeueAfter > 0 {
		log.V(1).Info("next round scheduled", "phase", obj.Status.Phase, "weight", obj.Status.CanaryWeight, "requeueAfter", d.RequeueAfter.String())
	}
	return round{planned: true, obs: obs, actions: d.Actions, events: d.Events, requeue: d.RequeueAfter, step: step}
}

// actFailed handles an action that failed after the round's status was written. The status
// stays as it is (it is the intent); the next round asks for the same convergence.
func (r *CanaryReconciler) actFailed(ctx context.Context, obj *siskinv1.Canary, err error) (ctrl.Result, error) {
	if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) || errors.Is(err, target.ErrRevisionChanged) {
		// The cache has not caught up with a write of ours (or someone else's), or the target
		// moved on since it was read: nothing is wrong, the next round plans again from what
		// is really there.
		ctrl.LoggerFrom(ctx).V(1).Info("cache behind a write, planning again", "reason", err.Error())
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, siskinv1.ReasonReconcileError, string(obj.Status.Phase), "%s", err.Error())
	}
	return ctrl.Result{}, err
}

// recordRollout counts a rollout that ended this round, with its whole duration.
func (r *CanaryReconciler) recordRollout(obj *siskinv1.Canary, before siskinv1.CanaryPhase) {
	after := obj.Status.Phase
	if before == after || (after != siskinv1.PhaseSucceeded && after != siskinv1.PhaseFailed) {
		return
	}
	if d, ok := observability.RolloutDuration(obj, r.now()); ok {
		r.Metrics.RecordRollout(obj, after == siskinv1.PhaseSucceeded, d)
	}
}

// failRound records an error that a later round may not hit (the API server, a missing target,
// a route owned by someone else) without touching the rollout's own state.
func (r *CanaryReconciler) failRound(obj *siskinv1.Canary, err error) round {
	reason := siskinv1.ReasonReconcileError
	switch {
	case errors.Is(err, router.ErrNotOwned), errors.Is(err, target.ErrNotOwned):
		reason = siskinv1.ReasonNotOwned
	}
	msg := err.Error()
	cond := findCondition(obj.Status.Conditions, siskinv1.ConditionReady)
	setRoundError(&obj.Status, obj.Generation, reason, msg)
	var evs []canary.Event
	if cond == nil || cond.Reason != reason || cond.Message != msg {
		evs = append(evs, canary.Event{Warning: true, Reason: reason, Message: msg, Severity: siskinv1.SeverityWarn})
	}
	return round{events: evs, err: err}
}

// patchStatus writes the status once, if it changed.
func (r *CanaryReconciler) patchStatus(ctx context.Context, obj *siskinv1.Canary, before *siskinv1.CanaryStatus) error {
	if equality.Semantic.DeepEqual(before, &obj.Status) {
		return nil
	}
	if obj.Status.LastTransitionTime == nil {
		// The planner stamps phase and weight changes; this covers a first write outside it.
		now := metav1.NewTime(r.now())
		obj.Status.LastTransitionTime = &now
	}
	base := obj.DeepCopy()
	base.Status = *before
	replaced := obj.ResourceVersion
	// The patch is sent from a copy: the server's answer would replace obj's metadata and spec
	// with the stored ones, dropping what the round read into them in memory (the Flagger
	// spellings canary.Normalize rewrote, the take-over opt-in of --adopt-flagger-namespaces)
	// before the round's actions run. The optimistic lock means nothing else changed.
	patched := obj.DeepCopy()
	// The optimistic lock refuses a status planned from a Canary that changed since it was read.
	if err := r.Status().Patch(ctx, patched, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch status of canary %s/%s: %w", obj.Namespace, obj.Name, err)
	}
	obj.ResourceVersion, obj.Status = patched.ResourceVersion, patched.Status
	r.writes.wrote(client.ObjectKeyFromObject(obj), replaced, obj.ResourceVersion, r.now())
	if freed := freedSlots(before.Phase, obj.Status.Phase); freed > 0 {
		r.slots.release(client.ObjectKeyFromObject(obj), r.now())
		r.admission.forget(client.ObjectKeyFromObject(obj))
		r.wakeQueued(ctx, freed)
	}
	return nil
}

// staleRetry is how soon a round that met a stale cache (AlreadyExists, Conflict) runs again.
const staleRetry = 250 * time.Millisecond

// cacheWait bounds how long rounds of a Canary wait for the cache to show its last status
// write; after it the cache is taken as it is (and the optimistic lock of the next status
// write still refuses a plan made from an outdated Canary).
const cacheWait = 2 * time.Second

// announce emits Kubernetes events, notifications and event webhooks. It never blocks on a
// receiver: notifications and event webhooks are queued.
func (r *CanaryReconciler) announce(ctx context.Context, obj *siskinv1.Canary, evs []canary.Event) {
	for _, e := range evs {
		typ := corev1.EventTypeNormal
		if e.Warning {
			typ = corev1.EventTypeWarning
		}
		if r.Recorder != nil {
			// events.k8s.io requires an action: the phase the Canary was in, as Flagger users
			// read it.
			action := string(obj.Status.Phase)
			if action == "" {
				action = "Validate"
			}
			r.Recorder.Eventf(obj, nil, typ, e.Reason, action, "%s", e.Message)
		}
		if e.Mute {
			// A muted gate (webhook muteAlert) still records its event, but tells no one.
			continue
		}
		if r.Notifier != nil {
			r.Notifier.Notify(ctx, obj, e)
		}
		if r.Webhooks != nil && obj.Spec.Analysis != nil {
			hooks := webhooks.OfType(obj.Spec.Analysis.Webhooks, siskinv1.EventHook)
			if len(hooks) > 0 {
				p := webhooks.NewPayload(obj, obj.Status.LastAppliedSpec)
				p.Metadata = map[string]string{webhooks.MetadataEventMessage: e.Message, webhooks.MetadataEventType: typ}
				// Event webhooks are told, not asked: a bounded pool of workers calls them, so
				// they never hold up the reconcile nor grow the number of goroutines.
				r.Webhooks.NotifyAsync(ctx, hooks, p)
			}
		}
	}
}

func (r *CanaryReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// setRoundError marks the Canary not ready because this round failed, keeping the rollout's
// phase and counters as they were.
func setRoundError(status *siskinv1.CanaryStatus, generation int64, reason, message string) {
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: siskinv1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: message, ObservedGeneration: generation,
	})
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: siskinv1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: reason, Message: message, ObservedGeneration: generation,
	})
	meta.RemoveStatusCondition(&status.Conditions, siskinv1.ConditionStalled)
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}
