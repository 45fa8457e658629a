package controller

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// podinfo returns the reference Canary as a user would write it, with a unique name, in
// namespace ns.
func podinfo(t *testing.T, ns string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile("testdata/podinfo-canary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &obj.Object); err != nil {
		t.Fatal(err)
	}
	obj.SetName("podinfo-" + rand.String(6))
	obj.SetNamespace(ns)
	return obj
}

func set(t *testing.T, obj *unstructured.Unstructured, value any, path ...string) {
	t.Helper()
	if err := unstructured.SetNestedField(obj.Object, value, path...); err != nil {
		t.Fatalf("set %v: %v", path, err)
	}
}

func del(obj *unstructured.Unstructured, path ...string) {
	unstructured.RemoveNestedField(obj.Object, path...)
}

// setIn sets the value at path, whose int elements index lists.
func setIn(t *testing.T, obj *unstructured.Unstructured, value any, path []any) {
	t.Helper()
	var cur any = obj.Object
	for i, p := range path {
		last := i == len(path)-1
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("setIn %v: %v is not an object", path, path[:i])
			}
			if last {
				m[k] = value
				return
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("setIn %v: %v is not a list of more than %d items", path, path[:i], k)
			}
			if last {
				l[k] = value
				return
			}
			cur = l[k]
		}
	}
}

func metric(name string, fields map[string]any) []any {
	m := map[string]any{"name": name}
	for k, v := range fields {
		m[k] = v
	}
	return []any{m}
}

