package prometheus_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/prometheus"
)

// secretMap is a SecretReader of "namespace/name" to data.
type secretMap map[string]map[string][]byte

func (m secretMap) SecretData(_ context.Context, ns, name string) (map[string][]byte, error) {
	return m[ns+"/"+name], nil
}

// templateObjects is a TemplateReader of "namespace/name" to MetricTemplate.
type templateObjects map[string]*siskinv1.MetricTemplate

func (m templateObjects) MetricTemplate(_ context.Context, ns, name string) (*siskinv1.MetricTemplate, error) {
	return m[ns+"/"+name], nil
}

// From a MetricTemplate's secretRef to the Authorization header the server sees, through the
// Analyzer and the Pool; every check of every canary on one configuration shares one client.
func TestTemplateCredentialsReachTheServer(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{} // query -> Authorization
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		seen[r.Form.Get("query")] = r.Header.Get("Authorization") + "|" + r.Header.Get("X-Scope-OrgID")
		mu.Unlock()
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764072000,"1"]}]}}`))
	}))
	defer srv.Close()

	provider := func(secret string) siskinv1.MetricTemplateProvider {
		return siskinv1.MetricTemplateProvider{Address: srv.URL, SecretRef: &siskinv1.LocalObjectReference{Name: secret},
			Headers: map[string][]string{"X-Scope-OrgID": {"team-a"}}}
	}
	templates := templateObjects{
		"test/bearer": {ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "bearer"},
			Spec: siskinv1.MetricTemplateSpec{Provider: provider("token"), Query: `bearer{ns="{{ namespace }}"}`}},
		"test/basic": {ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "basic"},
			Spec: siskinv1.MetricTemplateSpec{Provider: provider("basic"), Query: `basic{ns="{{ namespace }}"}`}},
	}
	secrets := secretMap{
		"test/token": {"token": []byte("s3cret")},
		"test/basic": {"username": []byte("siskin"), "password": []byte("pw")},
	}
	pool := prometheus.NewPool(prometheus.Options{})
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{Providers: pool, Templates: templates, Secrets: secrets})
	canary := func(name string) *siskinv1.Canary {
		return &siskinv1.Canary{
			ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: name},
			Spec: siskinv1.CanarySpec{TargetRef: siskinv1.TargetReference{Name: name}, Analysis: &siskinv1.CanaryAnalysis{
				Metrics: []siskinv1.CanaryMetric{
					{Name: "bearer", TemplateRef: &siskinv1.CrossNamespaceObjectReference{Name: "bearer"}, ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr(1)}},
					{Name: "basic", TemplateRef: &siskinv1.CrossNamespaceObjectReference{Name: "basic"}, ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr(1)}},
				},
			}},
		}
	}
	for _, name := range []string{"podinfo", "backend", "podinfo"} {
		for _, r := range a.Run(context.Background(), metrics.Step{Canary: canary(name), Router: siskinv1.ProviderIstio, Now: time.Now()}) {
			if r.Verdict != siskinv1.VerdictPass {
				t.Errorf("%s %s: %s %q", name, r.Name, r.Verdict, r.Message)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := seen[`bearer{ns="test"}`]; got != "Bearer s3cret|team-a" {
		t.Errorf("bearer template sent %q", got)
	}
	if got := seen[`basic{ns="test"}`]; got != "Basic c2lza2luOnB3|team-a" {
		t.Errorf("basic template sent %q", got)
	}
	if pool.Len() != 2 {
		t.Errorf("the pool holds %d clients for two provider configurations over six checks, want 2", pool.Len())
	}
}

// Check messages reach status, events and chat: an address's user, password and ?token= stay
// out of them.
func TestCheckMessagesRedactTheMetricsServer(t *testing.T) {
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close()
	host := strings.TrimPrefix(refused.URL, "http://")
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{Providers: prometheus.NewPool(prometheus.Options{})})
	for _, address := range []string{
		"http://admin:hunter2@" + host + "/?token=s3cret",    // answers nothing
		"http://admin:hunter2@prometheus:port/?token=s3cret", // does not parse
	} {
		c := &siskinv1.Canary{
			ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "podinfo"},
			Spec: siskinv1.CanarySpec{TargetRef: siskinv1.TargetReference{Name: "podinfo"}, MetricsServer: address,
				Analysis: &siskinv1.CanaryAnalysis{Metrics: []siskinv1.CanaryMetric{
					{Name: siskinv1.MetricRequestSuccessRate, ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr(99)}},
				}}},
		}
		r := a.Run(context.Background(), metrics.Step{Canary: c, Router: siskinv1.ProviderIstio, Now: time.Now()})[0]
		if r.Verdict != siskinv1.VerdictError {
			t.Errorf("%s: verdict %s, want Error", address, r.Verdict)
		}
		for _, s := range []string{"admin", "hunter2", "s3cret"} {
			if strings.Contains(r.Message, s) {
				t.Errorf("the check message shows %q: %s", s, r.Message)
			}
		}
	}
}
