package v1beta1

// Built-in metric names: they need no MetricTemplate.
const (
	MetricRequestSuccessRate = "request-success-rate"
	MetricRequestDuration    = "request-duration"
)

// WebhookType says when a webhook is called and what its answer means.
//
// The empty type is the rollout type, as in Flagger.
//
// +kubebuilder:validation:Enum="";confirm-rollout;pre-rollout;rollout;confirm-traffic-increase;confirm-promotion;post-rollout;rollback;event
type WebhookType string

// Webhook types, as in the Flagger model.
const (
	ConfirmRolloutHook         WebhookType = "confirm-rollout"
	PreRolloutHook             WebhookType = "pre-rollout"
	RolloutHook                WebhookType = "rollout"
	ConfirmTrafficIncreaseHook WebhookType = "confirm-traffic-increase"
	ConfirmPromotionHook       WebhookType = "confirm-promotion"
	PostRolloutHook            WebhookType = "post-rollout"
	RollbackHook               WebhookType = "rollback"
	EventHook                  WebhookType = "event"
)

// AlertSeverity filters which notifications an alert receives: info receives everything, warn
// receives warn and error, error receives error only.
//
// +kubebuilder:validation:Enum=info;warn;error
type AlertSeverity string

// Alert severities.
const (
	SeverityInfo  AlertSeverity = "info"
	SeverityWarn  AlertSeverity = "warn"
	SeverityError AlertSeverity = "error"
)

