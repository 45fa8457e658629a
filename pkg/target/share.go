package target

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// A worker canary (spec.provider replicas on a Deployment target) has no traffic to split: the
// target runs a share of the primary's replicas beside <target>-primary, and the weight is that
// share. The target's own replica count, the user's, stays in AnnotationReplicas from the first
// scale-up until the end of the Canary, so that the primary never takes a share for its size.
// The weight ApplyShare last applied is AnnotationWeight on the target, as on a StatefulSet.

// fullShare is the weight of every pod, the primary's at rest.
const fullShare = 100

var _ Sharer = (*Deployment)(nil)

// sharesPods reports whether c's Deployment target is a worker canary whose weight is a share
// of the primary's replicas. The controller's default provider is never replicas, so the
// Canary's own spec.provider says it.
func sharesPods(c *siskinv1.Canary) bool {
	return c.Spec.Provider == siskinv1.ProviderReplicas
}

// shareOf is the number of replicas a worker canary runs at weight w beside a primary of p
// replicas: ceil(p*w/100), at least one; none at weight 0.
func shareOf(p, w int32) int32 {
	if w <= 0 {
		return 0
	}
	w = min(w, fullShare)
	return max(1, int32((int64(p)*int64(w)+fullShare-1)/fullShare))
}

// sharedWeight is the weight ApplyShare last recorded on the target, 0 when none was.
func sharedWeight(target *appsv1.Deployment) int32 {
	w, err := strconv.ParseInt(target.Annotations[AnnotationWeight], 10, 32)
	if err != nil || w < 0 {
		return 0
	}
	return int32(min(w, fullShare))
}

// ObserveShare reports a worker canary's share as a route: CanaryWeight is the weight last
// applied, PrimaryWeight the rest. At weight 0 the route is converged whatever the target runs
// (ScaleDown takes its pods away); above it, once the target's replicas are the share of that
// weight of the primary's current replicas and that many are available. A primary autoscaled
// since makes the route unconverged again, and the planner applies the same weight anew. A
// missing target runs no canary pods: all the work is the primary's.
func (d *Deployment) ObserveShare(ctx context.Context, c *siskinv1.Canary) (canary.Route, error) {
	target, err := d.getTarget(ctx, c)
	if apierrors.IsNotFound(err) {
		return canary.Route{Converged: true, PrimaryWeight: fullShare, Message: fmt.Sprintf("deployment %s not found", targetKey(c))}, nil
	}
	if err != nil {
		return canary.Route{}, err
	}
	w := sharedWeight(target)
	route := canary.Route{PrimaryWeight: fullShare - w, CanaryWeight: w}
	if w == 0 {
		route.Converged = true
		return route, nil
	}
	primary, err := d.getPrimary(ctx, c)
	switch {
	case err != nil:
		return canary.Route{}, err
	case primary == nil:
		route.Message = fmt.Sprintf("deployment %s not found", primaryKey(c))
		return route, nil
	}
	p := ptr.Deref(primary.Spec.Replicas, 1)
	want := shareOf(p, w)
	have := ptr.Deref(target.Spec.Replicas, 1)
	switch {
	case have != want:
		route.Message = fmt.Sprintf("deployment %s runs %d replicas, its share at weight %d of the primary's %d is %d",
			targetKey(c), have, w, p, want)
	case target.Status.ObservedGeneration < target.Generation:
		route.Message = fmt.Sprintf("deployment %s: waiting for generation %d to be observed", targetKey(c), target.Generation)
	case target.Status.AvailableReplicas < want:
		route.Message = fmt.Sprintf("deployment %s: %d of its %d replicas available", targetKey(c), target.Status.AvailableReplicas, want)
	default:
		route.Converged = true
	}
	return route, nil
}

