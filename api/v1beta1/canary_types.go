package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Canary kind and finalizer names.
const (
	CanaryKind = "Canary"

	// CanaryFinalizer guards the restore that spec.revertOnDeletion asks for.
	CanaryFinalizer = "siskin.dev/finalizer"
)

// Manual-control annotations on a Canary. Each is acted on once per distinct value (use a
// timestamp), and the handled value is recorded in status.manualRequests: no spec edit is
// needed, so GitOps tools see no drift.
const (
	// AnnotationPromote promotes the current canary now, skipping the remaining analysis. A value
	// that starts with "step:" (for example step:<timestamp>) moves the rollout one step instead:
	// to its next weight or iteration without that step's checks, and promotes at the last one.
	AnnotationPromote = "siskin.dev/promote"
	// AnnotationAbort rolls the current canary back now.
	AnnotationAbort = "siskin.dev/abort"
	// AnnotationRetry starts a new analysis of a failed revision without a template change.
	AnnotationRetry = "siskin.dev/retry"
	// AnnotationPause freezes the analysis where it is (weights kept, no deadlines).
	AnnotationPause = "siskin.dev/pause"
	// AnnotationResume resumes a paused analysis.
	AnnotationResume = "siskin.dev/resume"
)

// Router providers Siskin implements, accepted in spec.provider and the controller's default
// provider flag.
const (
	ProviderIstio            = "istio"
	ProviderGatewayAPI       = "gatewayapi"
	ProviderGatewayAPIV1     = "gatewayapi:v1"
	ProviderGatewayAPIV1beta = "gatewayapi:v1beta1"
	// Aliases of gatewayapi naming the implementation that serves the HTTPRoute, and so the
	// series its built-in metrics read.
	ProviderGatewayAPIEnvoy   = "gatewayapi:envoy"
	ProviderGatewayAPILinkerd = "gatewayapi:linkerd"
	ProviderGatewayAPICilium  = "gatewayapi:cilium"
	ProviderGatewayAPIKong    = "gatewayapi:kong"
	ProviderGatewayAPINginx   = "gatewayapi:nginx"
	ProviderGatewayAPIContour = "gatewayapi:contour"
	ProviderGatewayAPITraefik = "gatewayapi:traefik"
	ProviderKubernetes        = "kubernetes"
	// ProviderLinkerd routes meshed clients by an HTTPRoute whose parent is the apex Service
	// (Gateway API's GAMMA), which Linkerd's proxies apply.
	ProviderLinkerd = "linkerd"
	// ProviderNginx routes through ingress-nginx's canary annotations on a copy of the
	// Ingress named by spec.ingressRef.
	ProviderNginx = "nginx"
	// ProviderReplicas routes nothing: the canary's share of the work is its share of the
	// pods. A StatefulSet target always has it (its pods are updated in place); a Deployment
	// with it is a worker whose canary runs a fraction of the primary's replicas.
	ProviderReplicas = "replicas"
	// ProviderTraefik routes through a TraefikService (traefik.io/v1alpha1) named after the
	// apex Service, which the user's IngressRoute routes to.
	ProviderTraefik = "traefik"
	// ProviderContour routes through an HTTPProxy (projectcontour.io/v1) named after the apex
	// Service, which the user's root HTTPProxy includes.
	ProviderContour = "contour"
	// ProviderSkipper routes through a copy of the Ingress named by spec.ingressRef whose
	// paths go to the -primary and -canary Services, weighed by Skipper's
	// zalando.org/backend-weights annotation.
	ProviderSkipper = "skipper"
)

// FlaggerOnlyProviders are the provider names of Flagger's routers that Siskin does not have.
// The schema accepts them, so that a Flagger manifest is not refused as a whole, and the
// controller refuses the Canary (Stalled, InvalidSpec) with a message naming the providers it
// supports.
var FlaggerOnlyProviders = []string{
	"apisix", "appmesh", "appmesh:v1beta2", "gloo", "knative", "kuma",
	"osm", "smi:v1alpha1", "smi:v1alpha2", "smi:v1alpha3",
}

