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
