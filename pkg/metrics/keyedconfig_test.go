package metrics

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// TestKeyedTemplateConfigs checks the configurations of newrelic, influxdb, graphite and
// dynatrace templates: the address beside the Secret, the Secret's keys as Flagger names them,
// and an Error naming what is missing before any backend is asked.
func TestKeyedTemplateConfigs(t *testing.T) {
	secrets := fakeSecrets{
		"test/nr":        {SecretNewRelicAccountID: []byte("3141592\n"), SecretNewRelicAPIKey: []byte("NRAK-user")},
		"test/nr-query":  {SecretNewRelicAccountID: []byte("3141592"), SecretNewRelicQueryKey: []byte("NRAK-in-query-key")},
		"test/nr-both":   {SecretNewRelicAccountID: []byte("3141592"), SecretNewRelicAPIKey: []byte("NRAK-user"), SecretNewRelicQueryKey: []byte("NRIQ-old")},
		"test/influx":    {SecretInfluxDBToken: []byte("tok\n"), SecretInfluxDBOrg: []byte("checkout")},
		"test/basic":     {SecretGraphiteUsername: []byte("siskin"), SecretGraphitePassword: []byte("pw")},
		"test/dynatrace": {SecretDynatraceToken: []byte("dt0c01.X")},
		"test/empty":     {},
	}
	ref := func(name string) *siskinv1.LocalObjectReference { return &siskinv1.LocalObjectReference{Name: name} }
	for _, tc := range []struct {
		name     string
		provider siskinv1.MetricTemplateProvider
		want     ProviderConfig // zero: the check is an Error saying message
		message  string
	}{
		{
			name:     "newrelic without an address queries New Relic's NerdGraph, never the canary's metrics server",
			provider: siskinv1.MetricTemplateProvider{Type: TypeNewRelic, SecretRef: ref("nr")},
			want:     ProviderConfig{Type: TypeNewRelic, Address: NewRelicAddress, AccountID: "3141592", Token: "NRAK-user"},
		},
		{
			name:     "newrelic reads Flagger's newrelic_query_key when newrelic_api_key is absent",
			provider: siskinv1.MetricTemplateProvider{Type: TypeNewRelic, SecretRef: ref("nr-query"), Address: "https://api.eu.newrelic.com/graphql"},
			want:     ProviderConfig{Type: TypeNewRelic, Address: "https://api.eu.newrelic.com/graphql", AccountID: "3141592", Token: "NRAK-in-query-key"},
		},
		{
			name:     "newrelic prefers newrelic_api_key",
			provider: siskinv1.MetricTemplateProvider{Type: TypeNewRelic, SecretRef: ref("nr-both")},
			want:     ProviderConfig{Type: TypeNewRelic, Address: NewRelicAddress, AccountID: "3141592", Token: "NRAK-user"},
		},
		{
			name:     "newrelic without a secretRef names the keys it needs",
			provider: siskinv1.MetricTemplateProvider{Type: TypeNewRelic},
			message:  "m: MetricTemplate test/t: the newrelic provider needs a secretRef to a Secret with the keys newrelic_account_id and newrelic_api_key (or newrelic_query_key)",
		},
		{
			name:     "newrelic with an empty Secret names every key",
			provider: siskinv1.MetricTemplateProvider{Type: TypeNewRelic, SecretRef: ref("empty")},
			message:  "m: MetricTemplate test/t: Secret empty lacks the keys newrelic_account_id and newrelic_api_key (or newrelic_query_key) that the newrelic provider needs",
		},
		{
			name:     "influxdb takes the token and org, the address and TLS setting",
			provider: siskinv1.MetricTemplateProvider{Type: TypeInfluxDB, Address: "https://influx.example", SecretRef: ref("influx"), InsecureSkipVerify: true},
			want:     ProviderConfig{Type: TypeInfluxDB, Address: "https://influx.example", Token: "tok", Org: "checkout", InsecureSkipVerify: true},
		},
		{
			name:     "influxdb without a secretRef sends no token",
			provider: siskinv1.MetricTemplateProvider{Type: TypeInfluxDB, Address: "http://influx:8086"},
			want:     ProviderConfig{Type: TypeInfluxDB, Address: "http://influx:8086"},
		},
		{
			name:     "influxdb without an address never takes the canary's metrics server",
			provider: siskinv1.MetricTemplateProvider{Type: TypeInfluxDB, SecretRef: ref("influx")},
			message:  "m: MetricTemplate test/t: the influxdb provider needs provider.address, the InfluxDB URL, for example http://influxdb.monitoring:8086",
		},
		{
			name:     "influxdb with an empty Secret names both keys",
			provider: siskinv1.MetricTemplateProvider{Type: TypeInfluxDB, Address: "http://influx:8086", SecretRef: ref("empty")},
			message:  "m: MetricTemplate test/t: Secret empty lacks the keys token and org that the influxdb provider needs",
		},
		{
			name:     "graphite takes username and password as basic auth",
			provider: siskinv1.MetricTemplateProvider{Type: TypeGraphite, Address: "http://graphite:8080", SecretRef: ref("basic")},
			want:     ProviderConfig{Type: TypeGraphite, Address: "http://graphite:8080", Username: "siskin", Password: "pw"},
		},
		{
			name:     "graphite without an address says what to write",
			provider: siskinv1.MetricTemplateProvider{Type: TypeGraphite},
			message:  "m: MetricTemplate test/t: the graphite provider needs provider.address, the graphite-web URL, for example http://graphite.monitoring:8080",
		},
		{
			name:     "dynatrace takes dynatrace_token",
			provider: siskinv1.MetricTemplateProvider{Type: TypeDynatrace, Address: "https://abc.live.dynatrace.com", SecretRef: ref("dynatrace")},
			want:     ProviderConfig{Type: TypeDynatrace, Address: "https://abc.live.dynatrace.com", Token: "dt0c01.X"},
		},
		{
			name:     "dynatrace without a secretRef names the key",
			provider: siskinv1.MetricTemplateProvider{Type: TypeDynatrace, Address: "https://abc.live.dynatrace.com"},
			message:  "m: MetricTemplate test/t: the dynatrace provider needs a secretRef to a Secret with the key dynatrace_token",
		},
		{
			name:     "dynatrace without an address says what to write",
			provider: siskinv1.MetricTemplateProvider{Type: TypeDynatrace, SecretRef: ref("dynatrace")},
			message:  "m: MetricTemplate test/t: the dynatrace provider needs provider.address, the Dynatrace environment URL, for example https://ENVIRONMENT.live.dynatrace.com",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeProvider{fn: value(1)}
			providers := &fakeProviders{provider: fake}
			backends := Backends{TypePrometheus: providers, TypeNewRelic: providers, TypeInfluxDB: providers, TypeGraphite: providers, TypeDynatrace: providers}
			a := NewAnalyzer(AnalyzerOptions{Providers: backends, Secrets: secrets,
				Templates: fakeTemplates{"test/t": {Spec: siskinv1.MetricTemplateSpec{Query: "q", Provider: tc.provider}}},
				Default:   ProviderConfig{Address: "http://prometheus:9090", BearerToken: "controller-token"}})
			c := testCanary(siskinv1.CanaryMetric{Name: "m", Interval: "2m", ThresholdRange: &siskinv1.CanaryThresholdRange{Max: f64(2)},
				TemplateRef: &siskinv1.CrossNamespaceObjectReference{Name: "t"}})
			c.Spec.MetricsServer = "http://collector.test:9090"
			r := a.Run(context.Background(), Step{Canary: c, Router: siskinv1.ProviderIstio, Now: stepTime})[0]
			if tc.message != "" {
				if r.Verdict != siskinv1.VerdictError || r.Message != tc.message {
					t.Errorf("got %s %q, want Error %q", r.Verdict, r.Message, tc.message)
				}
				if len(providers.cfgs) != 0 {
					t.Errorf("the check asked for providers %s", dump(providers.cfgs...))
				}
				return
			}
			if r.Verdict != siskinv1.VerdictPass {
				t.Fatalf("got %s %q", r.Verdict, r.Message)
			}
			if len(providers.cfgs) != 1 || !reflect.DeepEqual(providers.cfgs[0], tc.want) {
				t.Errorf("provider configs %s, want %s", dumpKeyed(providers.cfgs...), dumpKeyed(tc.want))
			}
		})
	}
}

// dumpKeyed prints the fields keyedConfig sets, credentials included (they are the tests' own).
func dumpKeyed(cfgs ...ProviderConfig) string {
	var parts []string
	for _, c := range cfgs {
		parts = append(parts, fmt.Sprintf("{%s %s token %q account %q org %q basic %q/%q insecure %t}",
			c.Type, c.Address, c.Token, c.AccountID, c.Org, c.Username, c.Password, c.InsecureSkipVerify))
	}
	return strings.Join(parts, ", ")
}