// Canary is a progressive rollout of a Deployment: a new revision of the target receives
// traffic in steps while its metrics are analysed, then it is promoted or rolled back.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cnry;cnrys,categories=all
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.status.canaryWeight`
// +kubebuilder:printcolumn:name="FailedChecks",type=integer,JSONPath=`.status.failedChecks`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="Interval",type=string,JSONPath=`.spec.analysis.interval`,priority=1
// +kubebuilder:printcolumn:name="Mirror",type=boolean,JSONPath=`.spec.analysis.mirror`,priority=1
// +kubebuilder:printcolumn:name="StepWeight",type=integer,JSONPath=`.spec.analysis.stepWeight`,priority=1
// +kubebuilder:printcolumn:name="StepWeights",type=string,JSONPath=`.spec.analysis.stepWeights`,priority=1
// +kubebuilder:printcolumn:name="MaxWeight",type=integer,JSONPath=`.spec.analysis.maxWeight`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="LastTransitionTime",type=string,JSONPath=`.status.lastTransitionTime`
type Canary struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CanarySpec   `json:"spec"`
	Status CanaryStatus `json:"status,omitempty"`
}

// CanaryList is a list of Canaries.
//
// +kubebuilder:object:root=true
type CanaryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Canary `json:"items"`
}

// CanarySpec is the desired rollout of a target workload.
//
// +kubebuilder:validation:XValidation:rule="!has(self.provider) || !self.provider.startsWith('gatewayapi') || (has(self.service) && has(self.service.gatewayRefs) && size(self.service.gatewayRefs) > 0)",message="service.gatewayRefs must name at least one Gateway when provider is gatewayapi"
// +kubebuilder:validation:XValidation:rule="!has(self.provider) || !(self.provider in ['nginx', 'skipper']) || has(self.ingressRef)",message="spec.ingressRef must name the Ingress to route when provider is nginx or skipper"
// +kubebuilder:validation:XValidation:rule="has(self.service) || (has(self.provider) && self.provider == 'replicas') || self.targetRef.kind == 'StatefulSet'",message="spec.service is required: only a Canary of provider replicas (a worker) or of a StatefulSet target routes nothing and may leave it out"
// +kubebuilder:validation:XValidation:rule="!has(self.analysis) || !has(self.analysis.match) || size(self.analysis.match) == 0 || (has(self.analysis.iterations) && self.analysis.iterations > 0) || (has(self.provider) && self.provider == 'kubernetes')",message="analysis.match (A/B testing) needs analysis.iterations: the number of analysis runs before promotion"
// +kubebuilder:validation:XValidation:rule="!has(self.canaryAnalysis)",message="spec.canaryAnalysis is the deprecated name of spec.analysis (Flagger's API server prunes it): rename canaryAnalysis to analysis, or delete it when analysis is also set"
type CanarySpec struct {
	// Provider is the router that shifts traffic: istio, gatewayapi (or gatewayapi:v1,
	// gatewayapi:v1beta1, and gatewayapi:<implementation> with envoy, linkerd, cilium, kong,
	// nginx, contour or traefik, which choose the implementation's built-in metrics), linkerd
	// (an HTTPRoute whose parent is the apex Service), nginx, contour (an HTTPProxy that the
	// user's root HTTPProxy includes), traefik (a TraefikService that the user's IngressRoute
	// routes to), skipper (a copy of spec.ingressRef weighed by Skipper's backend-weights),
	// kubernetes (blue/green without a router) or replicas (no router: the canary's
	// share is its share of the pods, for workers without inbound traffic and for StatefulSets,
	// whose provider is always replicas). Defaults to the controller's --provider flag, or to
	// replicas for a StatefulSet. The names of Flagger's other routers (appmesh, gloo, apisix,
	// kuma, knative, osm, smi:*) are accepted here and refused by the controller with a
	// message naming the supported providers.
	//
	// With provider kubernetes, which cannot split traffic, the analysis is blue/green, as in
	// Flagger: stepWeight, stepWeights, match and mirror are ignored and iterations defaults
	// to 10. The Canary's SpecAdjusted condition says so.
	// +kubebuilder:validation:Enum=istio;gatewayapi;gatewayapi:v1;gatewayapi:v1beta1;gatewayapi:envoy;gatewayapi:linkerd;gatewayapi:cilium;gatewayapi:kong;gatewayapi:nginx;gatewayapi:contour;gatewayapi:traefik;kubernetes;replicas;apisix;appmesh;appmesh:v1beta2;contour;gloo;knative;kuma;linkerd;nginx;osm;skipper;smi:v1alpha1;smi:v1alpha2;smi:v1alpha3;traefik
	// +optional
	Provider string `json:"provider,omitempty"`

	// MetricsServer is the Prometheus address used for built-in metrics and templates that name
	// no address. Defaults to the controller's --metrics-server flag.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	MetricsServer string `json:"metricsServer,omitempty"`

	// TargetRef is the workload whose new revisions are rolled out.
	TargetRef TargetReference `json:"targetRef"`

	// AutoscalerRef is the target's HorizontalPodAutoscaler or KEDA ScaledObject; Siskin keeps
	// a copy of it for the primary.
	// +optional
	AutoscalerRef *AutoscalerReference `json:"autoscalerRef,omitempty"`

	// IngressRef is the Ingress of providers nginx and skipper (required with them): the user's
	// Ingress, which routes to the apex Service and is never changed. Siskin copies it into
	// <name>-canary: with nginx, whose backends are the -canary Service, with ingress-nginx's
	// canary annotations (canary-weight, canary-by-header, canary-by-cookie); with skipper,
	// whose paths go to the -primary and -canary Services with Skipper's backend-weights.
	// Other providers ignore it.
	// +kubebuilder:validation:XValidation:rule="!has(self.kind) || self.kind == 'Ingress'",message="ingressRef.kind must be Ingress"
	// +optional
	IngressRef *TypedLocalObjectReference `json:"ingressRef,omitempty"`

	// RouteRef is the ApisixRoute of Flagger's apisix provider. Siskin has no apisix router:
	// the field is kept so that nothing is pruned, and a Canary whose provider is apisix is
	// refused.
	// +kubebuilder:validation:XValidation:rule="!has(self.kind) || self.kind == 'ApisixRoute'",message="routeRef.kind must be ApisixRoute"
	// +optional
	RouteRef *TypedLocalObjectReference `json:"routeRef,omitempty"`

	// UpstreamRef is the Upstream of Flagger's gloo provider. Siskin has no gloo router: the
	// field is kept so that nothing is pruned, and a Canary whose provider is gloo is refused.
	// +kubebuilder:validation:XValidation:rule="!has(self.kind) || self.kind == 'Upstream'",message="upstreamRef.kind must be Upstream"
	// +optional
	UpstreamRef *TypedObjectReference `json:"upstreamRef,omitempty"`

	// Service describes the Services and routes Siskin generates. A Canary of provider
	// replicas or of a StatefulSet target generates none and may leave it out.
	// +optional
	Service CanaryService `json:"service,omitzero"`

	// Analysis is how a new revision is tested before it is promoted. Without it a new
	// revision is promoted without analysis, as with skipAnalysis: true (Flagger's meaning).
	// +optional
	Analysis *CanaryAnalysis `json:"analysis,omitempty"`

	// CanaryAnalysis is Flagger's deprecated name of analysis. It is refused with a message
	// that asks for the rename: Flagger's own API server prunes it, so no manifest that works
	// with Flagger depends on it.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	CanaryAnalysis *runtime.RawExtension `json:"canaryAnalysis,omitempty"`

	// ProgressDeadlineSeconds is how long the canary or primary may take to become ready
	// before the rollout fails.
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=1
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// SkipAnalysis promotes a new revision without analysis.
	// +optional
	SkipAnalysis bool `json:"skipAnalysis,omitempty"`

	// RevertOnDeletion is accepted for Flagger manifests and changes nothing: Siskin always
	// hands traffic back on deletion, whatever this says. It scales the target up, waits for
	// it to be ready, and points the apex Service and the routes at it before the generated
	// objects are collected (Flagger does this only with revertOnDeletion: true, and without
	// it lets the primary be collected while the target is scaled to zero).
	// +optional
	RevertOnDeletion bool `json:"revertOnDeletion,omitempty"`

	// Suspend stops all work on this Canary until it is false again.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// TargetReference names the workload a Canary rolls out.
type TargetReference struct {
	// APIVersion of the target, for example apps/v1.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the target: Deployment, DaemonSet or StatefulSet. A StatefulSet is rolled out
	// in place by its partition, pod by pod, and never copied into a primary.
	// +kubebuilder:validation:Enum=Deployment;DaemonSet;StatefulSet
	Kind string `json:"kind"`

	// Name of the target in the Canary's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=244
	Name string `json:"name"`
}

// TypedLocalObjectReference names an object in the Canary's namespace by kind and name.
type TypedLocalObjectReference struct {
	// APIVersion of the referent.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the referent.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the referent.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// TypedObjectReference names an object by kind, name and namespace.
type TypedObjectReference struct {
	// APIVersion of the referent.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the referent.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the referent.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Namespace of the referent; the Canary's when empty.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// AutoscalerReference names the target's autoscaler.
//
// +kubebuilder:validation:XValidation:rule="!has(self.primaryScalerReplicas) || !has(self.primaryScalerReplicas.minReplicas) || !has(self.primaryScalerReplicas.maxReplicas) || self.primaryScalerReplicas.minReplicas <= self.primaryScalerReplicas.maxReplicas",message="primaryScalerReplicas.minReplicas must not exceed maxReplicas"
type AutoscalerReference struct {
	// APIVersion of the autoscaler: autoscaling/v2 for a HorizontalPodAutoscaler,
	// keda.sh/v1alpha1 for a ScaledObject.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the autoscaler: HorizontalPodAutoscaler, or ScaledObject (KEDA). Siskin keeps
	// <name>-primary, aimed at the primary, equal to it; a ScaledObject of the target is
	// paused at zero replicas (autoscaling.keda.sh/paused-replicas) while the target is at
	// rest, and put back as it was when the Canary is deleted.
	// +kubebuilder:validation:Enum=HorizontalPodAutoscaler;ScaledObject
	Kind string `json:"kind"`

	// Name of the autoscaler in the Canary's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=244
	Name string `json:"name"`

	// PrimaryScalerReplicas overrides the replica bounds of the primary's autoscaler
	// (minReplicas and maxReplicas of an HPA, minReplicaCount and maxReplicaCount of a
	// ScaledObject).
	// +optional
	PrimaryScalerReplicas *ScalerReplicas `json:"primaryScalerReplicas,omitempty"`

	// PrimaryScalerQueries are, for a ScaledObject, the queries of the primary's triggers by
	// trigger name (spec.triggers[].name): each replaces metadata.query of the primary's trigger
	// of that name, and triggers not named keep the target's query. Without it, as in Flagger,
	// every trigger's query is guessed by replacing the target's name, and <target>-canary, with
	// <target>-primary. A HorizontalPodAutoscaler has no queries: it ignores the field, as
	// Flagger does.
	// +optional
	PrimaryScalerQueries map[string]string `json:"primaryScalerQueries,omitempty"`
}

// ScalerReplicas bounds the replicas of an autoscaler.
type ScalerReplicas struct {
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`
}

