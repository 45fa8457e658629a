package v1beta1

// ConditionSpecAdjusted is True while the controller reads a Flagger spec otherwise than it is
// written, the way Flagger does: an interval under 10s raised to 10s, provider kubernetes run
// as blue/green, an absent analysis skipped, fields of routers Siskin lacks ignored. Its
// message lists each adjustment; it is absent when there is none.
const ConditionSpecAdjusted = "SpecAdjusted"

// ReasonAdjustedAsFlagger is the reason of the SpecAdjusted condition and of its event.
const ReasonAdjustedAsFlagger = "AdjustedAsFlagger"

// Reasons of the rollout's conditions and events. They are CamelCase and name what happened
// or what the Canary waits for; the Ready and Reconciling conditions carry the reason of the
// current wait, which is how the planner knows, after a restart, which wait is running.
const (
	// ReasonInitialized: the first revision became the primary without analysis.
	ReasonInitialized = "Initialized"
	// ReasonQueued: a new revision waits for a rollout slot (--max-concurrent-canaries).
	ReasonQueued = "Queued"
	// ReasonRegressionDetected: a comparison with the control showed a regression.
	ReasonRegressionDetected = "RegressionDetected"
	// ReasonEarlyPass: every compared metric showed the canary not worse than the control, so
	// the remaining weight steps were skipped.
	ReasonEarlyPass = "EarlyPass"
	// ReasonAdviceRequested: the rollout paused to ask a person instead of rolling back.
	ReasonAdviceRequested = "AdviceRequested"
	// ReasonAdviceTimeout: nobody answered the advice in time; analysis.advise.onTimeout applied.
	ReasonAdviceTimeout = "AdviceTimeout"
	// ReasonWaitingForEvidence: the rollout would promote, but a compared metric has not seen
	// the minimum canary requests.
	ReasonWaitingForEvidence = "WaitingForEvidence"
	// ReasonNewRevision: the target's fingerprint changed to a revision not seen before.
	ReasonNewRevision = "NewRevision"
	// ReasonWaitingForApproval: the confirm-rollout gate is closed (phase Waiting).
	ReasonWaitingForApproval = "WaitingForApproval"
	// ReasonRolloutApproved: the confirm-rollout gate opened for a waiting revision.
	ReasonRolloutApproved = "RolloutApproved"
	// ReasonWaitingForTrafficIncrease: the confirm-traffic-increase gate holds the weight.
	ReasonWaitingForTrafficIncrease = "WaitingForTrafficIncrease"
	// ReasonWaitingForPromotion: the analysis passed and the confirm-promotion gate is closed.
	ReasonWaitingForPromotion = "WaitingForPromotion"
	// ReasonWaitingForData: a metric answered NoData, so the step neither advanced nor failed.
	ReasonWaitingForData = "WaitingForData"
	// ReasonCanaryNotReady: the target (canary) is not ready.
	ReasonCanaryNotReady = "CanaryNotReady"
	// ReasonPrimaryNotReady: the primary is not ready, or does not run the expected revision yet.
	ReasonPrimaryNotReady = "PrimaryNotReady"
	// ReasonRouteNotConfirmed: the router has not confirmed the desired weights yet.
	ReasonRouteNotConfirmed = "RouteNotConfirmed"
	// ReasonProgressDeadlineExceeded: a wait lasted longer than spec.progressDeadlineSeconds.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	// ReasonGateTimeout: a gate stayed closed for longer than its webhooks' gateTimeout.
	ReasonGateTimeout = "GateTimeout"
	// ReasonStepWeightIncreased: a weighted canary received more traffic.
	ReasonStepWeightIncreased = "StepWeightIncreased"
	// ReasonMirrorStarted: primary traffic is now mirrored to the canary.
	ReasonMirrorStarted = "MirrorStarted"
	// ReasonIterationCompleted: a blue/green or A/B iteration passed.
	ReasonIterationCompleted = "IterationCompleted"
	// ReasonTrafficSwitched: a blue/green canary receives all traffic for its last step.
	ReasonTrafficSwitched = "TrafficSwitched"
	// ReasonAnalysisCheckFailed: a metric or webhook check failed.
	ReasonAnalysisCheckFailed = "AnalysisCheckFailed"
	// ReasonAnalysisError: the checks of a step could not be made (a query error, an
	// unreachable webhook); the step neither failed nor advanced.
	ReasonAnalysisError = "AnalysisError"
	// ReasonAnalysisErrorLimit: analysis.errorLimit consecutive steps could not be checked.
	ReasonAnalysisErrorLimit = "AnalysisErrorLimit"
	// ReasonPrimaryDrift: the primary runs a revision that is neither the promoted one nor the
	// one being promoted (it was edited by hand, or a write was lost).
	ReasonPrimaryDrift = "PrimaryDrift"
	// ReasonRouterUnavailable: the router's API (its CRDs) is not installed in the cluster.
	ReasonRouterUnavailable = "RouterUnavailable"
	// ReasonHandBackAbandoned: deletion stopped waiting for the target to take traffic back.
	ReasonHandBackAbandoned = "HandBackAbandoned"
	// ReasonRollbackRequested: a rollback webhook asked for a rollback.
	ReasonRollbackRequested = "RollbackRequested"
	// ReasonRollingBack: traffic is moving back to the primary; the canary is scaled down once
	// the router confirms it (Reconciling stays True in phase Failed until then).
	ReasonRollingBack = "RollingBack"
	// ReasonRolledBack: the revision was rolled back.
	ReasonRolledBack = "RolledBack"
	// ReasonPromotionStarted: the target's template is being copied to the primary.
	ReasonPromotionStarted = "PromotionStarted"
	// ReasonPromoting: waiting for the primary rollout, or shifting traffic back to it.
	ReasonPromoting = "Promoting"
	// ReasonTrafficShiftedToPrimary: a stepWeightPromotion step moved traffic to the primary.
	ReasonTrafficShiftedToPrimary = "TrafficShiftedToPrimary"
	// ReasonFinalising: waiting for the router to confirm all traffic on the primary.
	ReasonFinalising = "Finalising"
	// ReasonPromotionCompleted: the revision is promoted and the canary scaled down.
	ReasonPromotionCompleted = "PromotionCompleted"
	// ReasonPromotionFailed: the primary did not become ready with the promoted revision.
	ReasonPromotionFailed = "PromotionFailed"
	// ReasonRolloutCancelled: the target went back to the promoted revision during a rollout.
	ReasonRolloutCancelled = "RolloutCancelled"
	// ReasonPaused: the analysis is paused by the siskin.dev/pause annotation.
	ReasonPaused = "Paused"
	// ReasonManualPromote: a siskin.dev/promote request was carried out.
	ReasonManualPromote = "ManualPromote"
	// ReasonManualAbort: a siskin.dev/abort request was carried out.
	ReasonManualAbort = "ManualAbort"
	// ReasonManualRetry: a siskin.dev/retry request was carried out.
	ReasonManualRetry = "ManualRetry"
	// ReasonManualPause: a siskin.dev/pause request was carried out.
	ReasonManualPause = "ManualPause"
	// ReasonManualResume: a siskin.dev/resume request was carried out.
	ReasonManualResume = "ManualResume"
	// ReasonTakenOverFromFlagger: the Canary took over what Flagger made for it (opt-in).
	ReasonTakenOverFromFlagger = "TakenOverFromFlagger"
	// ReasonManualRequestIgnored: a manual request did not apply in the current phase.
	ReasonManualRequestIgnored = "ManualRequestIgnored"
)

// ReasonBaselineNotReady: <target>-baseline (analysis.comparison.control baseline) is not
// ready, or does not run the primary's revision yet.
const ReasonBaselineNotReady = "BaselineNotReady"
