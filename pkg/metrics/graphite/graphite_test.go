package graphite_test

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
	"github.com/siskin-dev/siskin/pkg/metrics/graphite"
)

const (
	username = "siskin"
	password = "s3cr3t-graphite-pw"
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

// fakeGraphite speaks graphite-web's render API behind basic auth (as a proxy in front of
// graphite-web does): a request without the credentials is answered 401, any other with one
// recorded answer. It keeps the requests.
type fakeGraphite struct {
	status int
	file   string
	delay  time.Duration

	mu       sync.Mutex
	requests []*http.Request
}

func (f *fakeGraphite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	f.mu.Unlock()
	if r.URL.Query().Get("format") != "json" {
		// graphite-web's default format is a PNG graph.
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n"))
		return
	}
	status, file := f.status, f.file
	if u, p, ok := r.BasicAuth(); !ok || u != username || p != password {
		status, file = http.StatusUnauthorized, "unauthorized.html"
		w.Header().Set("WWW-Authenticate", `Basic realm="graphite"`)
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
	ctype := "application/json"
	switch filepath.Ext(file) {
	case ".html":
		ctype = "text/html; charset=utf-8"
	case ".txt":
		ctype = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (f *fakeGraphite) only(t *testing.T) *http.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 1 {
		t.Fatalf("the fake graphite-web received %d requests, want 1", len(f.requests))
	}
	return f.requests[0]
}

// errorRate is a Flagger graphite query: render parameters over several YAML lines.
const errorRate = `target=sumSeries(
  stats.{{ namespace }}.{{ target }}-canary.errors)`

// now is the step time of the recorded answers.
var now = time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)

// check runs one step of a canary whose only metric is the graphite template "error-rate"
// with the query and a maximum of 1, and returns its result.
func check(t *testing.T, providers metrics.Providers, address, query string, secret map[string][]byte) siskinv1.CheckResult {
	t.Helper()
	maximum := 1.0
	tmpl := &siskinv1.MetricTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "checkout", Name: "error-rate"},
		Spec: siskinv1.MetricTemplateSpec{
			Provider: siskinv1.MetricTemplateProvider{Type: "graphite", Address: address,
				Headers: map[string][]string{"X-Team": {"checkout"}}},
			Query: query,
		},
	}
	if secret != nil {
		tmpl.Spec.Provider.SecretRef = &siskinv1.LocalObjectReference{Name: "graphite"}
	}
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{
		Providers: providers,
		Templates: templateObjects{"checkout/error-rate": tmpl},
		Secrets:   secretMap{"checkout/graphite": secret},
	})
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: "checkout", Name: "podinfo"},
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

func pool(opts graphite.Options) metrics.Providers {
	return metrics.Backends{metrics.TypeGraphite: graphite.NewPool(opts)}
}

func credentials() map[string][]byte {
	return map[string][]byte{"username": []byte(username), "password": []byte(password + "\n")}
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
		{name: "the last non-null datapoint passes the threshold", status: 200, file: "render_one_series.json",
			verdict: siskinv1.VerdictPass, value: "0.25", message: []string{"error-rate 0.25 not above max 1"}},
		{name: "the last non-null datapoint fails the threshold", status: 200, file: "render_one_series_high.json",
			verdict: siskinv1.VerdictFail, value: "12.00", message: []string{"error-rate 12.00 above max 1"}},
		{name: "no series fails the check, as in Flagger", status: 200, file: "render_no_series.json",
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "a series of null datapoints fails the check, as in Flagger", status: 200, file: "render_null_points.json",
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "several series are an error that says to aggregate", status: 200, file: "render_two_series.json",
			verdict: siskinv1.VerdictError, message: []string{"2 series", "podinfo-canary-1", "sumSeries"}},
		{name: "a 400 is an error with graphite-web's reason", status: 400, file: "bad_target.html",
			verdict: siskinv1.VerdictError, message: []string{"graphite query", "400 Bad Request", "sumSerie"}},
		{name: "a 500 is an error naming graphite and the status", status: 500, file: "server_error.html",
			verdict: siskinv1.VerdictError, message: []string{"graphite query", "500 Internal Server Error", "Server Error (500)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeGraphite{status: tc.status, file: tc.file}
			srv := httptest.NewServer(fake)
			defer srv.Close()

			r := check(t, pool(graphite.Options{}), srv.URL+"/graphite/", errorRate, credentials())
			if r.Verdict != tc.verdict || r.Value != tc.value {
				t.Errorf("verdict %s value %q, want %s %q: %s", r.Verdict, r.Value, tc.verdict, tc.value, r.Message)
			}
			for _, want := range tc.message {
				if !strings.Contains(r.Message, want) {
					t.Errorf("message %q does not say %q", r.Message, want)
				}
			}
			if strings.Contains(r.Message, password) {
				t.Errorf("message shows the password: %s", r.Message)
			}

			req := fake.only(t)
			if req.Method != http.MethodGet || req.URL.Path != "/graphite/render" {
				t.Errorf("request %s %s, want GET /graphite/render", req.Method, req.URL.Path)
			}
			q := req.URL.Query()
			if want := "sumSeries( stats.checkout.podinfo-canary.errors)"; q.Get("target") != want {
				t.Errorf("target %q, want %q", q.Get("target"), want)
			}
			if q.Get("format") != "json" {
				t.Errorf("format %q, want json", q.Get("format"))
			}
			// Without from or until the window ends at the step and reaches back ten intervals.
			if q.Get("until") != strconv.FormatInt(now.Unix(), 10) || q.Get("from") != strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10) {
				t.Errorf("window from=%s until=%s, want from=%d until=%d", q.Get("from"), q.Get("until"), now.Add(-10*time.Minute).Unix(), now.Unix())
			}
			if req.Header.Get("X-Team") != "checkout" {
				t.Errorf("the template's header X-Team is %q", req.Header.Get("X-Team"))
			}
		})
	}
}

