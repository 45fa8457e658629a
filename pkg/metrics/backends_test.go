package metrics

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// runTemplate runs one metric of template "test/t" with provider p through Backends holding a
// fake of each type, and returns the result and the configurations the backends were asked for.
func runTemplate(t *testing.T, p siskinv1.MetricTemplateProvider, secrets fakeSecrets) (siskinv1.CheckResult, []ProviderConfig, *fakeProvider) {
	t.Helper()
	fake := &fakeProvider{fn: value(1)}
	providers := &fakeProviders{provider: fake}
	backends := Backends{TypePrometheus: providers, TypeDatadog: providers, TypeCloudWatch: providers}
	a := NewAnalyzer(AnalyzerOptions{Providers: backends, Secrets: secrets,
		Templates: fakeTemplates{"test/t": {Spec: siskinv1.MetricTemplateSpec{Query: "q", Provider: p}}},
		Default:   ProviderConfig{Address: "http://prometheus:9090", BearerToken: "controller-token"}})
	c := testCanary(siskinv1.CanaryMetric{Name: "m", Interval: "2m", ThresholdRange: &siskinv1.CanaryThresholdRange{Max: f64(2)},
		TemplateRef: &siskinv1.CrossNamespaceObjectReference{Name: "t"}})
	c.Spec.MetricsServer = "http://collector.test:9090"
	r := a.Run(context.Background(), Step{Canary: c, Router: siskinv1.ProviderIstio, Now: stepTime})[0]
	return r, providers.cfgs, fake
}

