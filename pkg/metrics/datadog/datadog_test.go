package datadog_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/datadog"
)

const (
	apiKey = "dd-api-0123456789abcdef"
	appKey = "dd-app-fedcba9876543210"
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

// fakeDatadog answers every request with one recorded answer of Datadog's API and keeps the
// requests it received.
type fakeDatadog struct {
	status int
	file   string

	mu       sync.Mutex
	requests []*http.Request
}

func (f *fakeDatadog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	f.mu.Unlock()
	body, err := os.ReadFile(filepath.Join("testdata", f.file))
	if err != nil {
		http.Error(w, err.Error(), http.StatusTeapot)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	_, _ = w.Write(body)
}

func (f *fakeDatadog) only(t *testing.T) *http.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 1 {
		t.Fatalf("the fake Datadog received %d requests, want 1", len(f.requests))
	}
	return f.requests[0]
}

const successRate = `100 - (sum:istio.mesh.request.count{destination_workload_namespace:{{ namespace }},destination_workload:{{ target }},!response_code:404}.as_count() / sum:istio.mesh.request.count{destination_workload_namespace:{{ namespace }},destination_workload:{{ target }}}.as_count()) * 100`

// now is the step time of the recorded answers.
var now = time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)

// check runs one step of a canary whose only metric is the datadog template "success-rate"
// with a minimum of 99 and returns its result.
func check(t *testing.T, address string, secret map[string][]byte) siskinv1.CheckResult {
	t.Helper()
	minimum := 99.0
	templates := templateObjects{"test/success-rate": {
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "success-rate"},
		Spec: siskinv1.MetricTemplateSpec{
			Provider: siskinv1.MetricTemplateProvider{Type: "datadog", Address: address,
				SecretRef: &siskinv1.LocalObjectReference{Name: "datadog"},
				Headers:   map[string][]string{"X-Team": {"checkout"}}},
			Query: successRate,
		},
	}}
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{
		Providers: metrics.Backends{metrics.TypeDatadog: datadog.NewPool(datadog.Options{})},
		Templates: templates,
		Secrets:   secretMap{"test/datadog": secret},
	})
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "podinfo"},
		Spec: siskinv1.CanarySpec{TargetRef: siskinv1.TargetReference{Name: "podinfo"}, Analysis: &siskinv1.CanaryAnalysis{
			Metrics: []siskinv1.CanaryMetric{{Name: "success-rate", Interval: "1m",
				TemplateRef:    &siskinv1.CrossNamespaceObjectReference{Name: "success-rate"},
				ThresholdRange: &siskinv1.CanaryThresholdRange{Min: &minimum}}},
		}},
	}
	results := a.Run(context.Background(), metrics.Step{Canary: c, Router: siskinv1.ProviderIstio, Now: now})
	if len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	return results[0]
}

func keys() map[string][]byte {
	return map[string][]byte{"datadog_api_key": []byte(apiKey), "datadog_application_key": []byte(appKey + "\n")}
}

func TestQueryThroughTheAnalyzer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		file    string
		verdict siskinv1.CheckVerdict
		value   string
		message []string
	}{
		{name: "the last point of the series passes the threshold", status: 200, file: "query_one_series.json",
			verdict: siskinv1.VerdictPass, value: "99.50", message: []string{"success-rate 99.50 not below min 99"}},
		{name: "the last point of the series fails the threshold", status: 200, file: "query_one_series_low.json",
			verdict: siskinv1.VerdictFail, value: "95.25", message: []string{"success-rate 95.25 below min 99"}},
		{name: "no series fails the check, as in Flagger", status: 200, file: "query_no_series.json",
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "a series of null points fails the check, as in Flagger", status: 200, file: "query_null_points.json",
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "several series are an error that says to aggregate", status: 200, file: "query_two_series.json",
			verdict: siskinv1.VerdictError, message: []string{"2 series", "response_code:500"}},
		{name: "a 403 is an error naming datadog and the status", status: 403, file: "forbidden.json",
			verdict: siskinv1.VerdictError, message: []string{"datadog query", "403 Forbidden", "Forbidden"}},
		{name: "a 400 is an error with Datadog's reason", status: 400, file: "bad_query.json",
			verdict: siskinv1.VerdictError, message: []string{"datadog query", "400 Bad Request", "Error parsing query"}},
		{name: "a 500 is an error naming datadog and the status", status: 500, file: "internal_error.json",
			verdict: siskinv1.VerdictError, message: []string{"datadog query", "500 Internal Server Error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeDatadog{status: tc.status, file: tc.file}
			srv := httptest.NewServer(fake)
			defer srv.Close()

			r := check(t, srv.URL, keys())
			if r.Verdict != tc.verdict || r.Value != tc.value {
				t.Errorf("verdict %s value %q, want %s %q: %s", r.Verdict, r.Value, tc.verdict, tc.value, r.Message)
			}
			for _, want := range tc.message {
				if !strings.Contains(r.Message, want) {
					t.Errorf("message %q does not say %q", r.Message, want)
				}
			}
			for _, secret := range []string{apiKey, appKey} {
				if strings.Contains(r.Message, secret) {
					t.Errorf("message shows a key: %s", r.Message)
				}
			}

			req := fake.only(t)
			if req.Method != http.MethodGet || req.URL.Path != "/api/v1/query" {
				t.Errorf("request %s %s, want GET /api/v1/query", req.Method, req.URL.Path)
			}
			q := req.URL.Query()
			wantQuery := strings.NewReplacer("{{ namespace }}", "test", "{{ target }}", "podinfo").Replace(successRate)
			if q.Get("query") != wantQuery {
				t.Errorf("query %q, want %q", q.Get("query"), wantQuery)
			}
			// The window ends at the step and reaches back ten intervals of 1m.
			if q.Get("to") != strconv.FormatInt(now.Unix(), 10) || q.Get("from") != strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10) {
				t.Errorf("window from=%s to=%s, want from=%d to=%d", q.Get("from"), q.Get("to"), now.Add(-10*time.Minute).Unix(), now.Unix())
			}
			if req.Header.Get("DD-API-KEY") != apiKey || req.Header.Get("DD-APPLICATION-KEY") != appKey {
				t.Errorf("keys sent: DD-API-KEY %q DD-APPLICATION-KEY %q", req.Header.Get("DD-API-KEY"), req.Header.Get("DD-APPLICATION-KEY"))
			}
			if req.Header.Get("X-Team") != "checkout" {
				t.Errorf("the template's header X-Team is %q", req.Header.Get("X-Team"))
			}
		})
	}
}

func TestMissingKeysAreAClearError(t *testing.T) {
	fake := &fakeDatadog{status: 200, file: "query_one_series.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, srv.URL, map[string][]byte{"datadog_api_key": []byte(apiKey)})
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "Secret datadog lacks the key datadog_application_key") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if strings.Contains(r.Message, apiKey) {
		t.Errorf("message shows the API key: %s", r.Message)
	}
	if len(fake.requests) != 0 {
		t.Errorf("the fake Datadog received %d requests without the keys", len(fake.requests))
	}
}