func TestAPIServerRefusesInvalidCanaries(t *testing.T) {
	analysis := func(p ...string) []string { return append([]string{"spec", "analysis"}, p...) }
	cases := []struct {
		name   string
		mutate func(t *testing.T, c *unstructured.Unstructured)
		want   string
	}{
		{"a Canary that routes needs its service", func(t *testing.T, c *unstructured.Unstructured) {
			del(c, "spec", "service")
		}, "spec.service is required: only a Canary of provider replicas (a worker) or of a StatefulSet target routes nothing and may leave it out"},
		{"a provider unknown to Flagger too is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "cilium", "spec", "provider")
		}, `spec.provider: Unsupported value: "cilium"`},
		{"an empty string match is refused: routers would match every request", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"uri": map[string]any{"exact": ""}}}, "spec", "service", "match")
		}, "spec.service.match[0].uri.exact: Invalid value"},
		{"an empty header match is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, int64(3), analysis("iterations")...)
			del(c, analysis("stepWeight")...)
			del(c, analysis("maxWeight")...)
			set(t, c, []any{map[string]any{"headers": map[string]any{"x-canary": map[string]any{"regex": ""}}}}, analysis("match")...)
		}, "spec.analysis.match[0].headers.x-canary.regex: Invalid value"},
		{"stepWeight and stepWeights together are refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{int64(10), int64(20)}, analysis("stepWeights")...)
		}, "stepWeight and stepWeights are mutually exclusive"},
		{"decreasing stepWeights are refused", func(t *testing.T, c *unstructured.Unstructured) {
			del(c, analysis("stepWeight")...)
			set(t, c, []any{int64(10), int64(5), int64(20)}, analysis("stepWeights")...)
		}, "stepWeights must be strictly increasing"},
		{"repeated stepWeights are refused", func(t *testing.T, c *unstructured.Unstructured) {
			del(c, analysis("stepWeight")...)
			set(t, c, []any{int64(10), int64(10)}, analysis("stepWeights")...)
		}, "stepWeights must be strictly increasing"},
		{"a stepWeight above 100 is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, int64(120), analysis("stepWeight")...)
		}, "spec.analysis.stepWeight: Invalid value: 120: spec.analysis.stepWeight in body should be less than or equal to 100"},
		{"a stepWeights entry of 0 is refused", func(t *testing.T, c *unstructured.Unstructured) {
			del(c, analysis("stepWeight")...)
			set(t, c, []any{int64(0), int64(50)}, analysis("stepWeights")...)
		}, "spec.analysis.stepWeights[0]: Invalid value: 0: spec.analysis.stepWeights[0] in body should be greater than or equal to 1"},
		{"maxWeight below stepWeight is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, int64(5), analysis("maxWeight")...)
		}, "maxWeight must not be below stepWeight"},
		{"maxWeight below the first stepWeights entry is refused", func(t *testing.T, c *unstructured.Unstructured) {
			del(c, analysis("stepWeight")...)
			set(t, c, []any{int64(20), int64(40)}, analysis("stepWeights")...)
			set(t, c, int64(10), analysis("maxWeight")...)
		}, "maxWeight must not be below the first entry of stepWeights"},
		{"iterations with stepWeight are refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, int64(10), analysis("iterations")...)
		}, "iterations (blue/green or A/B testing) cannot be combined with stepWeight or stepWeights"},
		{"a threshold below 1 is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, int64(0), analysis("threshold")...)
		}, "spec.analysis.threshold: Invalid value: 0: spec.analysis.threshold in body should be greater than or equal to 1"},
		{"an unparsable interval is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "1 minute", analysis("interval")...)
		}, `spec.analysis.interval: Invalid value: "1 minute": spec.analysis.interval in body should match`},
		{"equal session affinity cookie names are refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, map[string]any{"cookieName": "canary", "primaryCookieName": "canary"}, analysis("sessionAffinity")...)
		}, "sessionAffinity.cookieName and primaryCookieName must differ"},
		{"a custom metric without templateRef is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, metric("error-budget", map[string]any{"thresholdRange": map[string]any{"max": int64(1)}}), analysis("metrics")...)
		}, "a metric needs a templateRef unless its name is a built-in metric (request-success-rate, request-duration)"},
		{"a metric without bounds is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, metric("request-success-rate", nil), analysis("metrics")...)
		}, "a metric needs a thresholdRange (min, max or both)"},
		{"a thresholdRange with min above max is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, metric("request-duration", map[string]any{"thresholdRange": map[string]any{"min": int64(500), "max": int64(100)}}), analysis("metrics")...)
		}, "thresholdRange.min must not exceed thresholdRange.max"},
		{"two metrics with one name are refused", func(t *testing.T, c *unstructured.Unstructured) {
			m := metric("request-duration", map[string]any{"thresholdRange": map[string]any{"max": int64(500)}})
			set(t, c, append(m, m[0]), analysis("metrics")...)
		}, `spec.analysis.metrics[1]: Duplicate value: {"name":"request-duration"}`},
		{"an unknown webhook type is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"name": "gate", "type": "pre-promotion", "url": "http://gate/"}}, analysis("webhooks")...)
		}, `spec.analysis.webhooks[0].type: Unsupported value: "pre-promotion"`},
		{"a webhook URL that is not http(s) is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"name": "gate", "url": "loadtester:80/gate"}}, analysis("webhooks")...)
		}, `spec.analysis.webhooks[0].url: Invalid value: "loadtester:80/gate"`},
		{"an unknown alert severity is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"name": "pager", "severity": "critical", "providerRef": map[string]any{"name": "pager"}}}, analysis("alerts")...)
		}, `spec.analysis.alerts[0].severity: Unsupported value: "critical"`},
		{"a ReplicaSet target is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "ReplicaSet", "spec", "targetRef", "kind")
		}, `spec.targetRef.kind: Unsupported value: "ReplicaSet"`},
		{"gatewayapi without gatewayRefs is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "gatewayapi:v1", "spec", "provider")
		}, "service.gatewayRefs must name at least one Gateway when provider is gatewayapi"},
		{"match without iterations is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"headers": map[string]any{"x-canary": map[string]any{"exact": "insider"}}}}, analysis("match")...)
		}, "analysis.match (A/B testing) needs analysis.iterations"},
		{"a service port of 0 is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, int64(0), "spec", "service", "port")
		}, "spec.service.port: Invalid value: 0: spec.service.port in body should be greater than or equal to 1"},
		{"mirrorWeight without mirror is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, int64(50), analysis("mirrorWeight")...)
		}, "mirrorWeight needs mirror: true"},
		{"a template metric's minSample without a query is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, metric("errors", map[string]any{
				"templateRef":    map[string]any{"name": "errors"},
				"thresholdRange": map[string]any{"max": int64(1)},
				"minSample":      map[string]any{"min": int64(50)},
			}), analysis("metrics")...)
		}, "minSample.query is required unless the metric is a built-in metric"},
		{"a gate timeout that is not a duration is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"name": "approval", "type": "confirm-promotion", "url": "http://gate/", "gateTimeout": "one hour"}}, analysis("webhooks")...)
		}, `spec.analysis.webhooks[0].gateTimeout: Invalid value: "one hour"`},
		{"a webhook timeout above 5m is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"name": "load", "url": "http://loadtester/", "timeout": "1h"}}, analysis("webhooks")...)
		}, "timeout must be at most 5m; use gateTimeout to wait longer for a gate"},
		{"an errorLimit of 0 is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, int64(0), analysis("errorLimit")...)
		}, "spec.analysis.errorLimit in body should be greater than or equal to 1"},
		{"an additional port equal to service.port is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"name": "metrics", "port": int64(9898)}}, "spec", "service", "additionalPorts")
		}, "must not repeat service.port"},
		{"an additional port named like service.portName is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"name": "http", "port": int64(9797)}}, "spec", "service", "additionalPorts")
		}, "must not reuse the name of service.portName"},
		{"a string match with two kinds is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"uri": map[string]any{"exact": "/a", "prefix": "/"}}}, "spec", "service", "match")
		}, "spec.service.match[0].uri: Too many: 2: must have at most 1 item"},
		{"a suffix beside another kind of string match is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"uri": map[string]any{"suffix": ".js", "prefix": "/"}}}, "spec", "service", "match")
		}, "spec.service.match[0].uri: Too many: 2: must have at most 1 item"},
		{"the deprecated canaryAnalysis is refused with the rename to write", func(t *testing.T, c *unstructured.Unstructured) {
			a, _, _ := unstructured.NestedMap(c.Object, "spec", "analysis")
			set(t, c, a, "spec", "canaryAnalysis")
			del(c, "spec", "analysis")
		}, "rename canaryAnalysis to analysis"},
		{"canaryAnalysis beside analysis is refused too", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, map[string]any{"interval": "1m"}, "spec", "canaryAnalysis")
		}, "rename canaryAnalysis to analysis, or delete it when analysis is also set"},
		{"a templateRef of another kind is refused", func(t *testing.T, c *unstructured.Unstructured) {
			setIn(t, c, "ConfigMap", []any{"spec", "analysis", "metrics", 2, "templateRef", "kind"})
		}, "templateRef.kind must be MetricTemplate"},
		{"a templateRef of another API group is refused", func(t *testing.T, c *unstructured.Unstructured) {
			setIn(t, c, "v1", []any{"spec", "analysis", "metrics", 2, "templateRef", "apiVersion"})
		}, `Unsupported value: "v1": supported values: "siskin.dev/v1beta1", "flagger.app/v1beta1"`},
		{"a providerRef of another kind is refused", func(t *testing.T, c *unstructured.Unstructured) {
			setIn(t, c, "Secret", []any{"spec", "analysis", "alerts", 0, "providerRef", "kind"})
		}, "providerRef.kind must be AlertProvider"},
		{"a mirror backend of another kind is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"backendRef": map[string]any{"name": "shadow", "port": int64(80), "kind": "ServiceImport", "group": "multicluster.x-k8s.io"}}}, "spec", "service", "mirror")
		}, "service.mirror[].backendRef.kind must be Service"},
		{"a mirror backend of another group is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"backendRef": map[string]any{"name": "shadow", "port": int64(80), "group": "example.com"}}}, "spec", "service", "mirror")
		}, "service.mirror[].backendRef.group must be empty (the core group)"},
		{"an ingressRef of another kind is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, map[string]any{"apiVersion": "v1", "kind": "Service", "name": "podinfo"}, "spec", "ingressRef")
		}, "ingressRef.kind must be Ingress"},
		{"provider nginx without an ingressRef is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "nginx", "spec", "provider")
		}, "spec.ingressRef must name the Ingress to route when provider is nginx"},
		{"provider skipper without an ingressRef is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "skipper", "spec", "provider")
		}, "spec.ingressRef must name the Ingress to route when provider is nginx or skipper"},
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := podinfo(t, "default")
			tc.mutate(t, c)
			err := k8sClient.Create(ctx, c)
			if err == nil {
				t.Fatalf("the API server accepted the canary; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error does not say %q:\n%v", tc.want, err)
			}
		})
	}
}

