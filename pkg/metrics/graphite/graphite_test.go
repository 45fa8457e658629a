package graphite_test

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
	"github.com/siskin-dev/siskin/pkg/metrics/graphite"
	mt "github.com/siskin-dev/siskin/pkg/metrics/metricstest"
)

const (
	username = "siskin"
	password = "s3cr3t-graphite-pw"
)

// errorRate is a Flagger graphite query: render parameters over several YAML lines.
const errorRate = `target=sumSeries(
  stats.{{ namespace }}.{{ target }}-canary.errors)`

func credentials() map[string][]byte {
	return map[string][]byte{"username": []byte(username), "password": []byte(password + "\n")}
}

var replies = mt.Replies{Value: "render_one_series.json", NoData: "render_no_series.json", Malformed: "malformed.json",
	ServerError: mt.Reply{Status: 500, File: "server_error.html"},
	Authorized: func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == username && p == password
	},
	Refused: mt.Reply{Status: 401, File: "unauthorized.html", Header: map[string]string{"WWW-Authenticate": `Basic realm="graphite"`}}}

func backend() mt.Backend {
	return mt.Backend{
		Type:            metrics.TypeGraphite,
		Pool:            graphite.NewPool,
		TimesOut:        true,
		Provider:        siskinv1.MetricTemplateProvider{Headers: map[string][]string{"X-Team": {"checkout"}}},
		Query:           errorRate,
		Rendered:        "sumSeries( stats.test.podinfo-canary.errors)",
		Secret:          credentials(),
		Serve:           mt.Recorded("testdata", replies, "", func(r mt.Request) string { return r.Query.Get("target") }),
		Value:           "0.25",
		MissingKey:      "password",
		WrongSecret:     map[string][]byte{"username": []byte(username), "password": []byte("wrong-password")},
		WrongSecretSays: []string{"graphite query", "401 Unauthorized"},
		ServerErrorSays: []string{"graphite query", "500 Internal Server Error", "Server Error (500)"},
		MalformedSays:   []string{"graphite query", "the answer is not the render API's JSON"},
		Refusals: []mt.Refusal{
			{Name: "a template without address", Secret: credentials(),
				Message: "the graphite provider needs provider.address, the graphite-web URL"},
		},
	}
}

func TestContract(t *testing.T) {
	mt.Contract(t, backend())
}

func TestGraphiteAnswers(t *testing.T) {
	mt.Answers(t, backend(), "testdata", "", []mt.Answer{
		{Name: "a series of null datapoints fails the check, as in Flagger", Reply: mt.Reply{Status: 200, File: "render_null_points.json"},
			Verdict: siskinv1.VerdictFail, Says: []string{"no data"}},
		{Name: "several series are an error that says to aggregate", Reply: mt.Reply{Status: 200, File: "render_two_series.json"},
			Verdict: siskinv1.VerdictError, Says: []string{"2 series", "podinfo-canary-1", "sumSeries"}},
		{Name: "a 400 is an error with graphite-web's reason", Reply: mt.Reply{Status: 400, File: "bad_target.html"},
			Verdict: siskinv1.VerdictError, Says: []string{"graphite query", "400 Bad Request", "sumSerie"}},
	})
}

// The request is the render API below the address's path, format=json, over ten intervals
// ending at the step when the query names neither from nor until, with the template's headers.
func TestTheRequest(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	if r := mt.Check(t, backend(), srv.URL+"/graphite/"); r.Verdict != siskinv1.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Message)
	}
	req := srv.Only(t)
	if req.Method != http.MethodGet || req.Path != "/graphite/render" {
		t.Errorf("request %s %s, want GET /graphite/render", req.Method, req.Path)
	}
	q, now := req.Query, mt.Now
	if q.Get("format") != "json" {
		t.Errorf("format %q, want json", q.Get("format"))
	}
	if q.Get("until") != strconv.FormatInt(now.Unix(), 10) || q.Get("from") != strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10) {
		t.Errorf("window from=%s until=%s, want from=%d until=%d", q.Get("from"), q.Get("until"), now.Add(-10*time.Minute).Unix(), now.Unix())
	}
	if u, p, ok := (&http.Request{Header: req.Header}).BasicAuth(); !ok || u != username || p != password {
		t.Errorf("basic auth %q %q %t", u, p, ok)
	}
}

func TestTheQuerysFromAndUntilAreKept(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	b := backend()
	b.Query = "target=summarize(stats.a;env=prod, '1min', 'sum')&from=-{{ interval }}"
	if r := mt.Check(t, b, srv.URL); r.Verdict != siskinv1.VerdictPass {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	q := srv.Only(t).Query
	if q.Get("target") != "summarize(stats.a;env=prod, '1min', 'sum')" || q.Get("from") != "-1min" || q.Has("until") {
		t.Errorf("parameters %v: want the tagged target, from=-1min (graphite's unit for {{ interval }}'s 1m) and no until", q)
	}
}

func TestWithoutSecretNoCredentialsAreSent(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	b := backend()
	b.Secret = nil
	if r := mt.Check(t, b, srv.URL); r.Verdict != siskinv1.VerdictPass {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if _, _, ok := (&http.Request{Header: srv.Only(t).Header}).BasicAuth(); ok {
		t.Error("basic auth sent without a secretRef")
	}
}

func TestQueriesTheRenderAPICannotTake(t *testing.T) {
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
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
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("the stand-in received %d requests", n)
	}
	if _, err := c.Query(context.Background(), "target=a.b"); err != nil {
		t.Errorf("a plain target: %v", err)
	}
	srv.Reply(mt.Reply{Status: 200, File: "render_two_series.json"})
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
