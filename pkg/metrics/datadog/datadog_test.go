package datadog_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/datadog"
	mt "github.com/siskin-dev/siskin/pkg/metrics/metricstest"
)

const (
	apiKey = "dd-api-0123456789abcdef"
	appKey = "dd-app-fedcba9876543210"
)

const successRate = `100 - (sum:istio.mesh.request.count{destination_workload_namespace:{{ namespace }},destination_workload:{{ target }},!response_code:404}.as_count() / sum:istio.mesh.request.count{destination_workload_namespace:{{ namespace }},destination_workload:{{ target }}}.as_count()) * 100`

func keys() map[string][]byte {
	return map[string][]byte{"datadog_api_key": []byte(apiKey), "datadog_application_key": []byte(appKey + "\n")}
}

// authorized accepts Datadog's two keys, as Datadog does.
func authorized(r *http.Request) bool {
	return r.Header.Get("DD-API-KEY") == apiKey && r.Header.Get("DD-APPLICATION-KEY") == appKey
}

var forbidden = mt.Reply{Status: 403, File: "forbidden.json"}

// backend is datadog as the contract and the cases below see it.
func backend(replies mt.Replies) mt.Backend {
	return mt.Backend{
		Type:            metrics.TypeDatadog,
		Pool:            datadog.NewPool,
		Provider:        siskinv1.MetricTemplateProvider{Headers: map[string][]string{"X-Team": {"checkout"}}},
		Query:           successRate,
		Rendered:        strings.NewReplacer("{{ namespace }}", "test", "{{ target }}", "podinfo").Replace(successRate),
		Secret:          keys(),
		Serve:           mt.Recorded("testdata", replies, "", func(r mt.Request) string { return r.Query.Get("query") }),
		Value:           "99.50",
		MissingKey:      "datadog_application_key",
		WrongSecret:     map[string][]byte{"datadog_api_key": []byte("dd-api-wrong-0000000"), "datadog_application_key": []byte(appKey)},
		WrongSecretSays: []string{"datadog query", "403 Forbidden", "Forbidden"},
		ServerErrorSays: []string{"datadog query", "500 Internal Server Error"},
		MalformedSays:   []string{"datadog query", "the answer is not the query API's JSON"},
		Refusals: []mt.Refusal{
			{Name: "a template without secretRef", Address: mt.AtStand,
				Message: "the datadog provider needs a secretRef to a Secret with the keys datadog_api_key and datadog_application_key"},
		},
	}
}

var replies = mt.Replies{Value: "query_one_series.json", NoData: "query_no_series.json", Malformed: "malformed.json",
	ServerError: mt.Reply{Status: 500, File: "internal_error.json"},
	Authorized:  authorized, Refused: forbidden}

func TestContract(t *testing.T) {
	mt.Contract(t, backend(replies))
}

func TestDatadogAnswers(t *testing.T) {
	mt.Answers(t, backend(replies), "testdata", "", []mt.Answer{
		{Name: "a series of null points fails the check as no data", Reply: mt.Reply{Status: 200, File: "query_null_points.json"},
			Verdict: siskinv1.VerdictFail, Says: []string{"no data"}},
		{Name: "several series are an error that says to aggregate", Reply: mt.Reply{Status: 200, File: "query_two_series.json"},
			Verdict: siskinv1.VerdictError, Says: []string{"2 series", "response_code:500", "aggregate them"}},
		{Name: "a 400 is an error with Datadog's reason", Reply: mt.Reply{Status: 400, File: "bad_query.json"},
			Verdict: siskinv1.VerdictError, Says: []string{"datadog query", "400 Bad Request", "Error parsing query"}},
	})
}

// The request is Datadog's v1 query over ten intervals ending at the step, with both keys and
// the template's headers.
func TestTheRequest(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	if r := mt.Check(t, backend(replies), srv.URL); r.Verdict != siskinv1.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Message)
	}
	req := srv.Only(t)
	if req.Method != http.MethodGet || req.Path != "/api/v1/query" {
		t.Errorf("request %s %s, want GET /api/v1/query", req.Method, req.Path)
	}
	now := mt.Now
	if req.Query.Get("to") != strconv.FormatInt(now.Unix(), 10) || req.Query.Get("from") != strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10) {
		t.Errorf("window from=%s to=%s, want from=%d to=%d", req.Query.Get("from"), req.Query.Get("to"), now.Add(-10*time.Minute).Unix(), now.Unix())
	}
	if req.Header.Get("DD-API-KEY") != apiKey || req.Header.Get("DD-APPLICATION-KEY") != appKey {
		t.Errorf("keys sent: DD-API-KEY %q DD-APPLICATION-KEY %q", req.Header.Get("DD-API-KEY"), req.Header.Get("DD-APPLICATION-KEY"))
	}
}