// CanaryAnalysis is how a new revision is tested and how traffic moves to it.
//
// The strategy follows from the fields: stepWeight or stepWeights make a weighted canary;
// iterations make blue/green, or A/B testing when match is set as well.
//
// +kubebuilder:validation:XValidation:rule="!has(self.stepWeight) || self.stepWeight == 0 || !has(self.stepWeights) || size(self.stepWeights) == 0",message="stepWeight and stepWeights are mutually exclusive: set one"
// +kubebuilder:validation:XValidation:rule="!has(self.iterations) || self.iterations == 0 || ((!has(self.stepWeight) || self.stepWeight == 0) && (!has(self.stepWeights) || size(self.stepWeights) == 0))",message="iterations (blue/green or A/B testing) cannot be combined with stepWeight or stepWeights (weighted canary)"
// +kubebuilder:validation:XValidation:rule="!has(self.maxWeight) || !has(self.stepWeight) || self.stepWeight <= self.maxWeight",message="maxWeight must not be below stepWeight, or the first step is never taken"
// +kubebuilder:validation:XValidation:rule="!has(self.maxWeight) || !has(self.stepWeights) || size(self.stepWeights) == 0 || self.stepWeights[0] <= self.maxWeight",message="maxWeight must not be below the first entry of stepWeights"
// +kubebuilder:validation:XValidation:rule="!has(self.mirrorWeight) || (has(self.mirror) && self.mirror)",message="mirrorWeight needs mirror: true"
// +kubebuilder:validation:XValidation:rule="!has(self.comparison) || !has(self.comparison.control) || self.comparison.control != 'baseline' || (has(self.maxWeight) && self.maxWeight <= 50 && ((has(self.stepWeight) && self.stepWeight > 0) || (has(self.stepWeights) && size(self.stepWeights) > 0))) || (!has(self.maxWeight) && has(self.stepWeights) && size(self.stepWeights) > 0 && self.stepWeights[size(self.stepWeights) - 1] <= 50)",message="comparison.control baseline needs a weighted canary whose maxWeight (or last stepWeights entry) is at most 50: primary, baseline and canary share the traffic"
// +kubebuilder:validation:XValidation:rule="!has(self.sessionAffinity) || (has(self.stepWeight) && self.stepWeight > 0) || (has(self.stepWeights) && size(self.stepWeights) > 0)",message="sessionAffinity works with a weighted canary only (stepWeight or stepWeights)"
type CanaryAnalysis struct {
	// Interval between analysis steps. An interval under 10s is raised to 10s, as Flagger
	// does; the Canary's SpecAdjusted condition says so.
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Interval string `json:"interval,omitempty"`

	// Threshold is the number of failed checks after which the canary is rolled back.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +optional
	Threshold int32 `json:"threshold,omitempty"`

	// ErrorLimit is the number of consecutive analysis steps whose checks could not be made
	// (a query error, a webhook that could not be reached) after which the canary is rolled
	// back. Such steps are not evidence either way: they neither fail a check nor advance the
	// rollout. Siskin extension (Argo Rollouts calls it consecutiveErrorLimit); defaults to 5.
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	ErrorLimit int32 `json:"errorLimit,omitempty"`

	// MaxWeight is the canary weight at which promotion starts; defaults to 100, or to the last
	// entry of stepWeights.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxWeight *int32 `json:"maxWeight,omitempty"`

	// StepWeight is added to the canary weight after each successful step.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	StepWeight int32 `json:"stepWeight,omitempty"`

	// StepWeights is an explicit, increasing schedule of canary weights.
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=100
	// +kubebuilder:validation:XValidation:rule="self.all(w, self.filter(x, x == w).size() == 1) && self.isSorted()",message="stepWeights must be strictly increasing"
	// +optional
	StepWeights []int32 `json:"stepWeights,omitempty"`

	// StepWeightPromotion moves traffic back to the primary in steps of this size during
	// promotion; 0 moves it at once.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	StepWeightPromotion int32 `json:"stepWeightPromotion,omitempty"`

	// Iterations is the number of analysis runs of a blue/green or A/B rollout.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	// +optional
	Iterations int32 `json:"iterations,omitempty"`

	// Match routes matching requests to the canary during A/B testing.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Match []HTTPMatchRequest `json:"match,omitempty"`

	// Mirror copies primary traffic to the canary during blue/green, or adds a mirror-only step
	// before a weighted canary shifts traffic.
	// +optional
	Mirror bool `json:"mirror,omitempty"`

	// MirrorWeight is the percent of requests mirrored; defaults to all.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MirrorWeight *int32 `json:"mirrorWeight,omitempty"`

	// PrimaryReadyThreshold is the percent of the primary's updated replicas that must be
	// available for it to count as ready.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	PrimaryReadyThreshold *int32 `json:"primaryReadyThreshold,omitempty"`

	// CanaryReadyThreshold is the percent of the canary's updated replicas that must be
	// available for it to count as ready.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	CanaryReadyThreshold *int32 `json:"canaryReadyThreshold,omitempty"`

	// SessionAffinity pins a client to the canary with a cookie once it has been routed there.
	// +optional
	SessionAffinity *SessionAffinity `json:"sessionAffinity,omitempty"`

	// Alerts are the notification targets of this canary.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Alerts []CanaryAlert `json:"alerts,omitempty"`

	// Metrics are checked at every analysis step.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Metrics []CanaryMetric `json:"metrics,omitempty"`

	// Webhooks are called at the moments their type names.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Webhooks []CanaryWebhook `json:"webhooks,omitempty"`

	// Comparison judges the canary against a control (the primary, or a baseline started
	// with the canary) with sequential tests that are valid at every look: a regression rolls
	// back as soon as the evidence is strong enough, and a release shown not to be worse may be
	// promoted early. It runs beside the metrics' thresholds. Siskin extension.
	// +optional
	Comparison *CanaryComparison `json:"comparison,omitempty"`

	// Advise pauses the rollout and asks a person instead of rolling back when a comparison
	// finds a regression (or, with on: all, when failed checks reach the threshold); timeout
	// decides if nobody answers. Siskin extension.
	// +optional
	Advise *CanaryAdvise `json:"advise,omitempty"`
}

// Comparison controls.
const (
	ControlPrimary  = "primary"
	ControlBaseline = "baseline"
)

// Comparison kinds.
const (
	// CompareRate compares events per request (errors per request) of canary and control.
	CompareRate = "rate"
	// CompareDistribution compares histograms (latency buckets) of canary and control.
	CompareDistribution = "distribution"
)

