package newrelic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/siskin-dev/siskin/pkg/metrics/newrelic"
)

const (
	apiKey    = "NRAK-7JQ3XW2P9TVBM4K8D6HZ1YC5FGE"
	accountID = "3141592"
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

// graphQLRequest is the body NerdGraph receives.
type graphQLRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

// received is one request of the fake NerdGraph, its body decoded.
type received struct {
	header http.Header
	method string
	path   string
	body   graphQLRequest
}

// fakeNerdGraph speaks NerdGraph: a request without the API key is answered 401 with
// NerdGraph's BAD_API_KEY error, any other with one recorded answer. It keeps the requests.
type fakeNerdGraph struct {
	status int
	file   string
	delay  time.Duration

	mu       sync.Mutex
	requests []received
}

func (f *fakeNerdGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := received{header: r.Header.Clone(), method: r.Method, path: r.URL.Path}
	_ = json.Unmarshal(body, &rec.body)
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	f.mu.Unlock()
	status, file := f.status, f.file
	if r.Header.Get("Api-Key") != apiKey {
		status, file = http.StatusUnauthorized, "bad_api_key.json"
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
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func (f *fakeNerdGraph) all() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.requests...)
}

func (f *fakeNerdGraph) only(t *testing.T) received {
	t.Helper()
	all := f.all()
	if len(all) != 1 {
		t.Fatalf("the fake NerdGraph received %d requests, want 1", len(all))
	}
	return all[0]
}

// errorRate is a Flagger newrelic query: NRQL without a time clause.
const errorRate = `SELECT percentage(count(*), WHERE error IS true)
  FROM Transaction
  WHERE appName = '{{ target }}-canary'`

// now is the step time of the recorded answers.
var now = time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)