// Gateway API route kinds of spec.service.routeKind.
const (
	RouteKindHTTPRoute = "HTTPRoute"
	RouteKindGRPCRoute = "GRPCRoute"
	RouteKindTCPRoute  = "TCPRoute"
)

// CanaryService describes the generated Services (<name>, <name>-primary, <name>-canary) and the
// route in front of them.
//
// +kubebuilder:validation:XValidation:rule="!has(self.additionalPorts) || self.additionalPorts.all(p, p.port != self.port)",message="service.additionalPorts must not repeat service.port: that port is already routed"
// +kubebuilder:validation:XValidation:rule="!has(self.additionalPorts) || self.additionalPorts.all(p, p.name != (has(self.portName) ? self.portName : 'http'))",message="service.additionalPorts must not reuse the name of service.portName (default http): Service port names must be unique"
// +kubebuilder:validation:XValidation:rule="!has(self.additionalPorts) || self.additionalPorts.all(p, self.additionalPorts.exists_one(q, q.name == p.name))",message="service.additionalPorts names must be unique"
type CanaryService struct {
	// Name of the apex Service; defaults to targetRef.name.
	// +kubebuilder:validation:MaxLength=55
	// +optional
	Name string `json:"name,omitempty"`

	// Port of the generated Services.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// PortName of the generated Services' port.
	// +kubebuilder:default=http
	// +optional
	PortName string `json:"portName,omitempty"`

	// TargetPort is the container port, by number or name; defaults to port.
	// +optional
	TargetPort intstr.IntOrString `json:"targetPort,omitempty"`

	// AppProtocol of the generated port; tcp makes the Istio route a TCP route.
	// +optional
	AppProtocol string `json:"appProtocol,omitempty"`

	// RouteKind is the Gateway API route that provider gatewayapi (and its implementation
	// aliases) writes for every port: HTTPRoute (the default, as Flagger writes), GRPCRoute
	// (gRPC methods and headers) or TCPRoute (connections, weighted only). appProtocol does not
	// choose it. Other providers refuse GRPCRoute and TCPRoute.
	// +kubebuilder:validation:Enum=HTTPRoute;GRPCRoute;TCPRoute
	// +optional
	RouteKind string `json:"routeKind,omitempty"`

	// AdditionalPorts are more ports of the generated Services, routed like port.
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=port
	// +optional
	AdditionalPorts []ServicePort `json:"additionalPorts,omitempty"`

	// TrafficDistribution is copied to the generated Services.
	// +kubebuilder:validation:Enum=PreferClose;PreferSameZone;PreferSameNode
	// +optional
	TrafficDistribution string `json:"trafficDistribution,omitempty"`

	// PortDiscovery adds every container port of the target to the generated Services.
	// +optional
	PortDiscovery bool `json:"portDiscovery,omitempty"`

	// Headless makes the generated Services headless (clusterIP: None).
	// +optional
	Headless bool `json:"headless,omitempty"`

	// Timeout of HTTP requests on the generated route, for example 30s.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	Timeout string `json:"timeout,omitempty"`

	// BackendTimeout is the per-backend request timeout (Gateway API only).
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	BackendTimeout string `json:"backendTimeout,omitempty"`

	// Gateways the Istio VirtualService binds to; defaults to mesh.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Gateways []string `json:"gateways,omitempty"`

	// GatewayRefs are the Gateways the HTTPRoute attaches to (Gateway API only).
	// +kubebuilder:validation:MaxItems=32
	// +optional
	GatewayRefs []ParentReference `json:"gatewayRefs,omitempty"`

	// Hosts of the VirtualService or HTTPRoute; the apex name is added for Istio.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Hosts []string `json:"hosts,omitempty"`

	// Delegation makes the Istio VirtualService a delegate (no hosts or gateways).
	// +optional
	Delegation bool `json:"delegation,omitempty"`

	// TrafficPolicy is the Istio DestinationRule traffic policy, in Istio's own schema.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	TrafficPolicy *runtime.RawExtension `json:"trafficPolicy,omitempty"`

	// Match conditions applied to every generated route.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Match []HTTPMatchRequest `json:"match,omitempty"`

	// Rewrite of the URI or authority of matched requests.
	// +optional
	Rewrite *HTTPRewrite `json:"rewrite,omitempty"`

	// Retries of failed requests (Istio).
	// +optional
	Retries *HTTPRetry `json:"retries,omitempty"`

	// Headers manipulation on requests and responses.
	// +optional
	Headers *Headers `json:"headers,omitempty"`

	// Mirror are static request mirrors (Gateway API only), distinct from analysis.mirror.
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Mirror []HTTPMirror `json:"mirror,omitempty"`

	// CorsPolicy of the route (Istio).
	// +optional
	CorsPolicy *CorsPolicy `json:"corsPolicy,omitempty"`

	// MeshName is the App Mesh mesh of Flagger's appmesh provider. Siskin has no App Mesh
	// router: the field is kept, and a Canary whose provider is appmesh is refused; other
	// providers ignore it, as in Flagger.
	// +optional
	MeshName string `json:"meshName,omitempty"`

	// Backends are the App Mesh virtual node backends of Flagger's appmesh provider; kept and
	// ignored like meshName.
	// +optional
	Backends []string `json:"backends,omitempty"`

	// Apex holds extra metadata for the apex Service.
	// +optional
	Apex *CustomMetadata `json:"apex,omitempty"`

	// Primary holds extra metadata for the primary Service.
	// +optional
	Primary *CustomMetadata `json:"primary,omitempty"`

	// Canary holds extra metadata for the canary Service.
	// +optional
	Canary *CustomMetadata `json:"canary,omitempty"`

	// UnmanagedMetadata lists label and annotation keys Siskin leaves alone on the objects it
	// owns, so other controllers may set them.
	// +optional
	UnmanagedMetadata *UnmanagedMetadata `json:"unmanagedMetadata,omitempty"`
}

