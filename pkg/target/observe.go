package target

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// reasonProgressDeadlineExceeded is the reason of a Deployment's Progressing condition once
// progressDeadlineSeconds has passed without progress.
const reasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"

// Observe reports the target and the primary as the engine sees them. The target's
// fingerprint covers its pod template and tracked configs; the primary's is the target
// revision it was last copied from. Ready applies canaryReadyThreshold to the target and
// primaryReadyThreshold to the primary. A missing Deployment is reported, not returned as an
// error; an error means something could not be read, and nothing should be concluded from it.
func (d *Deployment) Observe(ctx context.Context, c *siskinv1.Canary) (target, primary canary.Workload, err error) {
	dep, err := d.getTarget(ctx, c)
	switch {
	case apierrors.IsNotFound(err):
		target.Message = fmt.Sprintf("deployment %s not found", targetKey(c))
	case err != nil:
		return target, primary, err
	default:
		configs, err := d.TrackedConfigs(ctx, dep.Namespace, &dep.Spec.Template)
		missing := ""
		if apierrors.IsNotFound(err) {
			// A config the pods need is gone: a fact for the planner (the canary cannot become
			// ready, and the progress deadline decides), not an error that stops the round.
			missing = err.Error()
			configs, err = d.presentConfigs(ctx, dep.Namespace, &dep.Spec.Template)
		}
		if err != nil {
			return target, primary, fmt.Errorf("track configs of deployment %s: %w", targetKey(c), err)
		}
		fp, err := d.memo.fingerprint(dep, configs)
		if err != nil {
			return target, primary, fmt.Errorf("fingerprint deployment %s: %w", targetKey(c), err)
		}
		target = workload(dep, fp, readyThreshold(c, true))
		if missing != "" {
			target.Ready, target.Message = false, "a config it needs is missing: "+missing
		}
	}

	p, err := d.getPrimary(ctx, c)
	switch {
	case err != nil:
		return target, primary, err
	case p == nil:
		primary.Message = fmt.Sprintf("deployment %s not found", primaryKey(c))
	default:
		primary = workload(p, p.Annotations[AnnotationRevision], readyThreshold(c, false))
	}
	return target, primary, nil
}

func workload(dep *appsv1.Deployment, fingerprint string, threshold int32) canary.Workload {
	ready, msg := readiness(dep, threshold)
	return canary.Workload{
		Exists:      true,
		Fingerprint: fingerprint,
		Ready:       ready,
		Message:     msg,
		Replicas:    ptr.Deref(dep.Spec.Replicas, 1),
		Available:   dep.Status.AvailableReplicas,
	}
}

// readyThreshold is the percent of updated replicas that must be available.
func readyThreshold(c *siskinv1.Canary, target bool) int32 {
	a := c.Spec.Analysis
	if a == nil {
		return 100
	}
	if target {
		return ptr.Deref(a.CanaryReadyThreshold, 100)
	}
	return ptr.Deref(a.PrimaryReadyThreshold, 100)
}

// readiness tells whether a Deployment has rolled out its current generation with at least
// threshold percent (rounded up) of its updated replicas available. A Deployment at zero
// replicas is not ready: it serves nothing.
func readiness(dep *appsv1.Deployment, threshold int32) (bool, string) {
	name := dep.Namespace + "/" + dep.Name
	if dep.Status.ObservedGeneration < dep.Generation {
		return false, fmt.Sprintf("deployment %s: waiting for generation %d to be observed", name, dep.Generation)
	}
	replicas := ptr.Deref(dep.Spec.Replicas, 1)
	if replicas == 0 {
		return false, fmt.Sprintf("deployment %s is scaled to zero", name)
	}
	st := dep.Status
	need := (int64(st.UpdatedReplicas)*int64(threshold) + 99) / 100
	var detail string
	switch {
	case st.UpdatedReplicas < replicas:
		detail = fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, replicas)
	case st.Replicas > st.UpdatedReplicas:
		detail = fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case int64(st.AvailableReplicas) < need:
		detail = fmt.Sprintf("%d of %d updated replicas available, %d needed (%d%%)",
			st.AvailableReplicas, st.UpdatedReplicas, need, threshold)
	default:
		return true, ""
	}
	for _, cond := range st.Conditions {
		if cond.Type == appsv1.DeploymentProgressing && cond.Status == corev1.ConditionFalse &&
			cond.Reason == reasonProgressDeadlineExceeded {
			return false, fmt.Sprintf("deployment %s exceeded its progress deadline: %s", name, detail)
		}
	}
	return false, fmt.Sprintf("deployment %s: %s", name, detail)
}
