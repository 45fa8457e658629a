package dynatrace_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/dynatrace"
	mt "github.com/siskin-dev/siskin/pkg/metrics/metricstest"
)

const token = "dt0c01.ST2EY72KQINMH574WMNVI7YN.G3DFPBEJYMODIDAEX454M7YWBUVEFOWKPRVMWFASS64NFH52PX6BNDVFFM572RZM"

const errorRate = `builtin:service.errors.total.rate:filter(eq("dt.entity.service","{{ variables.service }}")):avg`

const service = "SERVICE-5B9C6B2F1D4E7A30"

func secret(tok string) map[string][]byte {
	return map[string][]byte{"dynatrace_token": []byte(tok + "\n")}
}

var replies = mt.Replies{Value: "query_one_series.json", NoData: "query_no_series.json", Malformed: "malformed.json",
	ServerError: mt.Reply{Status: 503, File: "unavailable.json"},
	Authorized:  func(r *http.Request) bool { return r.Header.Get("Authorization") == "Api-Token "+token },
	Refused:     mt.Reply{Status: 401, File: "unauthorized.json"}}

func backend() mt.Backend {
	return mt.Backend{
		Type:            metrics.TypeDynatrace,
		Pool:            dynatrace.NewPool,
		TimesOut:        true,
		Provider:        siskinv1.MetricTemplateProvider{Headers: map[string][]string{"X-Team": {"checkout"}}},
		Query:           errorRate,
		Variables:       map[string]string{"service": service},
		Rendered:        strings.Replace(errorRate, "{{ variables.service }}", service, 1),
		Secret:          secret(token),
		Serve:           mt.Recorded("testdata", replies, "", func(r mt.Request) string { return r.Query.Get("metricSelector") }),
		Value:           "0.42",
		MissingKey:      "dynatrace_token",
		WrongSecret:     secret("dt0c01.WRONG.TOKEN"),
		WrongSecretSays: []string{"dynatrace query", "401 Unauthorized: Token Authentication failed"},
		ServerErrorSays: []string{"dynatrace query", "503 Service Unavailable", "the cluster is overloaded"},
		MalformedSays:   []string{"dynatrace query", "the answer is not the Metrics API's JSON"},
		Refusals: []mt.Refusal{
			{Name: "a template without address", Secret: secret(token),
				Message: "the dynatrace provider needs provider.address, the Dynatrace environment URL"},
			{Name: "a template without secretRef", Address: mt.AtStand,
				Message: "the dynatrace provider needs a secretRef to a Secret with the key dynatrace_token"},
		},
	}
}

func TestContract(t *testing.T) {
	mt.Contract(t, backend())
}

func TestDynatraceAnswers(t *testing.T) {
	mt.Answers(t, backend(), "testdata", "", []mt.Answer{
		{Name: "a series whose only value is null fails the check as no data", Reply: mt.Reply{Status: 200, File: "query_null_value.json"},
			Verdict: siskinv1.VerdictFail, Says: []string{"no data"}},
		{Name: "several series are an error that says to aggregate", Reply: mt.Reply{Status: 200, File: "query_two_series.json"},
			Verdict: siskinv1.VerdictError, Says: []string{"2 series", "SERVICE-0A1B2C3D4E5F6071", "splitBy"}},
		{Name: "a 400 is an error with Dynatrace's constraint violation", Reply: mt.Reply{Status: 400, File: "bad_selector.json"},
			Verdict: siskinv1.VerdictError, Says: []string{"dynatrace query", "400 Bad Request", "Constraints violated.", "metricSelector: The metric selector is invalid"}},
	})
}

// The request asks the Metrics API v2 for one value (resolution Inf) over ten intervals ending
// at the step, with the token, the template's headers and Siskin's User-Agent.
func TestTheRequest(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	if r := mt.Check(t, backend(), srv.URL); r.Verdict != siskinv1.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Message)
	}
	req := srv.Only(t)
	if req.Method != http.MethodGet || req.Path != "/api/v2/metrics/query" {
		t.Errorf("request %s %s, want GET /api/v2/metrics/query", req.Method, req.Path)
	}
	q, now := req.Query, mt.Now
	// In milliseconds.
	if q.Get("to") != strconv.FormatInt(now.UnixMilli(), 10) || q.Get("from") != strconv.FormatInt(now.Add(-10*time.Minute).UnixMilli(), 10) {
		t.Errorf("window from=%s to=%s, want from=%d to=%d", q.Get("from"), q.Get("to"), now.Add(-10*time.Minute).UnixMilli(), now.UnixMilli())
	}
	if q.Get("resolution") != "Inf" {
		t.Errorf("resolution %q, want Inf", q.Get("resolution"))
	}
	if req.Header.Get("Authorization") != "Api-Token "+token {
		t.Errorf("Authorization %q", req.Header.Get("Authorization"))
	}
	if req.Header.Get("User-Agent") != "siskin" {
		t.Errorf("User-Agent %q, want siskin", req.Header.Get("User-Agent"))
	}
}

func TestQueryErrors(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.NoData))
	c, err := dynatrace.New(metrics.ProviderConfig{Type: "dynatrace", Address: srv.URL, Token: token}, dynatrace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(context.Background(), "builtin:service.errors.total.rate"); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("no series: %v, want ErrNoData", err)
	}
	srv.Reply(mt.Reply{Status: 200, File: "query_two_series.json"})
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