func TestVendorTemplateConfigs(t *testing.T) {
	secrets := fakeSecrets{
		"test/dd":      {SecretDatadogAPIKey: []byte("api"), SecretDatadogApplicationKey: []byte("app\n")},
		"test/dd-half": {SecretDatadogAPIKey: []byte("api")},
		"test/aws":     {SecretAWSAccessKeyID: []byte("AKIA"), SecretAWSSecretAccessKey: []byte("secret")},
		"test/token":   {"token": []byte("tok")},
	}
	ref := func(name string) *siskinv1.LocalObjectReference { return &siskinv1.LocalObjectReference{Name: name} }
	for _, tc := range []struct {
		name     string
		provider siskinv1.MetricTemplateProvider
		want     ProviderConfig // zero: the check is an Error saying message
		message  string
	}{
		{
			name:     "datadog without an address queries Datadog's API, never the canary's metrics server",
			provider: siskinv1.MetricTemplateProvider{Type: TypeDatadog, SecretRef: ref("dd")},
			want:     ProviderConfig{Type: TypeDatadog, Address: DatadogAddress, APIKey: "api", ApplicationKey: "app"},
		},
		{
			name:     "datadog takes provider.address, its headers and TLS setting",
			provider: siskinv1.MetricTemplateProvider{Type: TypeDatadog, SecretRef: ref("dd"), Address: "https://api.datadoghq.eu", InsecureSkipVerify: true},
			want:     ProviderConfig{Type: TypeDatadog, Address: "https://api.datadoghq.eu", APIKey: "api", ApplicationKey: "app", InsecureSkipVerify: true},
		},
		{
			name:     "datadog without a secretRef names the keys it needs",
			provider: siskinv1.MetricTemplateProvider{Type: TypeDatadog},
			message:  "m: MetricTemplate test/t: the datadog provider needs a secretRef to a Secret with the keys datadog_api_key and datadog_application_key",
		},
		{
			name:     "datadog with a key missing from the Secret names it",
			provider: siskinv1.MetricTemplateProvider{Type: TypeDatadog, SecretRef: ref("dd-half")},
			message:  "m: MetricTemplate test/t: Secret dd-half lacks the key datadog_application_key that the datadog provider needs",
		},
		{
			name:     "datadog with a Prometheus Secret names both keys",
			provider: siskinv1.MetricTemplateProvider{Type: TypeDatadog, SecretRef: ref("token")},
			message:  "m: MetricTemplate test/t: Secret token lacks the key datadog_api_key and datadog_application_key that the datadog provider needs",
		},
		{
			name:     "cloudwatch without a secretRef uses the default chain and the region's endpoint",
			provider: siskinv1.MetricTemplateProvider{Type: TypeCloudWatch, Region: "eu-west-1"},
			want:     ProviderConfig{Type: TypeCloudWatch, Region: "eu-west-1", Address: "https://monitoring.eu-west-1.amazonaws.com"},
		},
		{
			name:     "cloudwatch in a China region uses its partition's endpoint",
			provider: siskinv1.MetricTemplateProvider{Type: TypeCloudWatch, Region: "cn-north-1"},
			want:     ProviderConfig{Type: TypeCloudWatch, Region: "cn-north-1", Address: "https://monitoring.cn-north-1.amazonaws.com.cn"},
		},
		{
			name:     "cloudwatch with a secretRef takes the AWS keys and may name an endpoint",
			provider: siskinv1.MetricTemplateProvider{Type: TypeCloudWatch, Region: "us-east-1", Address: "https://monitoring.vpce.example", SecretRef: ref("aws")},
			want:     ProviderConfig{Type: TypeCloudWatch, Region: "us-east-1", Address: "https://monitoring.vpce.example", AccessKeyID: "AKIA", SecretAccessKey: "secret"},
		},
		{
			name:     "cloudwatch with an address but the controller's own credentials is refused",
			provider: siskinv1.MetricTemplateProvider{Type: TypeCloudWatch, Region: "us-east-1", Address: "https://collector.mallory"},
			message:  "m: MetricTemplate test/t: a cloudwatch provider.address needs a secretRef beside it; the controller's own AWS credentials only go to AWS",
		},
		{
			name:     "cloudwatch without a region says so",
			provider: siskinv1.MetricTemplateProvider{Type: TypeCloudWatch, SecretRef: ref("aws")},
			message:  "m: MetricTemplate test/t: the cloudwatch provider needs provider.region",
		},
		{
			name:     "cloudwatch with a Secret lacking the secret key names it",
			provider: siskinv1.MetricTemplateProvider{Type: TypeCloudWatch, Region: "us-east-1", SecretRef: ref("dd")},
			message:  "m: MetricTemplate test/t: Secret dd lacks the key aws_access_key_id and aws_secret_access_key that the cloudwatch provider needs",
		},
		{
			name:     "an unknown type names the supported ones",
			provider: siskinv1.MetricTemplateProvider{Type: "appdynamicscloud", Address: "http://appdynamics"},
			message:  `m: MetricTemplate test/t: provider type "appdynamicscloud" is not supported: set provider.type to one of ` + strings.Join(ProviderTypes, ", "),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, cfgs, fake := runTemplate(t, tc.provider, secrets)
			if tc.message != "" {
				if r.Verdict != siskinv1.VerdictError || r.Message != tc.message {
					t.Errorf("got %s %q, want Error %q", r.Verdict, r.Message, tc.message)
				}
				if len(cfgs) != 0 {
					t.Errorf("the check asked for providers %s", dump(cfgs...))
				}
				return
			}
			if r.Verdict != siskinv1.VerdictPass {
				t.Fatalf("got %s %q", r.Verdict, r.Message)
			}
			if len(cfgs) != 1 || !reflect.DeepEqual(cfgs[0], tc.want) {
				t.Errorf("provider configs %s, want %s", dumpVendor(cfgs...), dumpVendor(tc.want))
			}
			if len(fake.queries) != 1 {
				t.Errorf("queries %q", fake.queries)
			}
		})
	}
}

