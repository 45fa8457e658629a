package influxdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/influxdb"
)

const (
	token = "kZ3x9Qm2vT7cR1pL8wE4yU6iO0aS5dF-gH3jK7lZ9xC2vB4nM1qW8eR6tY0uI5oP3aS7dF9gH2jK4lZ6xC8vB=="
	org   = "checkout"
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

// queryBody is the body of POST /api/v2/query.
type queryBody struct {
	Query   string `json:"query"`
	Type    string `json:"type"`
	Dialect struct {
		Annotations []string `json:"annotations"`
	} `json:"dialect"`
}

// received is one request of the fake InfluxDB, its body decoded.
type received struct {
	header http.Header
	method string
	path   string
	org    string
	body   queryBody
}

// fakeInflux speaks InfluxDB's query API: a request without the token is answered 401 with
// InfluxDB's error body, any other with one recorded answer (annotated CSV, or a JSON error).
// It keeps the requests.
type fakeInflux struct {
	status int
	file   string
	delay  time.Duration

	mu       sync.Mutex
	requests []received
}

func (f *fakeInflux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := received{header: r.Header.Clone(), method: r.Method, path: r.URL.Path, org: r.URL.Query().Get("org")}
	_ = json.Unmarshal(body, &rec.body)
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	f.mu.Unlock()
	status, file := f.status, f.file
	if r.Header.Get("Authorization") != "Token "+token {
		status, file = http.StatusUnauthorized, "unauthorized.json"
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	out, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		http.Error(w, err.Error(), http.StatusTeapot)
		return
	}
	if filepath.Ext(file) == ".csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func (f *fakeInflux) all() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.requests...)
}

func (f *fakeInflux) only(t *testing.T) received {
	t.Helper()
	all := f.all()
	if len(all) != 1 {
		t.Fatalf("the fake InfluxDB received %d requests, want 1", len(all))
	}
	return all[0]
}

// errorRate is a Flagger influxdb query.
const errorRate = `from(bucket: "istio")
  |> range(start: -{{ interval }})
  |> filter(fn: (r) => r._measurement == "http" and r.app == "{{ target }}-canary")
  |> filter(fn: (r) => r._field == "error_rate")`

// now is the step time of the recorded answers.
var now = time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)

// check runs one step of a canary whose only metric is the influxdb template "error-rate"
// with a maximum of 1 and returns its result.
func check(t *testing.T, providers metrics.Providers, address string, secret map[string][]byte) siskinv1.CheckResult {
	t.Helper()
	maximum := 1.0
	tmpl := &siskinv1.MetricTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "error-rate"},
		Spec: siskinv1.MetricTemplateSpec{
			Provider: siskinv1.MetricTemplateProvider{Type: "influxdb", Address: address,
				Headers: map[string][]string{"X-Team": {"checkout"}}},
			Query: errorRate,
		},
	}
	if secret != nil {
		tmpl.Spec.Provider.SecretRef = &siskinv1.LocalObjectReference{Name: "influxdb"}
	}
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{
		Providers: providers,
		Templates: templateObjects{"test/error-rate": tmpl},
		Secrets:   secretMap{"test/influxdb": secret},
	})
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "podinfo"},
		Spec: siskinv1.CanarySpec{TargetRef: siskinv1.TargetReference{Name: "podinfo"}, Analysis: &siskinv1.CanaryAnalysis{
			Metrics: []siskinv1.CanaryMetric{{Name: "error-rate", Interval: "1m",
				TemplateRef:    &siskinv1.CrossNamespaceObjectReference{Name: "error-rate"},
				ThresholdRange: &siskinv1.CanaryThresholdRange{Max: &maximum}}},
		}},
	}
	results := a.Run(context.Background(), metrics.Step{Canary: c, Router: siskinv1.ProviderIstio, Now: now})
	if len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	return results[0]
}

func pool(opts influxdb.Options) metrics.Providers {
	return metrics.Backends{metrics.TypeInfluxDB: influxdb.NewPool(opts)}
}