// check runs one step of a canary whose only metric is the newrelic template "error-rate"
// with a maximum of 1 and returns its result.
func check(t *testing.T, providers metrics.Providers, address string, secret map[string][]byte) siskinv1.CheckResult {
	t.Helper()
	maximum := 1.0
	templates := templateObjects{"test/error-rate": {
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "error-rate"},
		Spec: siskinv1.MetricTemplateSpec{
			Provider: siskinv1.MetricTemplateProvider{Type: "newrelic", Address: address,
				SecretRef: &siskinv1.LocalObjectReference{Name: "newrelic"},
				Headers:   map[string][]string{"X-Team": {"checkout"}}},
			Query: errorRate,
		},
	}}
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{
		Providers: providers,
		Templates: templates,
		Secrets:   secretMap{"test/newrelic": secret},
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

func pool(opts newrelic.Options) metrics.Providers {
	return metrics.Backends{metrics.TypeNewRelic: newrelic.NewPool(opts)}
}

// flaggerSecret is a Secret as Flagger's newrelic provider reads it: the key in
// newrelic_query_key.
func flaggerSecret(key string) map[string][]byte {
	return map[string][]byte{"newrelic_account_id": []byte(accountID + "\n"), "newrelic_query_key": []byte(key)}
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
		{name: "the one value passes the threshold", status: 200, file: "nrql_one_value.json",
			verdict: siskinv1.VerdictPass, value: "0.42", message: []string{"error-rate 0.42 not above max 1"}},
		{name: "the one value fails the threshold", status: 200, file: "nrql_one_value_high.json",
			verdict: siskinv1.VerdictFail, value: "4.75", message: []string{"error-rate 4.75 above max 1"}},
		{name: "a percentile's one number is the value", status: 200, file: "nrql_percentile.json",
			verdict: siskinv1.VerdictPass, value: "0.29"},
		{name: "a null value fails the check as no data, as in Flagger", status: 200, file: "nrql_null_value.json",
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "no row fails the check as no data", status: 200, file: "nrql_no_rows.json",
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "a FACET's rows are an error that says to drop it", status: 200, file: "nrql_facet.json",
			verdict: siskinv1.VerdictError, message: []string{"2 result rows", "FACET"}},
		{name: "an NRQL syntax error is an error with NerdGraph's message", status: 200, file: "nrql_syntax_error.json",
			verdict: siskinv1.VerdictError, message: []string{"newrelic query", "Error parsing query at position 11"}},
		{name: "a 500, retried by New Relic's client, is an error with the last answer", status: 500, file: "internal_error.json",
			verdict: siskinv1.VerdictError, message: []string{"newrelic query", "last answer: 500 Internal Server Error: Internal Server Error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeNerdGraph{status: tc.status, file: tc.file}
			srv := httptest.NewServer(fake)
			defer srv.Close()

			r := check(t, pool(newrelic.Options{QueryTimeout: 1500 * time.Millisecond}), srv.URL+"/graphql", flaggerSecret(apiKey))
			if r.Verdict != tc.verdict || r.Value != tc.value {
				t.Errorf("verdict %s value %q, want %s %q: %s", r.Verdict, r.Value, tc.verdict, tc.value, r.Message)
			}
			for _, want := range tc.message {
				if !strings.Contains(r.Message, want) {
					t.Errorf("message %q does not say %q", r.Message, want)
				}
			}
			if strings.Contains(r.Message, apiKey) {
				t.Errorf("message shows the API key: %s", r.Message)
			}

			req := fake.all()[0] // New Relic's client retries a 500
			if req.method != http.MethodPost || req.path != "/graphql" {
				t.Errorf("request %s %s, want POST /graphql", req.method, req.path)
			}
			if !strings.Contains(req.body.Query, "nrql(query: $query)") {
				t.Errorf("GraphQL query %q does not ask for nrql", req.body.Query)
			}
			if got := fmt.Sprintf("%.0f", req.body.Variables["accountId"]); got != accountID {
				t.Errorf("accountId %s, want %s", got, accountID)
			}
			// Flagger's NRQL, whitespace collapsed, over the metric's interval ending at the step.
			want := fmt.Sprintf("SELECT percentage(count(*), WHERE error IS true) FROM Transaction WHERE appName = 'podinfo-canary' SINCE %d UNTIL %d",
				now.Add(-time.Minute).UnixMilli(), now.UnixMilli())
			if got := req.body.Variables["query"]; got != want {
				t.Errorf("NRQL %q, want %q", got, want)
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

func TestTheAPIKeyWinsOverTheQueryKey(t *testing.T) {
	fake := &fakeNerdGraph{status: 200, file: "nrql_one_value.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	secret := map[string][]byte{"newrelic_account_id": []byte(accountID), "newrelic_api_key": []byte(apiKey), "newrelic_query_key": []byte("NRIQ-old-insights-key")}
	if r := check(t, pool(newrelic.Options{}), srv.URL+"/graphql", secret); r.Verdict != siskinv1.VerdictPass {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if got := fake.only(t).header.Get("Api-Key"); got != apiKey {
		t.Errorf("Api-Key %q, want newrelic_api_key's", got)
	}
}

func TestBadAPIKeyIsAnErrorNamingTheStatus(t *testing.T) {
	fake := &fakeNerdGraph{status: 200, file: "nrql_one_value.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, pool(newrelic.Options{}), srv.URL+"/graphql", flaggerSecret("NRIQ-not-a-user-key"))
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "401 response returned") || !strings.Contains(r.Message, "invalid API key") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if strings.Contains(r.Message, "NRIQ-not-a-user-key") {
		t.Errorf("message shows the key: %s", r.Message)
	}
	if len(fake.all()) != 1 {
		t.Errorf("a 401 was sent %d times, want once", len(fake.all()))
	}
}

func TestSlowAnswerTimesOut(t *testing.T) {
	fake := &fakeNerdGraph{status: 200, file: "nrql_one_value.json", delay: 5 * time.Second}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	start := time.Now()
	r := check(t, pool(newrelic.Options{QueryTimeout: 300 * time.Millisecond}), srv.URL+"/graphql", flaggerSecret(apiKey))
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("the check took %s with a query timeout of 300ms", elapsed)
	}
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "newrelic query") || !strings.Contains(r.Message, "no answer within the query timeout of 300ms") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
}

func TestRetriedUnavailabilityEndsAtTheQueryTimeout(t *testing.T) {
	fake := &fakeNerdGraph{status: 503, file: "unavailable.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	start := time.Now()
	r := check(t, pool(newrelic.Options{QueryTimeout: 1500 * time.Millisecond}), srv.URL+"/graphql", flaggerSecret(apiKey))
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("the check took %s with a query timeout of 1.5s", elapsed)
	}
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "no answer within the query timeout of 1.5s") ||
		!strings.Contains(r.Message, "last answer: 503 Service Unavailable: Service Unavailable") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if n := len(fake.all()); n < 2 {
		t.Errorf("%d requests: New Relic's client retries a 503", n)
	}
}

func TestRedirectIsRefused(t *testing.T) {
	elsewhere := &fakeNerdGraph{status: 200, file: "nrql_one_value.json"}
	other := httptest.NewServer(elsewhere)
	defer other.Close()
	srv := httptest.NewServer(http.RedirectHandler(other.URL+"/graphql", http.StatusTemporaryRedirect))
	defer srv.Close()

	r := check(t, pool(newrelic.Options{QueryTimeout: time.Second}), srv.URL+"/graphql", flaggerSecret(apiKey))
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "redirect not followed") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if n := len(elsewhere.all()); n != 0 {
		t.Errorf("the redirect's target received %d requests with the API key", n)
	}
}

func TestMissingOrWrongKeysAreAClearError(t *testing.T) {
	fake := &fakeNerdGraph{status: 200, file: "nrql_one_value.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	for _, tc := range []struct {
		secret  map[string][]byte
		address string
		want    string
	}{
		{secret: map[string][]byte{"newrelic_query_key": []byte(apiKey)},
			want: "Secret newrelic lacks the key newrelic_account_id that the newrelic provider needs"},
		{secret: map[string][]byte{"newrelic_account_id": []byte(accountID)},
			want: "Secret newrelic lacks the key newrelic_api_key (or newrelic_query_key)"},
		{secret: map[string][]byte{"newrelic_account_id": []byte("eu-3141592"), "newrelic_api_key": []byte(apiKey)},
			want: `key newrelic_account_id is "eu-3141592", not a New Relic account ID`},
		{secret: flaggerSecret(apiKey), address: "https://insights-api.newrelic.com",
			want: "is New Relic's Insights query API; the newrelic provider queries NerdGraph"},
	} {
		address := tc.address
		if address == "" {
			address = srv.URL + "/graphql"
		}
		r := check(t, pool(newrelic.Options{}), address, tc.secret)
		if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, tc.want) {
			t.Errorf("verdict %s: %s\nwant an error saying %q", r.Verdict, r.Message, tc.want)
		}
		if strings.Contains(r.Message, apiKey) {
			t.Errorf("message shows the API key: %s", r.Message)
		}
	}
	if n := len(fake.all()); n != 0 {
		t.Errorf("the fake NerdGraph received %d requests", n)
	}
}

func TestOwnTimeClause(t *testing.T) {
	fake := &fakeNerdGraph{status: 200, file: "nrql_one_value.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := newrelic.New(metrics.ProviderConfig{Type: "newrelic", Address: srv.URL + "/graphql", AccountID: accountID, Token: apiKey}, newrelic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(context.Background(), "SELECT average(duration) FROM Transaction since 5 minutes ago"); err != nil {
		t.Fatal(err)
	}
	all := fake.all()
	if len(all) != 1 {
		t.Fatalf("%d requests, want 1", len(all))
	}
	if q := all[0].body.Variables["query"]; q != "SELECT average(duration) FROM Transaction since 5 minutes ago" {
		t.Errorf("a query with its own SINCE was sent as %q", q)
	}
	if _, err := c.Query(context.Background(), "SELECT count(*) FROM Transaction -- errors only\nWHERE error IS true"); err == nil || !strings.Contains(err.Error(), "has a -- comment") {
		t.Errorf("a query with a comment: %v", err)
	}
	if n := len(fake.all()); n != 1 {
		t.Errorf("%d requests, want the query with a comment not sent", n)
	}
	fake.file = "nrql_facet.json"
	if _, err := c.Query(context.Background(), "SELECT count(*) FROM Transaction FACET appName"); !errors.Is(err, metrics.ErrResultShape) {
		t.Errorf("FACET: %v, want ErrResultShape", err)
	}
	for _, cfg := range []metrics.ProviderConfig{
		{Type: "graphite", Address: srv.URL, AccountID: accountID, Token: apiKey},
		{Type: "newrelic", Address: srv.URL, AccountID: accountID},
		{Type: "newrelic", Address: srv.URL, AccountID: "x", Token: apiKey},
		{Type: "newrelic", Address: "api.newrelic.com/graphql", AccountID: accountID, Token: apiKey},
	} {
		if _, err := newrelic.New(cfg, newrelic.Options{}); err == nil {
			t.Errorf("New(%s) succeeded", cfg)
		}
	}
}
