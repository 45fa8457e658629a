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
func backend(replies map[mt.Situation]mt.Reply) mt.Backend {
	return mt.Backend{
		Type: metrics.TypeDatadog,
		Providers: func() metrics.Providers {
			return metrics.Backends{metrics.TypeDatadog: datadog.NewPool(datadog.Options{})}
		},
		Provider: siskinv1.MetricTemplateProvider{Headers: map[string][]string{"X-Team": {"checkout"}}},
		Query:    successRate,
		Rendered: strings.NewReplacer("{{ namespace }}", "test", "{{ target }}", "podinfo").Replace(successRate),
		Secret:   keys(),
		Serve: mt.Recorded("testdata", replies, func(s *mt.Server) { s.Refuse(authorized, forbidden) },
			func(r mt.Request) string { return r.Query.Get("query") }),
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

var replies = map[mt.Situation]mt.Reply{
	mt.Value:       {Status: 200, File: "query_one_series.json"},
	mt.NoData:      {Status: 200, File: "query_no_series.json"},
	mt.ServerError: {Status: 500, File: "internal_error.json"},
	mt.Malformed:   {Status: 200, File: "malformed.json"},
}

func TestContract(t *testing.T) {
	mt.Contract(t, backend(replies))
}

func TestDatadogAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reply   mt.Reply
		verdict siskinv1.CheckVerdict
		message []string
	}{
		{name: "a series of null points fails the check as no data", reply: mt.Reply{Status: 200, File: "query_null_points.json"},
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "several series are an error that says to aggregate", reply: mt.Reply{Status: 200, File: "query_two_series.json"},
			verdict: siskinv1.VerdictError, message: []string{"2 series", "response_code:500", "aggregate them"}},
		{name: "a 400 is an error with Datadog's reason", reply: mt.Reply{Status: 400, File: "bad_query.json"},
			verdict: siskinv1.VerdictError, message: []string{"datadog query", "400 Bad Request", "Error parsing query"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mt.NewServer(t, "testdata").Reply(tc.reply)
			r := mt.Check(t, backend(nil), srv.URL)
			if r.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s: %s", r.Verdict, tc.verdict, r.Message)
			}
			for _, want := range tc.message {
				if !strings.Contains(r.Message, want) {
					t.Errorf("message %q does not say %q", r.Message, want)
				}
			}
		})
	}
}

// The request is Datadog's v1 query over ten intervals ending at the step, with both keys and
// the template's headers.
func TestTheRequest(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies[mt.Value])
	if r := mt.Check(t, backend(nil), srv.URL); r.Verdict != siskinv1.VerdictPass {
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
	if req.Header.Get("X-Team") != "checkout" {
		t.Errorf("the template's header X-Team is %q", req.Header.Get("X-Team"))
	}
}