// CanaryComparison is the canary-versus-control analysis. See docs/analysis.md.
type CanaryComparison struct {
	// Control is what the canary is compared with: primary (default), or baseline, a
	// <target>-baseline Deployment running the primary's revision, started with the canary and
	// given the same weight, so that pod age and warm-up do not bias the comparison. A baseline
	// needs a weighted canary whose maxWeight is at most 50.
	// +kubebuilder:validation:Enum=primary;baseline
	// +kubebuilder:default=primary
	// +optional
	Control string `json:"control,omitempty"`

	// Alpha is the probability of rolling back a release that is no worse than the control by
	// more than the margin, for the whole rollout: all looks and all compared metrics share it.
	// Defaults to 0.01.
	// +kubebuilder:validation:Minimum=0.0001
	// +kubebuilder:validation:Maximum=0.2
	// +optional
	Alpha *float64 `json:"alpha,omitempty"`

	// Margin is the degradation tolerated, relative to the control: 0.1 allows the canary 10%
	// more errors (or slow requests) than the control. Defaults to 0.1.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4
	// +optional
	Margin *float64 `json:"margin,omitempty"`

	// LookInterval is how often the evidence is read between analysis steps; a regression is
	// rolled back at the first look that shows it. Defaults to the analysis interval divided by
	// 6, at least 5s.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	LookInterval string `json:"lookInterval,omitempty"`

	// MinRequests is the number of canary requests a comparison needs before it gives any
	// verdict; a rollout is not promoted before every compared metric has seen them. Defaults
	// to 100.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinRequests *int64 `json:"minRequests,omitempty"`

	// Warmup is how long after the canary first receives requests its counts are left out of
	// the comparison: new pods are often slower, or fail more, while caches fill and code
	// warms up, which a long-running primary does not. A baseline warms up with the canary and
	// needs none. Defaults to 0.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Warmup string `json:"warmup,omitempty"`

	// EarlyPass promotes at the next passing step, skipping the remaining weight steps, once
	// every compared metric shows the canary not worse than the control by more than the
	// margin (a non-inferiority test at the same alpha).
	// +optional
	EarlyPass bool `json:"earlyPass,omitempty"`

	// Metrics compared. request-success-rate (errors per request) and request-duration (the
	// latency histogram) are built in for the router providers that have built-in queries.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	Metrics []ComparedMetric `json:"metrics"`
}

// ComparedMetric is one metric compared between canary and control. Its queries are templates
// like a MetricTemplate's, with {{ workload }} naming the version's Deployment (the target for
// the canary, <target>-primary or <target>-baseline for the control) and {{ interval }} the
// window since the last look; they run on the controller's metrics server.
//
// +kubebuilder:validation:XValidation:rule="self.name in ['request-success-rate', 'request-duration'] || has(self.kind)",message="a compared metric needs a kind (rate or distribution) unless its name is a built-in metric"
// +kubebuilder:validation:XValidation:rule="!has(self.kind) || self.kind != 'rate' || self.name in ['request-success-rate', 'request-duration'] || (has(self.eventsQuery) && has(self.requestsQuery))",message="a rate comparison needs eventsQuery and requestsQuery"
// +kubebuilder:validation:XValidation:rule="!has(self.kind) || self.kind != 'distribution' || self.name in ['request-success-rate', 'request-duration'] || has(self.bucketsQuery)",message="a distribution comparison needs bucketsQuery"
type ComparedMetric struct {
	// Name of the metric; request-success-rate and request-duration are built in.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Kind is rate (events per request, for example errors) or distribution (a histogram, for
	// example latency). Built-in metrics have theirs.
	// +kubebuilder:validation:Enum=rate;distribution
	// +optional
	Kind string `json:"kind,omitempty"`

	// EventsQuery counts the bad events (errors) of one version in the window: a rate
	// comparison's numerator.
	// +kubebuilder:validation:MaxLength=8192
	// +optional
	EventsQuery string `json:"eventsQuery,omitempty"`

	// RequestsQuery counts the requests of one version in the window: a rate comparison's
	// denominator, and the traffic each version received.
	// +kubebuilder:validation:MaxLength=8192
	// +optional
	RequestsQuery string `json:"requestsQuery,omitempty"`

	// BucketsQuery returns the histogram bucket counts of one version in the window, one series
	// per bucket with its upper bound in the le label (as sum by (le) (increase(x_bucket[...]))).
	// +kubebuilder:validation:MaxLength=8192
	// +optional
	BucketsQuery string `json:"bucketsQuery,omitempty"`
}