func secret(tok string) map[string][]byte {
	return map[string][]byte{"token": []byte(tok + "\n"), "org": []byte(org)}
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
		{name: "the last record of the table passes the threshold", status: 200, file: "query_one_table.csv",
			verdict: siskinv1.VerdictPass, value: "0.42", message: []string{"error-rate 0.42 not above max 1"}},
		{name: "the last record of the table fails the threshold", status: 200, file: "query_one_table_high.csv",
			verdict: siskinv1.VerdictFail, value: "6.25", message: []string{"error-rate 6.25 above max 1"}},
		{name: "no table fails the check as no data", status: 200, file: "query_no_table.csv",
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "a null _value fails the check as no data, as in Flagger", status: 200, file: "query_null_value.csv",
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "several tables are an error that says to group them", status: 200, file: "query_two_tables.csv",
			verdict: siskinv1.VerdictError, message: []string{"2 tables", "app=podinfo-primary", "group()"}},
		{name: "a Flux runtime error inside a 200 is an error with its message", status: 200, file: "query_runtime_error.csv",
			verdict: siskinv1.VerdictError, message: []string{"influxdb query", "runtime error @3:6-3:62: filter: type conflict"}},
		{name: "a 400 is an error with InfluxDB's code and message", status: 400, file: "invalid_query.json",
			verdict: siskinv1.VerdictError, message: []string{"influxdb query", "400 invalid: compilation failed", "undefined identifier rang"}},
		{name: "a 500 is an error with InfluxDB's code and message", status: 500, file: "internal_error.json",
			verdict: siskinv1.VerdictError, message: []string{"influxdb query", "500 internal error: An internal error has occurred"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeInflux{status: tc.status, file: tc.file}
			srv := httptest.NewServer(fake)
			defer srv.Close()

			r := check(t, pool(influxdb.Options{}), srv.URL, secret(token))
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
			if req.method != http.MethodPost || req.path != "/api/v2/query" || req.org != org {
				t.Errorf("request %s %s org %q, want POST /api/v2/query org %s", req.method, req.path, req.org, org)
			}
			// Flagger's Flux, rendered, with now() at the step.
			// The analyzer joins the query's lines.
			want := "option now = () => 2026-12-01T16:00:00Z\n" + strings.Join(strings.Fields(
				strings.NewReplacer("{{ interval }}", "1m", "{{ target }}", "podinfo").Replace(errorRate)), " ")
			if req.body.Query != want || req.body.Type != "flux" {
				t.Errorf("query %q type %q, want %q flux", req.body.Query, req.body.Type, want)
			}
			if req.header.Get("X-Team") != "checkout" {
				t.Errorf("the template's header X-Team is %q", req.header.Get("X-Team"))
			}
			if !strings.Contains(req.header.Get("User-Agent"), "siskin") {
				t.Errorf("User-Agent %q does not name siskin", req.header.Get("User-Agent"))
			}
		})
	}
}

func TestBadTokenIsAnErrorNamingTheStatus(t *testing.T) {
	fake := &fakeInflux{status: 200, file: "query_one_table.csv"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, pool(influxdb.Options{}), srv.URL, secret("wrong-token"))
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "401 unauthorized: unauthorized access") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if strings.Contains(r.Message, "wrong-token") {
		t.Errorf("message shows the token: %s", r.Message)
	}
	if got := fake.only(t).header.Get("Authorization"); got != "Token wrong-token" {
		t.Errorf("Authorization %q", got)
	}
}

func TestWithoutSecretNoTokenIsSent(t *testing.T) {
	fake := &fakeInflux{status: 200, file: "query_one_table.csv"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, pool(influxdb.Options{}), srv.URL, nil)
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "401") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if got := fake.only(t).header.Get("Authorization"); got != "" {
		t.Errorf("Authorization %q sent without a secretRef", got)
	}
}

func TestSlowAnswerTimesOut(t *testing.T) {
	fake := &fakeInflux{status: 200, file: "query_one_table.csv", delay: 5 * time.Second}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	start := time.Now()
	r := check(t, pool(influxdb.Options{QueryTimeout: 200 * time.Millisecond}), srv.URL, secret(token))
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("the check took %s with a query timeout of 200ms", elapsed)
	}
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "influxdb query") || !strings.Contains(r.Message, "no answer within the query timeout of 200ms") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
}

func TestMissingAddressOrKeysAreAClearError(t *testing.T) {
	fake := &fakeInflux{status: 200, file: "query_one_table.csv"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, pool(influxdb.Options{}), srv.URL, map[string][]byte{"token": []byte(token)})
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "Secret influxdb lacks the key org that the influxdb provider needs") {
		t.Errorf("without org: verdict %s: %s", r.Verdict, r.Message)
	}
	if strings.Contains(r.Message, token) {
		t.Errorf("message shows the token: %s", r.Message)
	}
	r = check(t, pool(influxdb.Options{}), "", secret(token))
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "the influxdb provider needs provider.address") {
		t.Errorf("without an address: verdict %s: %s", r.Verdict, r.Message)
	}
	if n := len(fake.all()); n != 0 {
		t.Errorf("the fake InfluxDB received %d requests", n)
	}
}

func TestOwnNow(t *testing.T) {
	fake := &fakeInflux{status: 200, file: "query_one_table.csv"}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := influxdb.New(metrics.ProviderConfig{Type: "influxdb", Address: srv.URL, Token: token, Org: org}, influxdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	own := "option now = () => 2026-11-30T00:00:00Z\nfrom(bucket: \"istio\") |> range(start: -1m) |> last()"
	if _, err := c.Query(context.Background(), own); err != nil {
		t.Fatal(err)
	}
	all := fake.all()
	if len(all) != 1 || all[0].body.Query != own {
		t.Errorf("queries sent: %+v", all)
	}
	fake.file = "query_two_tables.csv"
	if _, err := c.Query(context.Background(), own); !errors.Is(err, metrics.ErrResultShape) {
		t.Errorf("two tables: %v, want ErrResultShape", err)
	}
	commented := "from(bucket: \"istio\") // the mesh's bucket |> range(start: -1m) |> last()"
	if _, err := c.Query(context.Background(), commented); err == nil || !strings.Contains(err.Error(), "has a // comment") {
		t.Errorf("a query with a comment: %v", err)
	}
	if n := len(fake.all()); n != 2 {
		t.Errorf("%d requests, want the query with a comment not sent", n)
	}
	for _, cfg := range []metrics.ProviderConfig{
		{Type: "graphite", Address: srv.URL},
		{Type: "influxdb", Address: "influxdb:8086"},
	} {
		if _, err := influxdb.New(cfg, influxdb.Options{}); err == nil {
			t.Errorf("New(%s) succeeded", cfg)
		}
	}
}