// A worker (provider replicas) and a StatefulSet's Canary route nothing and need no service;
// a Canary written back by the controller does not grow an empty one.
func TestAPIServerAcceptsCanariesWithoutServicesWhenNothingIsRouted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, mutate := range map[string]func(c *unstructured.Unstructured){
		"worker": func(c *unstructured.Unstructured) { set(t, c, "replicas", "spec", "provider") },
		"statefulset": func(c *unstructured.Unstructured) {
			set(t, c, "StatefulSet", "spec", "targetRef", "kind")
			del(c, "spec", "provider")
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := podinfo(t, "default")
			del(c, "spec", "service")
			mutate(c)
			if err := k8sClient.Create(ctx, c); err != nil {
				t.Fatalf("create: %v", err)
			}
			typed := &siskinv1.Canary{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), typed); err != nil {
				t.Fatal(err)
			}
			typed.Annotations = map[string]string{"touched": "yes"}
			if err := k8sClient.Update(ctx, typed); err != nil {
				t.Fatalf("update through the typed API: %v", err)
			}
			back := &unstructured.Unstructured{}
			back.SetGroupVersionKind(c.GroupVersionKind())
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(c), back); err != nil {
				t.Fatal(err)
			}
			if _, found, _ := unstructured.NestedFieldNoCopy(back.Object, "spec", "service"); found {
				t.Errorf("the typed update wrote a spec.service: %v", back.Object["spec"])
			}
		})
	}
}

