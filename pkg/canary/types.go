package canary

import (
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// Observation is everything the controller read this round, from informer caches and (only
// when Needs asked for them) metric queries and webhook calls. Plan reads nothing else, and
// NeedsFor reads it without Gates and Checks.
type Observation struct {
	// Now is the time of this round.
	Now time.Time

	// Provider is the resolved router provider (spec.provider or the controller default).
	Provider string

	// Target is the Deployment named by spec.targetRef.
	Target Workload
	// Primary is <target>-primary. Its Fingerprint is the fingerprint of the target revision it
	// was created or last promoted from (the target adapter records it on the primary), so Plan
	// can tell when a promotion has landed.
	Primary Workload
	// Baseline is <target>-baseline, observed only when analysis.comparison.control is
	// baseline: a copy of the primary's revision started with the canary. Its Fingerprint is the
	// revision it runs.
	Baseline Workload
	// Route is what the router observes of the live routing objects.
	Route Route

	// Gates holds the verdict of each gate type that Needs asked for this round. A type that was
	// asked for but is missing counts as closed (for rollback: as no rollback).
	Gates map[siskinv1.WebhookType]Gate
	// Checks are the results of this round's analysis step, in order: the pre-rollout webhooks
	// when Needs.PreRollout (the controller may stop there if one fails), then the rollout
	// webhooks, then every metric. A query or call that could not be made is a check with verdict
	// Error, never a missing entry. Plan ignores Checks when Needs did not ask for a step.
	Checks []siskinv1.CheckResult

	// Comparisons are the counts of this round's look, one per compared metric, in spec order,
	// when Needs.Compare asked for them.
	Comparisons []ComparisonSample

	// RolloutQueued is true when a new rollout may not start now because the controller's
	// limit of concurrent rollouts is reached; the revision waits at rest and is looked at again
	// after QueuePoll.
	RolloutQueued bool
	// QueuedBehindSchedule is true when the limit RolloutQueued met is the controller's
	// adaptive one: the rollouts in flight run behind their schedule.
	QueuedBehindSchedule bool

	// Manual holds the manual-control annotations of the Canary (annotation -> value), see
	// siskinv1.AnnotationPromote and its siblings.
	Manual map[string]string
}

// Workload is what was observed of a Deployment.
type Workload struct {
	// Exists is false when the object was not found.
	Exists bool
	// Fingerprint is the revision fingerprint: pod template plus tracked config checksums.
	Fingerprint string
	// Ready is true when the controller has observed the latest generation and enough updated
	// replicas are available (ready thresholds applied).
	Ready bool
	// Message says why the workload is not ready.
	Message string
	// Replicas is spec.replicas (0 when scaled down).
	Replicas int32
	// Available is status.availableReplicas: pods that serve traffic routed to the workload.
	Available int32
}

// Route is the observed state of the routing objects.
type Route struct {
	// Converged is true when the routing objects exist, are Siskin's, match the last applied
	// desired state and (Gateway API) are accepted by their parents.
	Converged bool
	// Message says why the route has not converged.
	Message string
	// PrimaryWeight and CanaryWeight are the observed weights; with analysis.match (A/B
	// testing) they are the weights of the route that matching requests take.
	PrimaryWeight int32
	CanaryWeight  int32
	// BaselineWeight is the observed weight of <target>-baseline (0 when it has no route).
	BaselineWeight int32
	// Mirror is true when primary traffic is mirrored to the canary.
	Mirror bool
	// Problem is a reason (siskinv1.ReasonNotOwned, siskinv1.ReasonRouterUnavailable) why the
	// router cannot change the route at all; Message says more. The planner then plans no
	// routing action and lets the rollout's deadlines decide.
	Problem string
}

// Gate is the aggregated answer of every webhook of one gate type.
type Gate struct {
	// Open is true when every webhook of the type answered 2xx (for rollback gates: when any
	// answered 2xx, which asks for a rollback).
	Open bool
	// Message names the webhook that closed the gate and what it answered.
	Message string
}

// Needs says what the controller must gather before calling Plan this round. Everything not
// needed is left out, so a Canary at rest costs no queries and no webhook calls.
type Needs struct {
	// Gates are the gate webhook types to call, in order (only types the spec has webhooks of);
	// their verdicts go into Observation.Gates.
	Gates []siskinv1.WebhookType
	// Step is true when an analysis step is due: run pre-rollout (if not yet passed for this
	// revision) and rollout webhooks and query the metrics.
	Step bool
	// PreRollout is true when the pre-rollout webhooks must run in this step.
	PreRollout bool
	// NoTraffic is true when the route sends the canary no traffic in this step: a weighted
	// canary at weight 0 without mirroring, or A/B testing before matching requests reach the
	// canary. Its metrics are still queried (a load test aimed at the canary Service is traffic
	// it was sent, and its failures count), but a metric without data does not hold the step:
	// the canary is not judged on traffic it was never sent.
	NoTraffic bool
	// Compare is true when the compared metrics must be read: Observation.Comparisons gets one
	// sample per metric of analysis.comparison, counting what each version served from
	// CompareSince to now.
	Compare bool
	// CompareSince is the start of the look's window (the last look, or the rollout's start).
	CompareSince time.Time
	// Control is the workload the canary is compared with (<target>-primary or
	// <target>-baseline).
	Control string
}

// ComparisonSample is what one look read of one compared metric: the counts of each version
// in the look's window.
type ComparisonSample struct {
	// Name of the compared metric.
	Name string
	// Error says why the counts could not be read; the look is then no evidence either way.
	Error string
	// Canary and Control are the counts of the two versions.
	Canary, Control Counts
}

// Counts are one version's counts in a look's window. Prometheus' increase() extrapolates,
// so they need not be whole numbers.
type Counts struct {
	// Requests served.
	Requests float64
	// Events counted by a rate comparison (errors).
	Events float64
	// Buckets of a distribution comparison: cumulative counts by upper bound, increasing
	// bounds, the last one +Inf.
	Buckets []Bucket
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Decision is what Plan decided: the ordered actions, the next status and when to look again.
type Decision struct {
	// Actions run in order, after Status is written: the status is the intent, the actions
	// converge the world to it. If the status write fails nothing is done; if an action
	// fails, the next round plans again from the new status and the world as it is, which
	// asks for the same convergence. So every prefix of a round is safe: a lost write repeats
	// the round, a lost action is repeated by the next one, and no step counts twice.
	Actions []Action
	// Status is the next status (the controller writes it once, before the actions). Plan sets
	// observedGeneration, conditions and lastTransitionTime itself.
	Status siskinv1.CanaryStatus
	// Events are announced after the status is written: Kubernetes events, notifications and
	// event webhooks.
	Events []Event
	// RequeueAfter is when to reconcile again without an external change; 0 means only on a
	// watch event.
	RequeueAfter time.Duration
}

// ActionType names what an Action does.
type ActionType string

// Action types. Each is idempotent: executing it twice has the effect of executing it once.
const (
	// EnsureServices creates or updates the apex, -primary and -canary Services. The planner
	// asks for it only for a provider whose Canaries have them (not replicas).
	EnsureServices ActionType = "EnsureServices"
	// EnsureRoute creates or updates the router's objects (VirtualService, HTTPRoute, canary
	// Ingress...), keeping the weights they carry, or routing all traffic to the primary when
	// there are none yet. The planner asks for it only for a provider that has objects of its
	// own, after EnsureServices (the routes point at the Services), and never in a round that
	// also sets the route: SetRoute converges the same objects, and an Ensure before it would
	// write from a cache that has not yet seen the other's write.
	EnsureRoute ActionType = "EnsureRoute"
	// EnsurePrimary creates <target>-primary from the target if it does not exist.
	EnsurePrimary ActionType = "EnsurePrimary"
	// ScaleTargetUp scales the target (the canary) up from zero to its desired replicas (its
	// own, else the primary's, else the autoscaler's minimum); a no-op when it already runs.
	ScaleTargetUp ActionType = "ScaleTargetUp"
	// ScaleTargetDown scales the target to zero.
	ScaleTargetDown ActionType = "ScaleTargetDown"
	// Promote copies the target's pod template and tracked configs to the primary, and records
	// the target's fingerprint on it, only if the target still holds Action.Revision. Copying
	// the same revision again must not restart the primary's rollout.
	Promote ActionType = "Promote"
	// SetRoute applies the weights (and mirroring) in Action.Route.
	SetRoute ActionType = "SetRoute"
	// EnsureBaseline creates <target>-baseline (Deployment and Service) from the primary's
	// pod template, scaled like the canary, or scales it up; a no-op when it runs already.
	EnsureBaseline ActionType = "EnsureBaseline"
	// RemoveBaseline deletes <target>-baseline; a no-op when it does not exist. The planner
	// asks for it only once the route sends the baseline nothing.
	RemoveBaseline ActionType = "RemoveBaseline"
	// CallWebhooks calls every webhook of Action.Hook and logs the answers (post-rollout); a
	// failed call is logged, it does not fail the round.
	CallWebhooks ActionType = "CallWebhooks"
)

// EnsuresRoute reports whether a converges the route of a provider's Canary with its current
// weights: EnsureRoute, or EnsureServices for a provider whose route is its Services alone
// (kubernetes). The simulations use it as the controller's routers behave.
func EnsuresRoute(a Action, provider string) bool {
	return a.Type == EnsureRoute || (a.Type == EnsureServices && !providers.HasObjects(provider))
}

// Action is one step the controller executes.
type Action struct {
	// Type says what to do.
	Type ActionType
	// Route is the desired route of SetRoute.
	Route DesiredRoute
	// Hook is the webhook type of CallWebhooks.
	Hook siskinv1.WebhookType
	// Revision is the fingerprint Promote copies to the primary: the revision that passed the
	// analysis (or that a person promoted), never whatever the target holds when the action
	// runs. If the target has moved on, Promote must change nothing.
	Revision string
}

// DesiredRoute is the routing a SetRoute action asks for. With analysis.match (A/B testing)
// the weights apply to requests that match; every other request goes to the primary.
type DesiredRoute struct {
	// PrimaryWeight is the percent of traffic for the primary.
	PrimaryWeight int32
	// CanaryWeight is the percent of traffic for the canary; with BaselineWeight the three add
	// up to 100.
	CanaryWeight int32
	// BaselineWeight is the percent of traffic for <target>-baseline (analysis.comparison
	// control baseline); 0 routes nothing to it, and routers then leave it out of the route.
	BaselineWeight int32
	// Mirror copies primary traffic to the canary (MirrorWeight percent of it).
	Mirror bool
	// MirrorWeight is the percent of requests mirrored when Mirror is set.
	MirrorWeight int32
}

// Event is something to announce.
type Event struct {
	// Warning is true for failures.
	Warning bool
	// Reason is a CamelCase reason (the condition or step reason).
	Reason string
	// Message is a deterministic sentence.
	Message string
	// Severity selects which alerts receive it.
	Severity siskinv1.AlertSeverity
	// Mute keeps the event from alerts and event webhooks (a gate whose webhooks all set
	// muteAlert); it is still recorded as a Kubernetes event.
	Mute bool
}
