package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CanaryPhase is where a Canary is in its lifecycle, with the names users of the Flagger model
// know.
//
// +kubebuilder:validation:Enum="";Initializing;Initialized;Waiting;Progressing;WaitingPromotion;Promoting;Finalising;Succeeded;Failed;Terminating;Terminated
type CanaryPhase string

// Canary phases.
const (
	PhaseInitializing     CanaryPhase = "Initializing"
	PhaseInitialized      CanaryPhase = "Initialized"
	PhaseWaiting          CanaryPhase = "Waiting"
	PhaseProgressing      CanaryPhase = "Progressing"
	PhaseWaitingPromotion CanaryPhase = "WaitingPromotion"
	PhasePromoting        CanaryPhase = "Promoting"
	PhaseFinalising       CanaryPhase = "Finalising"
	PhaseSucceeded        CanaryPhase = "Succeeded"
	PhaseFailed           CanaryPhase = "Failed"
	PhaseTerminating      CanaryPhase = "Terminating"
	PhaseTerminated       CanaryPhase = "Terminated"
)

// Condition types of a Canary. Ready, Reconciling and Stalled follow kstatus, so Flux
// (wait: true) and Argo CD health checks understand a Canary.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	ConditionPromoted    = "Promoted"
)

// Condition reasons. Each names what happened, in CamelCase.
const (
	ReasonInitializing      = "Initializing"
	ReasonInvalidSpec       = "InvalidSpec"
	ReasonTargetNotFound    = "TargetNotFound"
	ReasonSuspended         = "Suspended"
	ReasonProgressing       = "Progressing"
	ReasonSucceeded         = "Succeeded"
	ReasonFailed            = "Failed"
	ReasonReconcileError    = "ReconcileError"
	ReasonTerminating       = "Terminating"
	ReasonNotOwned          = "NotOwned"
	ReasonUnknownMetricType = "UnknownMetricTemplate"
	// ReasonInvalidShard: the Canary's siskin.dev/shard label names none of the controller's shards.
	ReasonInvalidShard = "InvalidShard"
)