func TestAPIServerAcceptsReferenceCanaryAndFillsDefaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := podinfo(t, "default")
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatalf("create reference canary: %v", err)
	}
	got := &siskinv1.Canary{}
	if err := k8sClient.Get(ctx, keyOf(c), got); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ field, got, want string }{
		{"alerts[0].severity", string(got.Spec.Analysis.Alerts[0].Severity), "info"},
		{"template metric interval", got.Spec.Analysis.Metrics[2].Interval, "1m"},
		{"webhooks[1].type", string(got.Spec.Analysis.Webhooks[1].Type), "rollout"},
		{"service.portName", got.Spec.Service.PortName, "http"},
		{"primaryReadyThreshold", fmt.Sprint(*got.Spec.Analysis.PrimaryReadyThreshold), "100"},
		{"trafficPolicy kept", string(got.Spec.Service.TrafficPolicy.Raw), `{"tls":{"mode":"DISABLE"}}`},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.field, ch.got, ch.want)
		}
	}
}

// flaggerFields are fields of Flagger's Canary, set on the reference Canary, that the API server
// must keep as written (not prune): path and value.
var flaggerFields = []struct {
	path  []any
	value any
}{
	{[]any{"spec", "ingressRef"}, map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "podinfo"}},
	{[]any{"spec", "routeRef"}, map[string]any{"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute", "name": "podinfo"}},
	{[]any{"spec", "upstreamRef"}, map[string]any{"apiVersion": "gloo.solo.io/v1", "kind": "Upstream", "name": "podinfo", "namespace": "gloo"}},
	{[]any{"spec", "service", "meshName"}, "global"},
	{[]any{"spec", "service", "backends"}, []any{"backend.test", "arn:aws:appmesh:eu-west-1:000000000000:mesh/global/virtualService/backend2"}},
	{[]any{"spec", "autoscalerRef", "primaryScalerQueries"}, map[string]any{"prometheus-query": "sum(rate(http_requests_total{deployment='podinfo-primary'}[1m]))"}},
	{[]any{"spec", "analysis", "metrics", 2, "templateRef", "apiVersion"}, "flagger.app/v1beta1"},
	{[]any{"spec", "analysis", "metrics", 2, "templateRef", "kind"}, "MetricTemplate"},
	{[]any{"spec", "analysis", "alerts", 0, "providerRef", "apiVersion"}, "flagger.app/v1beta1"},
	{[]any{"spec", "analysis", "alerts", 0, "providerRef", "kind"}, "AlertProvider"},
	{[]any{"spec", "service", "match"}, []any{map[string]any{
		"uri":     map[string]any{"suffix": ".js"},
		"headers": map[string]any{"user-agent": map[string]any{"suffix": "Mobile"}},
	}}},
	{[]any{"spec", "service", "corsPolicy"}, map[string]any{
		"allowOrigin":  []any{"https://example.com", "*"},
		"allowOrigins": []any{map[string]any{"prefix": "https://app."}},
		"allowMethods": []any{"GET"},
	}},
	{[]any{"spec", "service", "mirror"}, []any{map[string]any{"backendRef": map[string]any{"group": "", "kind": "Service", "name": "shadow", "port": int64(9898)}}}},
	{[]any{"spec", "analysis", "interval"}, "5s"},
	{[]any{"spec", "analysis", "metrics", 1}, map[string]any{"name": "request-duration", "threshold": int64(500), "interval": "30s"}},
	{[]any{"spec", "analysis", "webhooks", 1, "type"}, ""},
	{[]any{"spec", "revertOnDeletion"}, true},
}