// ServicePort is a port of the generated Services besides spec.service.port.
type ServicePort struct {
	// Name of the port, unique among the Services' ports.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Port of the generated Services.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// TargetPort is the container port, by number or name; defaults to port.
	// +optional
	TargetPort intstr.IntOrString `json:"targetPort,omitempty"`

	// AppProtocol of the port; tcp routes it as TCP (Istio) and is refused by Gateway API.
	// +optional
	AppProtocol string `json:"appProtocol,omitempty"`
}

// ParentReference names a Gateway (or other parent) an HTTPRoute attaches to.
type ParentReference struct {
	// +kubebuilder:default=gateway.networking.k8s.io
	// +optional
	Group *string `json:"group,omitempty"`
	// +kubebuilder:default=Gateway
	// +optional
	Kind *string `json:"kind,omitempty"`
	// +optional
	Namespace *string `json:"namespace,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +optional
	SectionName *string `json:"sectionName,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`
}

// StringMatch matches a string exactly, by prefix, by suffix or by RE2 regular expression.
//
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:MaxProperties=1
//
// An empty value is refused: routers would read it as no condition at all, and a match meant
// for a few requests would then send every request to the canary.
type StringMatch struct {
	// +kubebuilder:validation:MinLength=1
	// +optional
	Exact string `json:"exact,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// Suffix matches the end of the string; routed as the regex ^.*<quoted suffix>$.
	// +kubebuilder:validation:MinLength=1
	// +optional
	Suffix string `json:"suffix,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +optional
	Regex string `json:"regex,omitempty"`
}