// Backends whose query carries no window read the metric's interval from the context.
func TestQueriesCarryTheMetricsWindow(t *testing.T) {
	var got []time.Duration
	fake := &fakeProvider{fn: func(ctx context.Context, _ string) (Sample, error) {
		got = append(got, Window(ctx))
		return Sample{Value: 1}, nil
	}}
	a := NewAnalyzer(AnalyzerOptions{Providers: &fakeProviders{provider: fake}, Default: ProviderConfig{Address: "http://prometheus:9090"}})
	c := testCanary(siskinv1.CanaryMetric{Name: siskinv1.MetricRequestSuccessRate, Interval: "90s", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: f64(0)}})
	a.Run(context.Background(), Step{Canary: c, Router: siskinv1.ProviderIstio, Now: stepTime})
	// The window is clamped to the time since the rollout started, as {{ interval }} is.
	a.Run(context.Background(), Step{Canary: c, Router: siskinv1.ProviderIstio, Now: stepTime, Since: stepTime.Add(-30 * time.Second)})
	if want := []time.Duration{90 * time.Second, 30 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("windows %v, want %v", got, want)
	}
	if d := Window(context.Background()); d != DefaultInterval {
		t.Errorf("Window without one = %s, want DefaultInterval", d)
	}
}

func TestBackendsRefuseATypeTheyDoNotServe(t *testing.T) {
	b := Backends{TypePrometheus: &fakeProviders{}}
	if _, err := b.Provider(ProviderConfig{}); err != nil {
		t.Errorf("empty type: %v", err)
	}
	_, err := b.Provider(ProviderConfig{Type: TypeDatadog, APIKey: "api"})
	if err == nil || err.Error() != `provider type "datadog" is not served by this controller (it serves prometheus)` {
		t.Errorf("err = %v", err)
	}
}

func TestVendorCredentialsStayOutOfStrings(t *testing.T) {
	cfg := ProviderConfig{Type: TypeDatadog, Address: DatadogAddress, APIKey: "api-secret", ApplicationKey: "app-secret"}
	aws := ProviderConfig{Type: TypeCloudWatch, Region: "us-east-1", AccessKeyID: "AKIASECRET", SecretAccessKey: "aws-secret"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(aws), fmt.Sprintf("%+v", aws)} {
		for _, secret := range []string{"api-secret", "app-secret", "AKIASECRET", "aws-secret"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows %s", s, secret)
			}
		}
	}
	if s := fmt.Sprint(aws); s != "cloudwatch  region us-east-1 (auth aws keys, 0 headers, insecureSkipVerify false)" {
		t.Errorf("String() = %q", s)
	}
}

func TestPoolSharesOneProviderPerConfiguration(t *testing.T) {
	now := stepTime
	built := 0
	p := NewPool(func(ProviderConfig) (Provider, error) {
		built++
		return &fakeProvider{fn: value(1)}, nil
	}, time.Hour, func() time.Time { return now })
	a := ProviderConfig{Type: TypeDatadog, Address: DatadogAddress, APIKey: "k1", ApplicationKey: "a"}
	b := a
	b.APIKey = "k2"
	for _, cfg := range []ProviderConfig{a, b, a, b} {
		if _, err := p.Provider(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if built != 2 || p.Len() != 2 {
		t.Errorf("built %d, pool holds %d; want 2 and 2", built, p.Len())
	}
	now = now.Add(2 * time.Hour)
	if _, err := p.Provider(a); err != nil {
		t.Fatal(err)
	}
	if built != 3 || p.Len() != 1 {
		t.Errorf("after the idle TTL: built %d, pool holds %d; want 3 and 1", built, p.Len())
	}
}

// dumpVendor shows configurations with their vendor credentials.
func dumpVendor(cfgs ...ProviderConfig) string {
	var parts []string
	for _, c := range cfgs {
		parts = append(parts, fmt.Sprintf("{%s %s region %q headers %v dd %q/%q aws %q/%q insecure %t}",
			c.Type, c.Address, c.Region, c.Headers, c.APIKey, c.ApplicationKey, c.AccessKeyID, c.SecretAccessKey, c.InsecureSkipVerify))
	}
	return strings.Join(parts, ", ")
}