// CanaryStatus is what Siskin observed and did, written once per reconcile.
type CanaryStatus struct {
	// ObservedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase of the rollout.
	// +optional
	Phase CanaryPhase `json:"phase,omitempty"`

	// FailedChecks counts the failed checks of the current analysis.
	// +optional
	FailedChecks int32 `json:"failedChecks"`

	// AnalysisErrors counts the consecutive analysis steps whose checks could not be made (a
	// query error, an unreachable webhook); a step with a verdict resets it.
	// +optional
	AnalysisErrors int32 `json:"analysisErrors,omitempty"`

	// CanaryWeight is the percent of traffic routed to the canary.
	// +optional
	CanaryWeight int32 `json:"canaryWeight"`

	// Iterations counts the analysis runs of a blue/green or A/B rollout.
	// +optional
	Iterations int32 `json:"iterations"`

	// TrackedConfigs maps "configmap/<name>" and "secret/<name>" to a checksum of their content.
	// +optional
	TrackedConfigs map[string]string `json:"trackedConfigs,omitempty"`

	// LastAppliedSpec is the revision fingerprint of the target last acted on.
	// +optional
	LastAppliedSpec string `json:"lastAppliedSpec,omitempty"`

	// LastPromotedSpec is the revision fingerprint of the target last promoted.
	// +optional
	LastPromotedSpec string `json:"lastPromotedSpec,omitempty"`

	// LastTransitionTime is when the phase or the weight last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`

	// SessionAffinityCookie is the cookie of the current rollout that pins clients to the canary.
	// +optional
	SessionAffinityCookie string `json:"sessionAffinityCookie,omitempty"`

	// PrimarySessionAffinityCookie pins clients to the primary.
	// +optional
	PrimarySessionAffinityCookie string `json:"primarySessionAffinityCookie,omitempty"`

	// PreviousSessionAffinityCookie is the cookie of the previous rollout, expired on clients.
	// +optional
	PreviousSessionAffinityCookie string `json:"previousSessionAffinityCookie,omitempty"`

	// LastStepTime is when the last analysis step ran (or the analysis started): the analysis
	// clock, kept in status so a restart neither repeats, skips nor compresses a step.
	// +optional
	LastStepTime *metav1.Time `json:"lastStepTime,omitempty"`

	// RolloutStartTime is when the current rollout's analysis started.
	// +optional
	RolloutStartTime *metav1.Time `json:"rolloutStartTime,omitempty"`

	// WaitingSince is when the current wait began (for readiness, a gate or metric data); the
	// progress deadline and gate timeouts count from it.
	// +optional
	WaitingSince *metav1.Time `json:"waitingSince,omitempty"`

	// PreRolloutSpec is the revision whose pre-rollout webhooks have passed, so they run once
	// per revision.
	// +optional
	PreRolloutSpec string `json:"preRolloutSpec,omitempty"`

	// Paused is true while a person has paused the analysis (annotation siskin.dev/pause).
	// +optional
	Paused bool `json:"paused,omitempty"`

	// ManualRequests records the last handled value of each manual-control annotation, so that
	// each request is acted on once.
	// +optional
	ManualRequests map[string]string `json:"manualRequests,omitempty"`

	// LastChecks are the results of the last analysis step: each metric and webhook with its
	// value, bounds and verdict.
	// +listType=map
	// +listMapKey=name
	// +optional
	LastChecks []CheckResult `json:"lastChecks,omitempty"`

	// Comparison is the evidence of the canary-versus-control analysis of the current rollout.
	// +optional
	Comparison *ComparisonStatus `json:"comparison,omitempty"`

	// Advice is set while the rollout is paused to ask a person (analysis.advise).
	// +optional
	Advice *Advice `json:"advice,omitempty"`

	// Conditions: Ready, Reconciling, Stalled (kstatus) and Promoted.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// CheckVerdict is the outcome of one check.
//
// +kubebuilder:validation:Enum=Pass;Fail;NoData;Error
type CheckVerdict string

// Check verdicts.
const (
	VerdictPass   CheckVerdict = "Pass"
	VerdictFail   CheckVerdict = "Fail"
	VerdictNoData CheckVerdict = "NoData"
	VerdictError  CheckVerdict = "Error"
)

// CheckResult is one metric or webhook check of an analysis step.
type CheckResult struct {
	// Name of the metric or webhook.
	Name string `json:"name"`
	// Kind is metric or webhook.
	// +kubebuilder:validation:Enum=metric;webhook
	Kind string `json:"kind"`
	// Query that was run (metrics only), rendered.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Query string `json:"query,omitempty"`
	// Value measured (metrics only), as a decimal string.
	// +optional
	Value string `json:"value,omitempty"`
	// Min and Max are the bounds the value was checked against.
	// +optional
	Min string `json:"min,omitempty"`
	// +optional
	Max string `json:"max,omitempty"`
	// Verdict of the check.
	Verdict CheckVerdict `json:"verdict"`
	// Message explains the verdict.
	// +optional
	Message string `json:"message,omitempty"`
	// Time of the check.
	Time metav1.Time `json:"time"`
}

// ComparisonVerdict is what the evidence of one compared metric says so far.
//
// +kubebuilder:validation:Enum=Pending;Regression;NotWorse;NoData;Error;Acknowledged
type ComparisonVerdict string

// Comparison verdicts.
const (
	// ComparisonPending: not enough evidence either way yet.
	ComparisonPending ComparisonVerdict = "Pending"
	// ComparisonRegression: the canary is worse than the control by more than the margin.
	ComparisonRegression ComparisonVerdict = "Regression"
	// ComparisonNotWorse: the canary is not worse than the control by more than the margin.
	ComparisonNotWorse ComparisonVerdict = "NotWorse"
	// ComparisonNoData: fewer canary requests than the minimum so far.
	ComparisonNoData ComparisonVerdict = "NoData"
	// ComparisonError: the last look's queries failed.
	ComparisonError ComparisonVerdict = "Error"
	// ComparisonAcknowledged: a regression a person (or the advise timeout) let go on.
	ComparisonAcknowledged ComparisonVerdict = "Acknowledged"
)

// ComparisonStatus is the evidence gathered so far in the current rollout.
type ComparisonStatus struct {
	// Revision is the fingerprint the evidence is about; evidence of another revision is
	// discarded.
	Revision string `json:"revision"`
	// Control is the workload the canary is compared with.
	Control string `json:"control"`
	// LastLookTime is when the evidence was last read; the next look reads from there.
	// +optional
	LastLookTime *metav1.Time `json:"lastLookTime,omitempty"`
	// CanaryTrafficSince is the start of the first look in which the canary served requests;
	// analysis.comparison.warmup counts from it.
	// +optional
	CanaryTrafficSince *metav1.Time `json:"canaryTrafficSince,omitempty"`
	// Looks counts the looks with data.
	// +optional
	Looks int32 `json:"looks,omitempty"`
	// Metrics is the evidence per compared metric.
	// +listType=map
	// +listMapKey=name
	// +optional
	Metrics []ComparedMetricStatus `json:"metrics,omitempty"`
}

// ComparedMetricStatus is the evidence about one compared metric.
type ComparedMetricStatus struct {
	// Name of the compared metric.
	Name string `json:"name"`
	// Kind is rate or distribution.
	Kind string `json:"kind"`
	// Verdict so far.
	Verdict ComparisonVerdict `json:"verdict"`
	// CanaryRequests and ControlRequests are the requests each version served in the looks.
	// +optional
	CanaryRequests int64 `json:"canaryRequests,omitempty"`
	// +optional
	ControlRequests int64 `json:"controlRequests,omitempty"`
	// CanaryEvents and ControlEvents are the events compared (errors, or requests slower than
	// Threshold).
	// +optional
	CanaryEvents int64 `json:"canaryEvents,omitempty"`
	// +optional
	ControlEvents int64 `json:"controlEvents,omitempty"`
	// Threshold is the bucket bound of a distribution's most telling comparison (requests
	// slower than it are the events).
	// +optional
	Threshold string `json:"threshold,omitempty"`
	// Ratio is the estimated ratio of the canary's event rate to the control's.
	// +optional
	Ratio string `json:"ratio,omitempty"`
	// RatioLow and RatioHigh bound the ratio: a 95% confidence sequence, valid at every look.
	// +optional
	RatioLow string `json:"ratioLow,omitempty"`
	// +optional
	RatioHigh string `json:"ratioHigh,omitempty"`
	// Evidence is the e-value against "the canary is not worse by more than the margin": a
	// regression is declared when it reaches 1/alpha (per metric).
	// +optional
	Evidence string `json:"evidence,omitempty"`
	// PassEvidence is the e-value against "the canary is worse by more than the margin".
	// +optional
	PassEvidence string `json:"passEvidence,omitempty"`
	// Message says it in words.
	// +optional
	Message string `json:"message,omitempty"`
	// State is the test's running state (encoded), so a restart goes on where it was.
	// +kubebuilder:validation:MaxLength=16384
	// +optional
	State string `json:"state,omitempty"`
}

// Advice is a question to a person: a failure that would have rolled back.
type Advice struct {
	// Since is when the rollout paused to ask.
	Since metav1.Time `json:"since"`
	// Reason is the reason of the rollback that was not done.
	Reason string `json:"reason"`
	// Message is the evidence.
	Message string `json:"message"`
	// Deadline is when onTimeout applies.
	Deadline metav1.Time `json:"deadline"`
}