// nestedValue is the value at path (int elements index lists), and whether it is there.
func nestedValue(obj map[string]any, path []any) (any, bool) {
	var cur any = obj
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil, false
			}
			cur = l[k]
		}
	}
	return cur, true
}

func TestAPIServerKeepsEveryFlaggerField(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := podinfo(t, "default")
	for _, f := range flaggerFields {
		setIn(t, c, f.value, f.path)
	}
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatalf("the API server refused the Flagger fields: %v", err)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(c.GroupVersionKind())
	if err := k8sClient.Get(ctx, keyOf(c), got); err != nil {
		t.Fatal(err)
	}
	for _, f := range flaggerFields {
		v, ok := nestedValue(got.Object, f.path)
		if !ok || !reflect.DeepEqual(v, f.value) {
			t.Errorf("%v = %#v (present %v), want %#v as written", f.path, v, ok, f.value)
		}
	}
}

func TestAPIServerAcceptsFlaggerValues(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, c *unstructured.Unstructured)
	}{
		{"provider kubernetes with stepWeight", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "kubernetes", "spec", "provider")
		}},
		{"provider kubernetes with stepWeights", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "kubernetes", "spec", "provider")
			del(c, "spec", "analysis", "stepWeight")
			set(t, c, []any{int64(10), int64(50)}, "spec", "analysis", "stepWeights")
		}},
		{"provider kubernetes with match and no iterations", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "kubernetes", "spec", "provider")
			set(t, c, []any{map[string]any{"headers": map[string]any{"x-canary": map[string]any{"exact": "insider"}}}}, "spec", "analysis", "match")
		}},
		{"no analysis", func(t *testing.T, c *unstructured.Unstructured) {
			del(c, "spec", "analysis")
		}},
		{"an analysis match with a suffix", func(t *testing.T, c *unstructured.Unstructured) {
			del(c, "spec", "analysis", "stepWeight")
			del(c, "spec", "analysis", "maxWeight")
			set(t, c, int64(10), "spec", "analysis", "iterations")
			set(t, c, []any{map[string]any{"headers": map[string]any{"cookie": map[string]any{"suffix": "canary=always"}}}}, "spec", "analysis", "match")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := podinfo(t, "default")
			tc.mutate(t, c)
			if err := k8sClient.Create(ctx, c); err != nil {
				t.Fatalf("the API server refused it: %v", err)
			}
		})
	}
	// The names of Flagger's other routers are accepted by the schema; the controller refuses
	// them (TestFlaggerRouterSiskinLacksIsStalledWithTheProvidersToWrite).
	for _, p := range siskinv1.FlaggerOnlyProviders {
		c := podinfo(t, "default")
		set(t, c, p, "spec", "provider")
		if err := k8sClient.Create(ctx, c); err != nil {
			t.Errorf("provider %s: the API server refused it: %v", p, err)
		}
	}
}

