package controller

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
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
		{"an unknown provider is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "linkerd", "spec", "provider")
		}, `spec.provider: Unsupported value: "linkerd"`},
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
		{"an interval below 10s is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "5s", analysis("interval")...)
		}, `spec.analysis.interval: Invalid value: "5s": interval must be at least 10s`},
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
		{"a DaemonSet target is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "DaemonSet", "spec", "targetRef", "kind")
		}, `spec.targetRef.kind: Unsupported value: "DaemonSet"`},
		{"gatewayapi without gatewayRefs is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "gatewayapi:v1", "spec", "provider")
		}, "service.gatewayRefs must name at least one Gateway when provider is gatewayapi"},
		{"match without iterations is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, []any{map[string]any{"headers": map[string]any{"x-canary": map[string]any{"exact": "insider"}}}}, analysis("match")...)
		}, "match (A/B testing) needs iterations"},
		{"stepWeight with provider kubernetes is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, "kubernetes", "spec", "provider")
		}, "provider kubernetes cannot shift traffic in steps"},
		{"a service port of 0 is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, int64(0), "spec", "service", "port")
		}, "spec.service.port: Invalid value: 0: spec.service.port in body should be greater than or equal to 1"},
		{"mirrorWeight without mirror is refused", func(t *testing.T, c *unstructured.Unstructured) {
			set(t, c, int64(50), analysis("mirrorWeight")...)
		}, "mirrorWeight needs mirror: true"},
		{"a canary without analysis is refused", func(t *testing.T, c *unstructured.Unstructured) {
			del(c, "spec", "analysis")
		}, "spec.analysis: Required value"},
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
