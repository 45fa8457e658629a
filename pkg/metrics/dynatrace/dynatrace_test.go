package dynatrace_test

import (
	"context"
	"errors"
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
	"github.com/siskin-dev/siskin/pkg/metrics/dynatrace"
)

const token = "dt0c01.ST2EY72KQINMH574WMNVI7YN.G3DFPBEJYMODIDAEX454M7YWBUVEFOWKPRVMWFASS64NFH52PX6BNDVFFM572RZM"

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

// fakeDynatrace speaks the Metrics API v2: a request without the token is answered 401 with
// Dynatrace's error body, any other with one recorded answer. It keeps the requests.
type fakeDynatrace struct {
	status int
	file   string
	delay  time.Duration

	mu       sync.Mutex
	requests []*http.Request
}

func (f *fakeDynatrace) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	f.mu.Unlock()
	status, file := f.status, f.file
	if r.Header.Get("Authorization") != "Api-Token "+token {
		status, file = http.StatusUnauthorized, "unauthorized.json"
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	body, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		http.Error(w, err.Error(), http.StatusTeapot)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (f *fakeDynatrace) only(t *testing.T) *http.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 1 {
		t.Fatalf("the fake Dynatrace received %d requests, want 1", len(f.requests))
	}
	return f.requests[0]
}

const errorRate = `builtin:service.errors.total.rate:filter(eq("dt.entity.service","{{ variables.service }}")):avg`

// now is the step time of the recorded answers.
var now = time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)

// check runs one step of a canary whose only metric is the dynatrace template "error-rate"
// with a maximum of 1 and returns its result.
func check(t *testing.T, providers metrics.Providers, address string, secret map[string][]byte) siskinv1.CheckResult {
	t.Helper()
	maximum := 1.0
	templates := templateObjects{"test/error-rate": {
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "error-rate"},
		Spec: siskinv1.MetricTemplateSpec{
			Provider: siskinv1.MetricTemplateProvider{Type: "dynatrace", Address: address,
				SecretRef: &siskinv1.LocalObjectReference{Name: "dynatrace"},
				Headers:   map[string][]string{"X-Team": {"checkout"}}},
			Query: errorRate,
		},
	}}
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{
		Providers: providers,
		Templates: templates,
		Secrets:   secretMap{"test/dynatrace": secret},
	})
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "podinfo"},
		Spec: siskinv1.CanarySpec{TargetRef: siskinv1.TargetReference{Name: "podinfo"}, Analysis: &siskinv1.CanaryAnalysis{
			Metrics: []siskinv1.CanaryMetric{{Name: "error-rate", Interval: "1m",
				TemplateRef:       &siskinv1.CrossNamespaceObjectReference{Name: "error-rate"},
				TemplateVariables: map[string]string{"service": "SERVICE-5B9C6B2F1D4E7A30"},
				ThresholdRange:    &siskinv1.CanaryThresholdRange{Max: &maximum}}},
		}},
	}
	results := a.Run(context.Background(), metrics.Step{Canary: c, Router: siskinv1.ProviderIstio, Now: now})
	if len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	return results[0]
}

func pool(opts dynatrace.Options) metrics.Providers {
	return metrics.Backends{metrics.TypeDynatrace: dynatrace.NewPool(opts)}
}

