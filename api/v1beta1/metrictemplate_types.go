package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetricTemplate is a reusable query, rendered with the canary's names and checked against a
// canary metric's thresholdRange.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=all
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider.type`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MetricTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MetricTemplateSpec   `json:"spec"`
	Status MetricTemplateStatus `json:"status,omitempty"`
}

// MetricTemplateList is a list of MetricTemplates.
//
// +kubebuilder:object:root=true
type MetricTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MetricTemplate `json:"items"`
}

// MetricTemplateSpec is the provider and the query.
type MetricTemplateSpec struct {
	// Provider answers the query.
	Provider MetricTemplateProvider `json:"provider"`

	// Query is a Go text/template over {{ name }}, {{ namespace }}, {{ target }},
	// {{ service }}, {{ interval }} and {{ variables.NAME }}.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16384
	Query string `json:"query"`
}

// MetricTemplateProvider is where a MetricTemplate's query runs.
type MetricTemplateProvider struct {
	// Type of the provider: prometheus (a PromQL query), datadog (a Datadog metrics query),
	// cloudwatch (a JSON array of CloudWatch MetricDataQuery), stackdriver (a Google Cloud
	// Monitoring MQL query), splunk (a SignalFlow program), keptn (keptnmetric/NS/NAME or
	// analysis/NS/NAME/TIMEFRAME/ARGS), newrelic (NRQL), influxdb (Flux), graphite (render API
	// parameters, target=...&from=...) or dynatrace (a Metrics API v2 metric selector).
	// +kubebuilder:default=prometheus
	// +kubebuilder:validation:Enum=prometheus;datadog;cloudwatch;stackdriver;splunk;keptn;newrelic;influxdb;graphite;dynatrace
	// +optional
	Type string `json:"type,omitempty"`

	// Address of the provider. For prometheus it defaults to the Canary's metricsServer, then
	// the controller's, and is required with secretRef: credentials are only sent to the
	// address written beside them. For datadog it defaults to https://api.datadoghq.com; for
	// cloudwatch to the region's endpoint, and another endpoint needs a secretRef. For
	// stackdriver it defaults to https://monitoring.googleapis.com; for splunk it is required
	// (https://api.REALM.signalfx.com); keptn takes none. For newrelic it is the NerdGraph URL,
	// by default https://api.newrelic.com/graphql; influxdb, graphite and dynatrace (the
	// environment URL) require it.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Address string `json:"address,omitempty"`

	// Headers added to each query.
	// +optional
	Headers map[string][]string `json:"headers,omitempty"`

	// SecretRef names a Secret in the template's namespace with the provider's credentials:
	// for prometheus the key token, or username and password; for datadog datadog_api_key and
	// datadog_application_key; for cloudwatch aws_access_key_id and aws_secret_access_key
	// (without a secretRef, the controller's default AWS credential chain); for stackdriver
	// project and optionally serviceAccountKey; for splunk sf_token_key; keptn takes none; for
	// newrelic newrelic_account_id and newrelic_api_key (or newrelic_query_key), a User API
	// key; for influxdb token and org; for graphite username and password; for dynatrace
	// dynatrace_token. influxdb and graphite may go without one.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// Region of a cloud provider: required by cloudwatch, unused by the others.
	// +optional
	Region string `json:"region,omitempty"`

	// InsecureSkipVerify skips verification of the provider's certificate.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// MetricTemplateStatus reports on the template.
type MetricTemplateStatus struct {
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
