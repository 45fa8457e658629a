package influxdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/influxdb"
	mt "github.com/siskin-dev/siskin/pkg/metrics/metricstest"
)

const (
	token = "kZ3x9Qm2vT7cR1pL8wE4yU6iO0aS5dF-gH3jK7lZ9xC2vB4nM1qW8eR6tY0uI5oP3aS7dF9gH2jK4lZ6xC8vB=="
	org   = "checkout"
)

// errorRate is a Flagger influxdb query.
const errorRate = `from(bucket: "istio")
  |> range(start: -{{ interval }})
  |> filter(fn: (r) => r._measurement == "http" and r.app == "{{ target }}-canary")
  |> filter(fn: (r) => r._field == "error_rate")`

// queryBody is the body of POST /api/v2/query.
type queryBody struct {
	Query string `json:"query"`
	Type  string `json:"type"`
}

func body(r mt.Request) queryBody {
	var b queryBody
	_ = json.Unmarshal(r.Body, &b)
	return b
}

func secret(tok string) map[string][]byte {
	return map[string][]byte{"token": []byte(tok + "\n"), "org": []byte(org)}
}

var replies = mt.Replies{Value: "query_one_table.csv", NoData: "query_no_table.csv", Malformed: "malformed.csv",
	ServerError: mt.Reply{Status: 500, File: "internal_error.json"},
	Authorized:  func(r *http.Request) bool { return r.Header.Get("Authorization") == "Token "+token },
	Refused:     mt.Reply{Status: 401, File: "unauthorized.json"}}

func backend() mt.Backend {
	return mt.Backend{
		Type:     metrics.TypeInfluxDB,
		Pool:     influxdb.NewPool,
		TimesOut: true,
		Provider: siskinv1.MetricTemplateProvider{Headers: map[string][]string{"X-Team": {"checkout"}}},
		Query:    errorRate,
		// Flagger's Flux, rendered, with now() at the step; the analyzer joins the query's lines.
		Rendered: "option now = () => 2026-12-01T16:00:00Z\n" + strings.Join(strings.Fields(
			strings.NewReplacer("{{ interval }}", "1m", "{{ target }}", "podinfo").Replace(errorRate)), " "),
		Secret:          secret(token),
		Serve:           mt.Recorded("testdata", replies, "", func(r mt.Request) string { return body(r).Query }),
		Value:           "0.42",
		MissingKey:      "org",
		WrongSecret:     secret("wrong-token-0123456789"),
		WrongSecretSays: []string{"influxdb query", "401 unauthorized: unauthorized access"},
		ServerErrorSays: []string{"influxdb query", "500 internal error: An internal error has occurred"},
		MalformedSays:   []string{"influxdb query", "parsing error"},
		Refusals: []mt.Refusal{
			{Name: "a template without address", Secret: secret(token),
				Message: "the influxdb provider needs provider.address, the InfluxDB URL"},
		},
	}
}

func TestContract(t *testing.T) {
	mt.Contract(t, backend())
}

func TestInfluxDBAnswers(t *testing.T) {
	mt.Answers(t, backend(), "testdata", "", []mt.Answer{
		{Name: "a null _value fails the check as no data, as in Flagger", Reply: mt.Reply{Status: 200, File: "query_null_value.csv"},
			Verdict: siskinv1.VerdictFail, Says: []string{"no data"}},
		{Name: "several tables are an error that says to group them", Reply: mt.Reply{Status: 200, File: "query_two_tables.csv"},
			Verdict: siskinv1.VerdictError, Says: []string{"2 tables", "app=podinfo-primary", "group()"}},
		{Name: "a Flux runtime error inside a 200 is an error with its message", Reply: mt.Reply{Status: 200, File: "query_runtime_error.csv"},
			Verdict: siskinv1.VerdictError, Says: []string{"influxdb query", "runtime error @3:6-3:62: filter: type conflict"}},
		{Name: "a 400 is an error with InfluxDB's code and message", Reply: mt.Reply{Status: 400, File: "invalid_query.json"},
			Verdict: siskinv1.VerdictError, Says: []string{"influxdb query", "400 invalid: compilation failed", "undefined identifier rang"}},
	})
}

// The request is a Flux query of the Secret's organization with its token, the template's
// headers and Siskin's User-Agent.
func TestTheRequest(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	if r := mt.Check(t, backend(), srv.URL); r.Verdict != siskinv1.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Message)
	}
	req := srv.Only(t)
	if req.Method != http.MethodPost || req.Path != "/api/v2/query" || req.Query.Get("org") != org || body(req).Type != "flux" {
		t.Errorf("request %s %s org %q type %q, want POST /api/v2/query org %s flux", req.Method, req.Path, req.Query.Get("org"), body(req).Type, org)
	}
	if req.Header.Get("Authorization") != "Token "+token {
		t.Errorf("Authorization %q", req.Header.Get("Authorization"))
	}
	if !strings.Contains(req.Header.Get("User-Agent"), "siskin") {
		t.Errorf("User-Agent %q does not name siskin", req.Header.Get("User-Agent"))
	}
}

func TestWithoutSecretNoTokenIsSent(t *testing.T) {
	srv := replies.Server(t, "testdata", mt.Value)
	b := backend()
	b.Secret = nil
	r := mt.Check(t, b, srv.URL)
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "401") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if got := srv.Only(t).Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization %q sent without a secretRef", got)
	}
}

func TestOwnNow(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	c, err := influxdb.New(metrics.ProviderConfig{Type: "influxdb", Address: srv.URL, Token: token, Org: org}, influxdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	own := "option now = () => 2026-11-30T00:00:00Z\nfrom(bucket: \"istio\") |> range(start: -1m) |> last()"
	if _, err := c.Query(context.Background(), own); err != nil {
		t.Fatal(err)
	}
	if q := body(srv.Only(t)).Query; q != own {
		t.Errorf("a query with its own now was sent as %q", q)
	}
	srv.Reply(mt.Reply{Status: 200, File: "query_two_tables.csv"})
	if _, err := c.Query(context.Background(), own); !errors.Is(err, metrics.ErrResultShape) {
		t.Errorf("two tables: %v, want ErrResultShape", err)
	}
	commented := "from(bucket: \"istio\") // the mesh's bucket |> range(start: -1m) |> last()"
	if _, err := c.Query(context.Background(), commented); err == nil || !strings.Contains(err.Error(), "has a // comment") {
		t.Errorf("a query with a comment: %v", err)
	}
	if n := len(srv.Requests()); n != 2 {
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