// Advise subjects and outcomes.
const (
	AdviseOnComparison = "comparison"
	AdviseOnAll        = "all"
	AdviseRollback     = "rollback"
	AdviseContinue     = "continue"
)

// CanaryAdvise asks a person before rolling back.
type CanaryAdvise struct {
	// On says which failures ask a person: comparison (a compared metric shows a regression,
	// the default) or all (also failed checks that reach the threshold).
	// +kubebuilder:validation:Enum=comparison;all
	// +kubebuilder:default=comparison
	// +optional
	On string `json:"on,omitempty"`

	// Timeout is how long the rollout waits for an answer; defaults to 1h.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Timeout string `json:"timeout,omitempty"`

	// OnTimeout is what happens when nobody answered within the timeout: rollback (default) or
	// continue (the rollout goes on, and the failure that asked is not asked about again).
	// +kubebuilder:validation:Enum=rollback;continue
	// +kubebuilder:default=rollback
	// +optional
	OnTimeout string `json:"onTimeout,omitempty"`
}

// SessionAffinity configures the cookie that pins clients to the canary.
//
// +kubebuilder:validation:XValidation:rule="!has(self.primaryCookieName) || self.primaryCookieName != self.cookieName",message="sessionAffinity.cookieName and primaryCookieName must differ"
type SessionAffinity struct {
	// CookieName of the cookie that pins a client to the canary.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	CookieName string `json:"cookieName"`
	// PrimaryCookieName of the cookie that pins a client to the primary.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	PrimaryCookieName string `json:"primaryCookieName,omitempty"`
	// MaxAge of the cookie in seconds.
	// +kubebuilder:default=86400
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxAge int32 `json:"maxAge,omitempty"`
	// +optional
	Domain string `json:"domain,omitempty"`
	// +optional
	HTTPOnly bool `json:"httpOnly,omitempty"`
	// +optional
	Partitioned bool `json:"partitioned,omitempty"`
	// +optional
	Path string `json:"path,omitempty"`
	// +kubebuilder:validation:Enum=Strict;Lax;None
	// +optional
	SameSite string `json:"sameSite,omitempty"`
	// +optional
	Secure bool `json:"secure,omitempty"`
}

// CanaryAlert sends this canary's notifications to an AlertProvider.
//
// +kubebuilder:validation:XValidation:rule="!has(self.providerRef.kind) || self.providerRef.kind == 'AlertProvider'",message="providerRef.kind must be AlertProvider"
type CanaryAlert struct {
	// Name of the alert.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Severity filters the notifications; unset means info (everything).
	// +kubebuilder:default=info
	// +optional
	Severity AlertSeverity `json:"severity,omitempty"`
	// ProviderRef names the AlertProvider.
	ProviderRef CrossNamespaceObjectReference `json:"providerRef"`
}

