package newrelic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/metrics"
	mt "github.com/siskin-dev/siskin/pkg/metrics/metricstest"
	"github.com/siskin-dev/siskin/pkg/metrics/newrelic"
)

const (
	apiKey    = "NRAK-7JQ3XW2P9TVBM4K8D6HZ1YC5FGE"
	accountID = "3141592"
)

// graphQLRequest is the body NerdGraph receives.
type graphQLRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

func body(r mt.Request) graphQLRequest {
	var b graphQLRequest
	_ = json.Unmarshal(r.Body, &b)
	return b
}

var replies = mt.Replies{Value: "nrql_one_value.json", NoData: "nrql_no_rows.json", Malformed: "malformed.json",
	ServerError: mt.Reply{Status: 500, File: "internal_error.json"},
	Authorized:  func(r *http.Request) bool { return r.Header.Get("Api-Key") == apiKey },
	Refused:     mt.Reply{Status: 401, File: "bad_api_key.json"}}

// errorRate is a Flagger newrelic query: NRQL without a time clause.
const errorRate = `SELECT percentage(count(*), WHERE error IS true)
  FROM Transaction
  WHERE appName = '{{ target }}-canary'`

// flaggerSecret is a Secret as Flagger's newrelic provider reads it: the key in
// newrelic_query_key.
func flaggerSecret(key string) map[string][]byte {
	return map[string][]byte{"newrelic_account_id": []byte(accountID + "\n"), "newrelic_query_key": []byte(key)}
}

// rendered is Flagger's NRQL, whitespace collapsed, over the metric's interval ending at the
// step.
var rendered = fmt.Sprintf("SELECT percentage(count(*), WHERE error IS true) FROM Transaction WHERE appName = 'podinfo-canary' SINCE %d UNTIL %d",
	mt.Now.Add(-time.Minute).UnixMilli(), mt.Now.UnixMilli())

// backend is newrelic with a query timeout that ends New Relic's client's retries of a 500.
func backend() mt.Backend {
	return mt.Backend{
		Type:            metrics.TypeNewRelic,
		Pool:            newrelic.NewPool,
		Options:         newrelic.Options{QueryTimeout: 1500 * time.Millisecond},
		TimesOut:        true,
		Provider:        siskinv1.MetricTemplateProvider{Headers: map[string][]string{"X-Team": {"checkout"}}},
		Query:           errorRate,
		Rendered:        rendered,
		Secret:          flaggerSecret(apiKey),
		Serve:           mt.Recorded("testdata", replies, "/graphql", func(r mt.Request) string { q, _ := body(r).Variables["query"].(string); return q }),
		Value:           "0.42",
		MissingKey:      "newrelic_account_id",
		WrongSecret:     flaggerSecret("NRIQ-not-a-user-key"),
		WrongSecretSays: []string{"newrelic query", "401 response returned", "invalid API key"},
		ServerErrorSays: []string{"newrelic query", "last answer: 500 Internal Server Error: Internal Server Error"},
		MalformedSays:   []string{"newrelic query", "cannot unmarshal"},
		Refusals: []mt.Refusal{
			{Name: "a template without secretRef", Address: mt.AtStand,
				Message: "the newrelic provider needs a secretRef to a Secret with the keys newrelic_account_id and newrelic_api_key (or newrelic_query_key)"},
			{Name: "a Secret without a key", Address: mt.AtStand, Secret: map[string][]byte{"newrelic_account_id": []byte(accountID)},
				Message: "Secret " + mt.SecretName + " lacks the key newrelic_api_key (or newrelic_query_key)"},
			{Name: "an account ID that is no number", Address: mt.AtStand,
				Secret:  map[string][]byte{"newrelic_account_id": []byte("eu-3141592"), "newrelic_api_key": []byte(apiKey)},
				Message: `key newrelic_account_id is "eu-3141592", not a New Relic account ID`},
			{Name: "Insights' query API as the address", Address: "https://insights-api.newrelic.com", Secret: flaggerSecret(apiKey),
				Message: "is New Relic's Insights query API; the newrelic provider queries NerdGraph"},
		},
	}
}

// address is the NerdGraph endpoint of a stand-in.
func address(s *mt.Server) string { return s.URL + "/graphql" }

func TestContract(t *testing.T) {
	mt.Contract(t, backend())
}

