//go:build e2e

package scenarios

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// linkerdKit is provider linkerd: an HTTPRoute whose parent is the apex Service, reached by
// users as mesh clients of the apex Service's host and judged by Linkerd's built-in metrics,
// which count every request an app's pods answer.
var linkerdKit = routerKit{
	Router:    framework.Linkerd,
	scenarios: []string{"promotion", "rollback-errors"},
}

// envoyGatewayKit is provider gatewayapi:envoy: an HTTPRoute of a Gateway of Envoy Gateway's
// class. Envoy Gateway counts the primary's and the canary's requests in one cluster per rule,
// so there are no built-in metrics: the Canary is judged by the success rate of the route's
// requests (the MetricTemplate route-success-rate), and the load test goes through the
// Gateway's host to be counted in it.
var envoyGatewayKit = routerKit{
	Router:      framework.EnvoyGateway,
	scenarios:   []string{"promotion", "rollback-errors"},
	routedLoad:  true,
	successRate: routeSuccessRate,
	objects: func(r *rig) []client.Object {
		return []client.Object{&siskinv1.MetricTemplate{
			ObjectMeta: metav1.ObjectMeta{Namespace: r.in.Namespace, Name: routeSuccessRate},
			Spec: siskinv1.MetricTemplateSpec{Query: `sum(rate(envoy_cluster_upstream_rq{` + routeClusters + `, envoy_response_code!~"5.*"}[{{ interval }}]))` +
				` / sum(rate(envoy_cluster_upstream_rq{` + routeClusters + `}[{{ interval }}])) * 100`},
		}}
	},
	canary: func(_ *rig, c *siskinv1.Canary) {
		c.Spec.Analysis.Metrics = []siskinv1.CanaryMetric{{
			Name: routeSuccessRate, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr.To(99.0)},
			TemplateRef: &siskinv1.CrossNamespaceObjectReference{Name: routeSuccessRate},
			MinSample: &siskinv1.CanaryMetricMinSample{Min: 10,
				Query: `sum(increase(envoy_cluster_upstream_rq_total{` + routeClusters + `}[{{ interval }}]))`},
		}}
	},
}

// routeSuccessRate is the metric of the gatewayapi:envoy scenarios: the success rate of the
// route's requests, which is what an Envoy Gateway user can judge a release by.
const routeSuccessRate = "route-success-rate"

// routeClusters selects the clusters of the rules of the Canary's HTTPRoute, named after the
// apex Service.
const routeClusters = `envoy_cluster_name=~"httproute/{{ namespace }}/{{ service }}/rule/[0-9]+"`