// CrossNamespaceObjectReference names an object, in the Canary's namespace unless given.
type CrossNamespaceObjectReference struct {
	// APIVersion of the referent, as Flagger allows writing it: either group names Siskin's
	// object of that kind and name (a manifest whose only change is the Canary's apiVersion
	// still says flagger.app/v1beta1 here).
	// +kubebuilder:validation:Enum=siskin.dev/v1beta1;flagger.app/v1beta1
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the referent: MetricTemplate in a templateRef, AlertProvider in a providerRef.
	// +optional
	Kind string `json:"kind,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// CanaryMetric is a check run at every analysis step.
//
// +kubebuilder:validation:XValidation:rule="self.name in ['request-success-rate', 'request-duration'] || has(self.templateRef) || has(self.query)",message="a metric needs a templateRef unless its name is a built-in metric (request-success-rate, request-duration)"
// +kubebuilder:validation:XValidation:rule="!has(self.thresholdRange) || !has(self.thresholdRange.min) || !has(self.thresholdRange.max) || self.thresholdRange.min <= self.thresholdRange.max",message="thresholdRange.min must not exceed thresholdRange.max"
// +kubebuilder:validation:XValidation:rule="has(self.thresholdRange) || has(self.threshold)",message="a metric needs a thresholdRange (min, max or both)"
// +kubebuilder:validation:XValidation:rule="!has(self.templateRef) || !has(self.templateRef.kind) || self.templateRef.kind == 'MetricTemplate'",message="templateRef.kind must be MetricTemplate"
// +kubebuilder:validation:XValidation:rule="!has(self.minSample) || has(self.minSample.query) || (self.name in ['request-success-rate', 'request-duration'] && !has(self.templateRef) && !has(self.query))",message="minSample.query is required unless the metric is a built-in metric"
type CanaryMetric struct {
	// Name of the metric; request-success-rate and request-duration are built in.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Interval is the query window, for example 1m.
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Interval string `json:"interval,omitempty"`

	// Threshold is the deprecated single bound, with Flagger's meaning: a minimum for the
	// built-in request-success-rate, a maximum for the built-in request-duration and for
	// every metric with a templateRef or a query. It is ignored when thresholdRange is set,
	// as in Flagger.
	// Deprecated: use thresholdRange.
	// +optional
	Threshold *float64 `json:"threshold,omitempty"`

	// ThresholdRange bounds the value: below min or above max fails the check.
	// +optional
	ThresholdRange *CanaryThresholdRange `json:"thresholdRange,omitempty"`

	// Query is inline PromQL. Deprecated: use templateRef.
	// +kubebuilder:validation:MaxLength=8192
	// +optional
	Query string `json:"query,omitempty"`

	// TemplateRef names the MetricTemplate that holds the query.
	// +optional
	TemplateRef *CrossNamespaceObjectReference `json:"templateRef,omitempty"`

	// TemplateVariables are available in the query as {{ variables.NAME }}.
	// +optional
	TemplateVariables map[string]string `json:"templateVariables,omitempty"`

	// MinSample is the least data the check needs before its value is judged; below it the
	// check waits (verdict NoData) and only the progress deadline fails the rollout. Without
	// it, no data is a failed check.
	// +optional
	MinSample *CanaryMetricMinSample `json:"minSample,omitempty"`
}

// CanaryMetricMinSample is the sample size a metric needs, for example requests in the window.
type CanaryMetricMinSample struct {
	// Query returns the sample size: a template like the metric's query, run on the same
	// provider. Built-in metrics default to the canary's request count in the interval.
	// +kubebuilder:validation:MaxLength=8192
	// +optional
	Query string `json:"query,omitempty"`
	// Min is the least sample size at which the value is judged.
	// +kubebuilder:validation:Minimum=0
	Min float64 `json:"min"`
}

// CanaryThresholdRange bounds a metric value.
//
// +kubebuilder:validation:MinProperties=1
type CanaryThresholdRange struct {
	// +optional
	Min *float64 `json:"min,omitempty"`
	// +optional
	Max *float64 `json:"max,omitempty"`
}

// CanaryWebhook is an HTTP call at a moment of the rollout.
type CanaryWebhook struct {
	// Type says when the webhook is called; defaults to rollout (every analysis step).
	// +kubebuilder:default=rollout
	// +optional
	Type WebhookType `json:"type,omitempty"`

	// Name of the webhook.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// URL the webhook POSTs to.
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// Timeout of one call, at most 5m: calls run on the controller's shared workers, and a
	// longer wait is what gateTimeout (a gate polled at every interval) is for.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || duration(self) <= duration('5m')",message="timeout must be at most 5m; use gateTimeout to wait longer for a gate"
	// +optional
	Timeout string `json:"timeout,omitempty"`

	// Retries of a failed call within one step.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	// +optional
	Retries int32 `json:"retries,omitempty"`

	// DisableTLS skips verification of the server's certificate.
	// +optional
	DisableTLS bool `json:"disableTLS,omitempty"`

	// GateTimeout fails the canary when this gate (confirm-rollout, confirm-traffic-increase,
	// confirm-promotion) stays closed for longer; unset waits without limit.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	GateTimeout string `json:"gateTimeout,omitempty"`

	// SecretRef names a Secret in the Canary's namespace whose keys are sent as HTTP headers,
	// for example Authorization.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// MuteAlert keeps a gate's waiting from being announced.
	// +optional
	MuteAlert bool `json:"muteAlert,omitempty"`

	// Metadata is sent in the payload.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}