func TestNerdGraphAnswers(t *testing.T) {
	mt.Answers(t, backend(), "testdata", "/graphql", []mt.Answer{
		{Name: "a percentile's one number is the value", Reply: mt.Reply{Status: 200, File: "nrql_percentile.json"},
			Verdict: siskinv1.VerdictPass, Value: "0.29"},
		{Name: "a null value fails the check as no data, as in Flagger", Reply: mt.Reply{Status: 200, File: "nrql_null_value.json"},
			Verdict: siskinv1.VerdictFail, Says: []string{"no data"}},
		{Name: "a FACET's rows are an error that says to drop it", Reply: mt.Reply{Status: 200, File: "nrql_facet.json"},
			Verdict: siskinv1.VerdictError, Says: []string{"2 result rows", "FACET"}},
		{Name: "an NRQL syntax error is an error with NerdGraph's message", Reply: mt.Reply{Status: 200, File: "nrql_syntax_error.json"},
			Verdict: siskinv1.VerdictError, Says: []string{"newrelic query", "Error parsing query at position 11"}},
	})
}

// The request is NerdGraph's nrql query in the Secret's account, with the key, the template's
// headers and Siskin's User-Agent.
func TestTheRequest(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	if r := mt.Check(t, backend(), address(srv)); r.Verdict != siskinv1.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Message)
	}
	req := srv.Only(t)
	if req.Method != http.MethodPost || req.Path != "/graphql" {
		t.Errorf("request %s %s, want POST /graphql", req.Method, req.Path)
	}
	if b := body(req); !strings.Contains(b.Query, "nrql(query: $query)") {
		t.Errorf("GraphQL query %q does not ask for nrql", b.Query)
	}
	if got := fmt.Sprintf("%.0f", body(req).Variables["accountId"]); got != accountID {
		t.Errorf("accountId %s, want %s", got, accountID)
	}
	if req.Header.Get("Api-Key") != apiKey {
		t.Errorf("Api-Key %q", req.Header.Get("Api-Key"))
	}
	if !strings.Contains(req.Header.Get("User-Agent"), "siskin") {
		t.Errorf("User-Agent %q does not name siskin", req.Header.Get("User-Agent"))
	}
}

func TestTheAPIKeyWinsOverTheQueryKey(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	b := backend()
	b.Secret = map[string][]byte{"newrelic_account_id": []byte(accountID), "newrelic_api_key": []byte(apiKey), "newrelic_query_key": []byte("NRIQ-old-insights-key")}
	if r := mt.Check(t, b, address(srv)); r.Verdict != siskinv1.VerdictPass {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if got := srv.Only(t).Header.Get("Api-Key"); got != apiKey {
		t.Errorf("Api-Key %q, want newrelic_api_key's", got)
	}
}

func TestBadAPIKeyIsSentOnce(t *testing.T) {
	srv := replies.Server(t, "testdata", mt.Value)
	b := backend()
	b.Secret = flaggerSecret("NRIQ-not-a-user-key")
	if r := mt.Check(t, b, address(srv)); r.Verdict != siskinv1.VerdictError {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("a 401 was sent %d times, want once", n)
	}
}

func TestRetriedUnavailabilityEndsAtTheQueryTimeout(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(mt.Reply{Status: 503, File: "unavailable.json"})
	start := time.Now()
	r := mt.Check(t, backend(), address(srv))
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("the check took %s with a query timeout of 1.5s", elapsed)
	}
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "no answer within the query timeout of 1.5s") ||
		!strings.Contains(r.Message, "last answer: 503 Service Unavailable: Service Unavailable") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if n := len(srv.Requests()); n < 2 {
		t.Errorf("%d requests: New Relic's client retries a 503", n)
	}
}

func TestRedirectIsRefused(t *testing.T) {
	elsewhere := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	srv := httptest.NewServer(http.RedirectHandler(address(elsewhere), http.StatusTemporaryRedirect))
	defer srv.Close()

	r := mt.Check(t, backend(), srv.URL+"/graphql")
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "redirect not followed") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if n := len(elsewhere.Requests()); n != 0 {
		t.Errorf("the redirect's target received %d requests with the API key", n)
	}
}

func TestOwnTimeClause(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	c, err := newrelic.New(metrics.ProviderConfig{Type: "newrelic", Address: address(srv), AccountID: accountID, Token: apiKey}, newrelic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(context.Background(), "SELECT average(duration) FROM Transaction since 5 minutes ago"); err != nil {
		t.Fatal(err)
	}
	if q := body(srv.Only(t)).Variables["query"]; q != "SELECT average(duration) FROM Transaction since 5 minutes ago" {
		t.Errorf("a query with its own SINCE was sent as %q", q)
	}
	if _, err := c.Query(context.Background(), "SELECT count(*) FROM Transaction -- errors only\nWHERE error IS true"); err == nil || !strings.Contains(err.Error(), "has a -- comment") {
		t.Errorf("a query with a comment: %v", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want the query with a comment not sent", n)
	}
	srv.Reply(mt.Reply{Status: 200, File: "nrql_facet.json"})
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