// ApplyShare gives a worker canary the replicas of desired.CanaryWeight, max(1, ceil(P*w/100))
// where P is the primary's replicas now (so the share follows the primary's autoscaler), and
// records the weight on the target in the same merge patch. Weight 0 records the weight and
// takes no pods away: ScaleDown does, once the analysis ends. A target without a memory of the
// user's replicas (AnnotationReplicas) gets one before its count becomes a share.
func (d *Deployment) ApplyShare(ctx context.Context, c *siskinv1.Canary, desired canary.DesiredRoute) error {
	target, err := d.getTarget(ctx, c)
	if err != nil {
		return err
	}
	w := min(max(desired.CanaryWeight, 0), fullShare)
	var opts []client.MergeFromOption
	want := target.DeepCopy()
	want.Annotations = mergeMetadata(want.Annotations, map[string]string{AnnotationWeight: strconv.Itoa(int(w))})
	if w > 0 {
		primary, err := d.getPrimary(ctx, c)
		if err != nil {
			return err
		}
		if primary == nil {
			return fmt.Errorf("share %d%% of deployment %s: %w", w, primaryKey(c),
				apierrors.NewNotFound(appsv1.Resource("deployments"), primaryKey(c).Name))
		}
		if cur := ptr.Deref(target.Spec.Replicas, 1); cur > 0 && rememberedReplicas(target) == 0 {
			// As in ScaleDown: a count changed since it was read is a conflict, not a wrong memory.
			want.Annotations[AnnotationReplicas] = strconv.Itoa(int(cur))
			opts = append(opts, client.MergeFromWithOptimisticLock{})
		}
		want.Spec.Replicas = ptr.To(shareOf(ptr.Deref(primary.Spec.Replicas, 1), w))
	}
	if equality.Semantic.DeepEqual(target, want) {
		return nil
	}
	if err := d.client.Patch(ctx, want, client.MergeFromWithOptions(target, opts...)); err != nil {
		return fmt.Errorf("share %d%% of the primary's replicas with deployment %s: %w", w, targetKey(c), err)
	}
	return nil
}

// scaleUpShare starts a worker canary on its smallest share, one replica, never on its full
// count: a target at zero gets one replica, a target that runs more is brought down to one
// (the weight is 0 when an analysis starts, and the next step gives it its share). The user's
// count is kept in AnnotationReplicas: the memory ScaleDown left, else the count the target
// runs, else the primary's (upReplicas).
func (d *Deployment) scaleUpShare(ctx context.Context, c *siskinv1.Canary, target *appsv1.Deployment) error {
	cur := ptr.Deref(target.Spec.Replicas, 1)
	remembered := rememberedReplicas(target)
	if cur == 1 && remembered > 0 {
		return nil
	}
	if remembered == 0 {
		remembered = cur
	}
	if remembered == 0 {
		n, err := d.upReplicas(ctx, c, target)
		if err != nil {
			return err
		}
		remembered = n
	}
	want := target.DeepCopy()
	want.Annotations = mergeMetadata(want.Annotations, map[string]string{AnnotationReplicas: strconv.Itoa(int(remembered))})
	want.Spec.Replicas = ptr.To[int32](1)
	if err := d.client.Patch(ctx, want, client.MergeFromWithOptions(target, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("scale deployment %s to its smallest share: %w", targetKey(c), err)
	}
	return nil
}

// Pods returns the names of the canary's pods, <target>-<hash>-<suffix>, and of the primary's,
// <target>-primary-<hash>-<suffix>, as RE2 expressions that PromQL's =~ anchors. Each matches
// its own Deployment's pods only: a hash never contains a dash, so the canary's expression
// does not match <target>-primary-... nor another Deployment <target>-<word>-.... Pod names
// that Kubernetes truncates (a Deployment name past 47 characters) are not matched.
func (d *Deployment) Pods(_ context.Context, c *siskinv1.Canary) (canaryPods, primaryPods string, err error) {
	const replicaSetPod = `-[a-z0-9]+-[a-z0-9]+`
	name := c.Spec.TargetRef.Name
	return quoteName(name) + replicaSetPod, quoteName(PrimaryName(name)) + replicaSetPod, nil
}

// quoteName is regexp.QuoteMeta of an object's name with its dots written [.]: the expression
// goes into a PromQL double-quoted string, where a backslash would have to be escaped again, and
// a dot is the only character of a DNS subdomain name that QuoteMeta escapes.
func quoteName(name string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(name), `\.`, `[.]`)
}