func TestTheQuerysFromAndUntilAreKept(t *testing.T) {
	fake := &fakeGraphite{status: 200, file: "render_one_series.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, pool(graphite.Options{}), srv.URL, "target=summarize(stats.a;env=prod, '1min', 'sum')&from=-{{ interval }}", credentials())
	if r.Verdict != siskinv1.VerdictPass {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	q := fake.only(t).URL.Query()
	if q.Get("target") != "summarize(stats.a;env=prod, '1min', 'sum')" || q.Get("from") != "-1min" || q.Has("until") {
		t.Errorf("parameters %v: want the tagged target, from=-1min (graphite's unit for {{ interval }}'s 1m) and no until", q)
	}
}

func TestBadCredentialsAreAnErrorNamingTheStatus(t *testing.T) {
	fake := &fakeGraphite{status: 200, file: "render_one_series.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, pool(graphite.Options{}), srv.URL, errorRate, map[string][]byte{"username": []byte(username), "password": []byte("wrong-pw")})
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "401 Unauthorized") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if strings.Contains(r.Message, "wrong-pw") {
		t.Errorf("message shows the password: %s", r.Message)
	}
	if u, p, ok := fake.only(t).BasicAuth(); !ok || u != username || p != "wrong-pw" {
		t.Errorf("basic auth %q %q %t", u, p, ok)
	}
}

func TestWithoutSecretNoCredentialsAreSent(t *testing.T) {
	fake := &fakeGraphite{status: 200, file: "render_one_series.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	_ = check(t, pool(graphite.Options{}), srv.URL, errorRate, nil)
	if _, _, ok := fake.only(t).BasicAuth(); ok {
		t.Error("basic auth sent without a secretRef")
	}
}

func TestSlowAnswerTimesOut(t *testing.T) {
	fake := &fakeGraphite{status: 200, file: "render_one_series.json", delay: 5 * time.Second}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	start := time.Now()
	r := check(t, pool(graphite.Options{QueryTimeout: 200 * time.Millisecond}), srv.URL, errorRate, credentials())
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("the check took %s with a query timeout of 200ms", elapsed)
	}
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "graphite query") || !strings.Contains(r.Message, "no answer within the query timeout of 200ms") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
}

func TestMissingAddressOrKeysAreAClearError(t *testing.T) {
	fake := &fakeGraphite{status: 200, file: "render_one_series.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, pool(graphite.Options{}), srv.URL, errorRate, map[string][]byte{"username": []byte(username)})
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "Secret graphite lacks the key password that the graphite provider needs") {
		t.Errorf("without the password: verdict %s: %s", r.Verdict, r.Message)
	}
	r = check(t, pool(graphite.Options{}), "", errorRate, credentials())
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "the graphite provider needs provider.address") {
		t.Errorf("without an address: verdict %s: %s", r.Verdict, r.Message)
	}
	if len(fake.requests) != 0 {
		t.Errorf("the fake graphite-web received %d requests", len(fake.requests))
	}
}

func TestQueriesTheRenderAPICannotTake(t *testing.T) {
	fake := &fakeGraphite{status: 200, file: "render_one_series.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := graphite.New(metrics.ProviderConfig{Type: "graphite", Address: srv.URL, Username: username, Password: password}, graphite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for query, want := range map[string]string{
		"from=-5min":                 "names no target",
		"target=a.b&format=csv":      "format=csv",
		"target=a.%zz":               "invalid URL escape",
		"sumSeries(a.b)&from=-5min ": "names no target",
	} {
		if _, err := c.Query(context.Background(), query); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("query %q: %v, want an error saying %q", query, err, want)
		}
	}
	if len(fake.requests) != 0 {
		t.Errorf("the fake graphite-web received %d requests", len(fake.requests))
	}
	if _, err := c.Query(context.Background(), "target=a.b"); err != nil {
		t.Errorf("a plain target: %v", err)
	}
	fake.file = "render_two_series.json"
	if _, err := c.Query(context.Background(), "target=a.*"); !errors.Is(err, metrics.ErrResultShape) {
		t.Errorf("two series: %v, want ErrResultShape", err)
	}
	for _, cfg := range []metrics.ProviderConfig{
		{Type: "dynatrace", Address: srv.URL},
		{Type: "graphite", Address: "graphite.monitoring:8080"},
		{Type: "graphite", Address: srv.URL + "/render?target=a"},
	} {
		if _, err := graphite.New(cfg, graphite.Options{}); err == nil {
			t.Errorf("New(%s) succeeded", cfg)
		}
	}
}