// HTTPMatchRequest selects requests, in Istio's HTTPMatchRequest shape.
type HTTPMatchRequest struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	URI *StringMatch `json:"uri,omitempty"`
	// +optional
	Scheme *StringMatch `json:"scheme,omitempty"`
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// +optional
	Authority *StringMatch `json:"authority,omitempty"`
	// Headers to match; a cookie is matched through the cookie header with a regex.
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
	// +optional
	Port int32 `json:"port,omitempty"`
	// +optional
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
	// +optional
	SourceNamespace string `json:"sourceNamespace,omitempty"`
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// +optional
	QueryParams map[string]StringMatch `json:"queryParams,omitempty"`
	// +optional
	IgnoreURICase bool `json:"ignoreUriCase,omitempty"`
	// +optional
	WithoutHeaders map[string]StringMatch `json:"withoutHeaders,omitempty"`
}

// HTTPRewrite rewrites the URI or authority of a request.
type HTTPRewrite struct {
	// +optional
	URI string `json:"uri,omitempty"`
	// +optional
	Authority string `json:"authority,omitempty"`
	// Type is the Gateway API path modifier: ReplaceFullPath or ReplacePrefixMatch.
	// +kubebuilder:validation:Enum=ReplaceFullPath;ReplacePrefixMatch
	// +optional
	Type string `json:"type,omitempty"`
}