func secret(tok string) map[string][]byte {
	return map[string][]byte{"dynatrace_token": []byte(tok + "\n")}
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
		{name: "the last value of the series passes the threshold", status: 200, file: "query_one_series.json",
			verdict: siskinv1.VerdictPass, value: "0.42", message: []string{"error-rate 0.42 not above max 1"}},
		{name: "the last value of the series fails the threshold", status: 200, file: "query_one_series_high.json",
			verdict: siskinv1.VerdictFail, value: "7.50", message: []string{"error-rate 7.50 above max 1"}},
		{name: "no series fails the check, as in Flagger", status: 200, file: "query_no_series.json",
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "a series whose only value is null fails the check as no data", status: 200, file: "query_null_value.json",
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "several series are an error that says to aggregate", status: 200, file: "query_two_series.json",
			verdict: siskinv1.VerdictError, message: []string{"2 series", "SERVICE-0A1B2C3D4E5F6071", "splitBy"}},
		{name: "a 400 is an error with Dynatrace's constraint violation", status: 400, file: "bad_selector.json",
			verdict: siskinv1.VerdictError, message: []string{"dynatrace query", "400 Bad Request", "Constraints violated.", "metricSelector: The metric selector is invalid"}},
		{name: "a 503 is an error with Dynatrace's message", status: 503, file: "unavailable.json",
			verdict: siskinv1.VerdictError, message: []string{"dynatrace query", "503 Service Unavailable", "the cluster is overloaded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeDynatrace{status: tc.status, file: tc.file}
			srv := httptest.NewServer(fake)
			defer srv.Close()

			r := check(t, pool(dynatrace.Options{}), srv.URL, secret(token))
			if r.Verdict != tc.verdict || r.Value != tc.value {
				t.Errorf("verdict %s value %q, want %s %q: %s", r.Verdict, r.Value, tc.verdict, tc.value, r.Message)
			}
			for _, want := range tc.message {
				if !strings.Contains(r.Message, want) {
					t.Errorf("message %q does not say %q", r.Message, want)
				}
			}
			if strings.Contains(r.Message, token) {
				t.Errorf("message shows the token: %s", r.Message)
			}

			req := fake.only(t)
			if req.Method != http.MethodGet || req.URL.Path != "/api/v2/metrics/query" {
				t.Errorf("request %s %s, want GET /api/v2/metrics/query", req.Method, req.URL.Path)
			}
			q := req.URL.Query()
			wantSelector := strings.Replace(errorRate, "{{ variables.service }}", "SERVICE-5B9C6B2F1D4E7A30", 1)
			if q.Get("metricSelector") != wantSelector {
				t.Errorf("metricSelector %q, want %q", q.Get("metricSelector"), wantSelector)
			}
			// The window ends at the step and reaches back ten intervals of 1m, in milliseconds.
			if q.Get("to") != strconv.FormatInt(now.UnixMilli(), 10) || q.Get("from") != strconv.FormatInt(now.Add(-10*time.Minute).UnixMilli(), 10) {
				t.Errorf("window from=%s to=%s, want from=%d to=%d", q.Get("from"), q.Get("to"), now.Add(-10*time.Minute).UnixMilli(), now.UnixMilli())
			}
			if q.Get("resolution") != "Inf" {
				t.Errorf("resolution %q, want Inf", q.Get("resolution"))
			}
			if req.Header.Get("X-Team") != "checkout" {
				t.Errorf("the template's header X-Team is %q", req.Header.Get("X-Team"))
			}
			if req.Header.Get("User-Agent") != "siskin" {
				t.Errorf("User-Agent %q, want siskin", req.Header.Get("User-Agent"))
			}
		})
	}
}

func TestBadTokenIsAnErrorNamingTheStatus(t *testing.T) {
	fake := &fakeDynatrace{status: 200, file: "query_one_series.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, pool(dynatrace.Options{}), srv.URL, secret("dt0c01.WRONG.TOKEN"))
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "401 Unauthorized: Token Authentication failed") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if strings.Contains(r.Message, "WRONG") {
		t.Errorf("message shows the token: %s", r.Message)
	}
	if got := fake.only(t).Header.Get("Authorization"); got != "Api-Token dt0c01.WRONG.TOKEN" {
		t.Errorf("Authorization %q", got)
	}
}

func TestSlowAnswerTimesOut(t *testing.T) {
	fake := &fakeDynatrace{status: 200, file: "query_one_series.json", delay: 5 * time.Second}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	start := time.Now()
	r := check(t, pool(dynatrace.Options{QueryTimeout: 200 * time.Millisecond}), srv.URL, secret(token))
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("the check took %s with a query timeout of 200ms", elapsed)
	}
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "dynatrace query") || !strings.Contains(r.Message, "no answer within the query timeout of 200ms") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if strings.Contains(r.Message, token) {
		t.Errorf("message shows the token: %s", r.Message)
	}
}

func TestMissingAddressOrTokenIsAClearError(t *testing.T) {
	fake := &fakeDynatrace{status: 200, file: "query_one_series.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, pool(dynatrace.Options{}), srv.URL, map[string][]byte{"token": []byte(token)})
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "Secret dynatrace lacks the key dynatrace_token that the dynatrace provider needs") {
		t.Errorf("without the key: verdict %s: %s", r.Verdict, r.Message)
	}
	r = check(t, pool(dynatrace.Options{}), "", secret(token))
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "the dynatrace provider needs provider.address") {
		t.Errorf("without an address: verdict %s: %s", r.Verdict, r.Message)
	}
	if len(fake.requests) != 0 {
		t.Errorf("the fake Dynatrace received %d requests", len(fake.requests))
	}
}

func TestQueryErrors(t *testing.T) {
	fake := &fakeDynatrace{status: 200, file: "query_no_series.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := dynatrace.New(metrics.ProviderConfig{Type: "dynatrace", Address: srv.URL, Token: token}, dynatrace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(context.Background(), "builtin:service.errors.total.rate"); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("no series: %v, want ErrNoData", err)
	}
	fake.file = "query_two_series.json"
	if _, err := c.Query(context.Background(), "builtin:service.errors.total.rate"); !errors.Is(err, metrics.ErrResultShape) {
		t.Errorf("two series: %v, want ErrResultShape", err)
	}
	for _, cfg := range []metrics.ProviderConfig{
		{Type: "datadog", Address: srv.URL, Token: token},
		{Type: "dynatrace", Address: srv.URL},
		{Type: "dynatrace", Address: "ftp://dynatrace.example", Token: token},
	} {
		if _, err := dynatrace.New(cfg, dynatrace.Options{}); err == nil {
			t.Errorf("New(%s) succeeded", cfg)
		}
	}
}
