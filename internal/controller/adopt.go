package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// adopt takes over a running Flagger install for a Canary that opted in (annotation
// siskin.dev/adopt=flagger, or --adopt-flagger-namespaces), before the round observes
// anything. It runs only until the Canary is initialized; from then on the routers and
// adapters claim what Flagger made as they meet it (router.Ownership, target.FlaggerMade).
//
// Only metadata is written: Flagger's primary keeps its selector, labels and pod template (no
// pod restarts), its Services keep their selectors until the Services router converges them to
// the same ones, and the routes keep their weights until the planner routes all traffic to the
// primary, which is where Flagger left it at rest.
//
// When the primary runs the target's revision (Flagger after a promotion), the round goes on
// initializing, and the planner records that revision as promoted without analysing it. When
// it does not (Flagger was mid-rollout), the Canary starts at rest with the primary's revision
// as the promoted one, so the target's revision is analysed like any new revision, never
// promoted unanalysed.
//
// A round that wrote anything ends there (done is true): the informer cache shows the writes
// a moment later, and a round planned from the cache as it was would see Flagger's primary
// without a revision and copy the target over it, restarting its pods.
func (r *CanaryReconciler) adopt(ctx context.Context, c *siskinv1.Canary) (rd round, done bool) {
	r.Target.MarkAdoption(c)
	if !target.AdoptsFlagger(c) {
		return rd, false
	}
	if st := c.Status.Phase; st != "" && st != siskinv1.PhaseInitializing {
		return rd, false
	}
	wrote, err := r.adoptServices(ctx, c)
	if err == nil {
		var a target.Adoption
		a, err = r.Target.AdoptPrimary(ctx, c)
		wrote = wrote || a.Wrote
		if err == nil && a.Adopted && a.Revision != "" && a.Revision != a.Target {
			ctrl.LoggerFrom(ctx).Info("took over a primary that Flagger was rolling out to: its revision is the promoted one",
				"canary", c.Name, "revision", a.Revision)
			c.Status.Phase = siskinv1.PhaseInitialized
			c.Status.LastAppliedSpec, c.Status.LastPromotedSpec = a.Revision, a.Revision
			c.Status.CanaryWeight = 0
		}
	}
	switch {
	case apierrors.IsConflict(err):
		// The cache is behind a take-over written by an earlier round.
		return round{requeue: staleRetry}, true
	case apierrors.IsNotFound(err):
		return rd, false // no target yet: the planner reports it
	case err != nil:
		return r.failRound(c, fmt.Errorf("take over from Flagger: %w", err)), true
	case wrote:
		ctrl.LoggerFrom(ctx).Info("took over what Flagger made, planning when the cache shows it", "canary", c.Name)
		if r.Recorder != nil {
			r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, siskinv1.ReasonTakenOverFromFlagger, "TakeOver",
				"took over what Flagger made for Canary %s (the primary, its Services and routes keep serving as they are)", c.Name)
		}
		return round{requeue: staleRetry}, true
	}
	return rd, false
}

// adoptServices takes over the apex, -primary and -canary Services that Flagger made for the
// Canary: owner reference, Flagger's finalizer and the siskin.dev/canary annotation. Their
// spec is the Services router's to converge.
func (r *CanaryReconciler) adoptServices(ctx context.Context, c *siskinv1.Canary) (wrote bool, err error) {
	apex, primary, canaryName := router.ServiceNames(c)
	for _, name := range []string{apex, primary, canaryName} {
		key := client.ObjectKey{Namespace: c.Namespace, Name: name}
		cur := &corev1.Service{}
		if err := r.Get(ctx, key, cur); apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return wrote, fmt.Errorf("get service %s: %w", key, err)
		}
		if !target.FlaggerMade(cur, c) {
			continue
		}
		want := cur.DeepCopy()
		target.TakeOver(want, c)
		if equality.Semantic.DeepEqual(cur, want) {
			continue
		}
		if err := r.Patch(ctx, want, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{})); err != nil {
			return wrote, fmt.Errorf("take over service %s from Flagger: %w", key, err)
		}
		wrote = true
	}
	return wrote, nil
}