func TestFlaggerRouterSiskinLacksIsStalledWithTheProvidersToWrite(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{provider: siskinv1.ProviderIstio})
	c := podinfo(t, ns)
	set(t, c, "kuma", "spec", "provider")
	if err := k8sClient.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, keyOf(c), "Stalled", func(c *siskinv1.Canary) bool {
		return meta.IsStatusConditionTrue(c.Status.Conditions, siskinv1.ConditionStalled)
	})
	const want = "provider kuma is a Flagger router that Siskin does not have: set spec.provider to istio, gatewayapi (or gatewayapi:v1, gatewayapi:v1beta1, gatewayapi:envoy, "
	if s := meta.FindStatusCondition(got.Status.Conditions, siskinv1.ConditionStalled); s.Reason != siskinv1.ReasonInvalidSpec || !strings.Contains(s.Message, want) {
		t.Errorf("stalled condition = %s: %s, want %s: %s", s.Reason, s.Message, siskinv1.ReasonInvalidSpec, want)
	}
	if got.Status.Phase != "" {
		t.Errorf("phase = %q; a canary Siskin cannot route must not start", got.Status.Phase)
	}
}

func TestFlaggerAdjustmentsAreVisibleOnTheCanary(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{provider: siskinv1.ProviderIstio})
	if err := k8sClient.Create(context.Background(), podinfoDeployment(ns, "podinfo:6.0.0")); err != nil {
		t.Fatal(err)
	}
	c := podinfo(t, ns)
	set(t, c, "kubernetes", "spec", "provider")
	set(t, c, "5s", "spec", "analysis", "interval")
	del(c, "spec", "autoscalerRef")
	if err := k8sClient.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, keyOf(c), "SpecAdjusted", func(c *siskinv1.Canary) bool {
		return meta.IsStatusConditionTrue(c.Status.Conditions, siskinv1.ConditionSpecAdjusted)
	})
	adj := meta.FindStatusCondition(got.Status.Conditions, siskinv1.ConditionSpecAdjusted)
	for _, want := range []string{
		"analysis.interval 5s is below 10s: the analysis runs every 10s (as in Flagger)",
		"provider kubernetes cannot split traffic: the analysis runs blue/green with 10 iterations (analysis.iterations unset: 10); analysis.stepWeight, analysis.maxWeight ignored (as in Flagger)",
	} {
		if !strings.Contains(adj.Message, want) {
			t.Errorf("SpecAdjusted message %q does not say %q", adj.Message, want)
		}
	}
	if meta.FindStatusCondition(got.Status.Conditions, siskinv1.ConditionStalled) != nil {
		t.Error("the canary is Stalled; Flagger runs it")
	}
	waitForEvent(t, got, siskinv1.ReasonAdjustedAsFlagger, "analysis.interval 5s is below 10s")
}