// HTTPRetry retries failed requests.
type HTTPRetry struct {
	// +kubebuilder:validation:Minimum=0
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	PerTryTimeout string `json:"perTryTimeout,omitempty"`
	// +optional
	RetryOn string `json:"retryOn,omitempty"`
}

// Headers manipulates request and response headers.
type Headers struct {
	// +optional
	Request *HeaderOperations `json:"request,omitempty"`
	// +optional
	Response *HeaderOperations `json:"response,omitempty"`
}

// HeaderOperations sets, adds or removes headers.
type HeaderOperations struct {
	// +optional
	Set map[string]string `json:"set,omitempty"`
	// +optional
	Add map[string]string `json:"add,omitempty"`
	// +optional
	Remove []string `json:"remove,omitempty"`
}

// HTTPMirror mirrors requests to another backend (Gateway API HTTPRequestMirrorFilter).
type HTTPMirror struct {
	// BackendRef is the Service that receives the mirrored requests.
	BackendRef MirrorBackendRef `json:"backendRef"`
	// Percent of requests mirrored.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Percent *int32 `json:"percent,omitempty"`
}

// MirrorBackendRef names a Service port.
//
// +kubebuilder:validation:XValidation:rule="!has(self.group) || size(self.group) == 0",message="service.mirror[].backendRef.group must be empty (the core group): only Services receive mirrored requests"
// +kubebuilder:validation:XValidation:rule="!has(self.kind) || self.kind == 'Service'",message="service.mirror[].backendRef.kind must be Service: only Services receive mirrored requests"
type MirrorBackendRef struct {
	// Group of the backend; only the core group ("") is supported.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Group *string `json:"group,omitempty"`
	// Kind of the backend; only Service is supported.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Kind *string `json:"kind,omitempty"`
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	Namespace *string `json:"namespace,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`
}

// CorsPolicy is the cross-origin policy of a route.
type CorsPolicy struct {
	// +optional
	AllowOrigins []StringMatch `json:"allowOrigins,omitempty"`
	// AllowOrigin is Istio's deprecated list of allowed origins. Routers receive each entry
	// as an exact allowOrigins match ("*" as the regex .*, any origin).
	// Deprecated: use allowOrigins.
	// +optional
	AllowOrigin []string `json:"allowOrigin,omitempty"`
	// +optional
	AllowMethods []string `json:"allowMethods,omitempty"`
	// +optional
	AllowHeaders []string `json:"allowHeaders,omitempty"`
	// +optional
	ExposeHeaders []string `json:"exposeHeaders,omitempty"`
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	MaxAge string `json:"maxAge,omitempty"`
	// +optional
	AllowCredentials *bool `json:"allowCredentials,omitempty"`
}

// CustomMetadata adds labels and annotations to a generated object.
type CustomMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// UnmanagedMetadata lists label and annotation keys Siskin must not change.
type UnmanagedMetadata struct {
	// +optional
	Labels []string `json:"labels,omitempty"`
	// +optional
	Annotations []string `json:"annotations,omitempty"`
}
