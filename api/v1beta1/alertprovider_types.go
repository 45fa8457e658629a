package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AlertProvider is a chat or webhook destination for a Canary's notifications.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=all
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AlertProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AlertProviderSpec   `json:"spec"`
	Status AlertProviderStatus `json:"status,omitempty"`
}

// AlertProviderList is a list of AlertProviders.
//
// +kubebuilder:object:root=true
type AlertProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AlertProvider `json:"items"`
}

// AlertProviderSpec says where and how notifications are sent.
//
// +kubebuilder:validation:XValidation:rule="has(self.address) || has(self.secretRef)",message="an AlertProvider needs an address or a secretRef to a Secret with the key address"
type AlertProviderSpec struct {
	// Type of the destination: slack, msteams (Microsoft Teams), discord, rocket (Rocket.Chat
	// incoming webhook), gchat (Google Chat incoming webhook) or generic (JSON POST).
	// +kubebuilder:validation:Enum=slack;msteams;discord;rocket;gchat;generic
	Type string `json:"type"`

	// Channel to post to (Slack, Rocket.Chat).
	// +kubebuilder:default=general
	// +optional
	Channel string `json:"channel,omitempty"`

	// Username shown as the sender (Slack, Discord, Rocket.Chat).
	// +kubebuilder:default=siskin
	// +optional
	Username string `json:"username,omitempty"`

	// Address is the webhook URL. Prefer secretRef: an address is not a secret here.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Address string `json:"address,omitempty"`

	// Proxy is an HTTP(S) proxy URL for the requests.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Proxy string `json:"proxy,omitempty"`

	// SecretRef names a Secret in the provider's namespace with the key address and optionally
	// token (sent as a bearer token; for Slack, a bot token).
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

// AlertProviderStatus reports whether notifications are delivered.
type AlertProviderStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastNotificationTime is when the notification that the Ready condition reports on was
	// delivered or given up (while Ready is Unknown after a spec change: the last one before).
	// With several replicas sending (sharding), each reports only an outcome newer than this,
	// so the condition shows the fleet's latest.
	// +optional
	LastNotificationTime *metav1.MicroTime `json:"lastNotificationTime,omitempty"`
}