func TestFlaggerSuffixAndAllowOriginReachTheVirtualService(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{provider: siskinv1.ProviderIstio})
	runKubelet(t, ns)
	c := weightedCanary(ns, routerCase{provider: siskinv1.ProviderIstio, spec: func(c *siskinv1.Canary) {
		c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Suffix: ".js"}}}
		c.Spec.Service.CorsPolicy = &siskinv1.CorsPolicy{AllowOrigin: []string{"https://example.com"}}
	}})
	setupRollout(t, ns, c)

	vs := &networkingv1.VirtualService{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, vs); err != nil {
		t.Fatal(err)
	}
	var uri, origins []string
	for _, rt := range vs.Spec.Http {
		for _, m := range rt.Match {
			uri = append(uri, m.GetUri().String())
		}
		for _, o := range rt.GetCorsPolicy().GetAllowOrigins() {
			origins = append(origins, o.String())
		}
	}
	if len(uri) == 0 || !slices.ContainsFunc(uri, func(s string) bool { return strings.Contains(s, `regex:"^.*\\.js$"`) }) {
		t.Errorf("VirtualService uri matches = %q, want the suffix .js as the regex ^.*\\.js$", uri)
	}
	if len(origins) == 0 || !slices.ContainsFunc(origins, func(s string) bool { return strings.Contains(s, `exact:"https://example.com"`) }) {
		t.Errorf("VirtualService allowOrigins = %q, want exact https://example.com", origins)
	}
}

func TestAPIServerKeepsEveryFlaggerMetricTemplateField(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := map[string]any{
		"provider": map[string]any{
			"type":               "prometheus",
			"address":            "https://prometheus.example.com",
			"headers":            map[string]any{"X-Scope-OrgID": []any{"tenant-a"}},
			"secretRef":          map[string]any{"name": "prom-auth"},
			"region":             "eu-west-1",
			"insecureSkipVerify": true,
		},
		"query": `sum(rate(http_requests_total{namespace="{{ namespace }}",status!~"5.*"}[{{ interval }}]))`,
	}
	mt := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": siskinv1.GroupVersion.String(), "kind": "MetricTemplate",
		"metadata": map[string]any{"name": "errors-" + rand.String(6), "namespace": "default"},
		"spec":     spec,
	}}
	if err := k8sClient.Create(ctx, mt); err != nil {
		t.Fatalf("the API server refused Flagger's MetricTemplate fields: %v", err)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(mt.GroupVersionKind())
	if err := k8sClient.Get(ctx, keyOf(mt), got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Object["spec"], spec) {
		t.Errorf("spec = %#v, want %#v as written", got.Object["spec"], spec)
	}

	for _, typ := range []string{"stackdriver", "splunk", "keptn", "newrelic", "influxdb", "graphite", "dynatrace"} {
		ok := mt.DeepCopy()
		ok.SetName(typ + "-" + rand.String(6))
		ok.SetResourceVersion("")
		setIn(t, ok, typ, []any{"spec", "provider", "type"})
		if err := k8sClient.Create(ctx, ok); err != nil {
			t.Errorf("a %s template: %v", typ, err)
		}
	}

	other := mt.DeepCopy()
	other.SetName("appdynamicscloud-" + rand.String(6))
	other.SetResourceVersion("")
	setIn(t, other, "appdynamicscloud", []any{"spec", "provider", "type"})
	err := k8sClient.Create(ctx, other)
	if want := `spec.provider.type: Unsupported value: "appdynamicscloud": supported values: "prometheus", "datadog", "cloudwatch", "stackdriver", "splunk", "keptn", "newrelic", "influxdb", "graphite", "dynatrace"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("an appdynamicscloud template: error %v, want one saying %q", err, want)
	}
}
