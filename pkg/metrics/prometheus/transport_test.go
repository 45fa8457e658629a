package prometheus

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

const oneValue = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764072000,"99.5"]}]}}`

// recorder is a Prometheus stand-in that records the requests it gets.
type recorder struct {
	mu       sync.Mutex
	requests []*http.Request
	body     string
	delay    time.Duration
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_ = req.ParseForm()
	r.mu.Lock()
	r.requests = append(r.requests, req)
	body, delay := r.body, r.delay
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
	}
	if body == "" {
		body = oneValue
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

func (r *recorder) last(t *testing.T) *http.Request {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.requests) == 0 {
		t.Fatal("the server got no request")
	}
	return r.requests[len(r.requests)-1]
}

func query(t *testing.T, cfg metrics.ProviderConfig, opts Options) (metrics.Sample, error) {
	t.Helper()
	c, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c.Query(metrics.WithEvaluationTime(context.Background(), evalTime), `sum(up{job="x"})`)
}

func TestCredentialsAndHeadersReachTheServer(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()

	for _, tc := range []struct {
		name string
		cfg  metrics.ProviderConfig
		want func(t *testing.T, r *http.Request)
	}{
		{"bearer token", metrics.ProviderConfig{Address: srv.URL, BearerToken: "s3cret"}, func(t *testing.T, r *http.Request) {
			if got := r.Header.Get("Authorization"); got != "Bearer s3cret" {
				t.Errorf("Authorization = %q", got)
			}
		}},
		{"basic auth", metrics.ProviderConfig{Address: srv.URL, Username: "siskin", Password: "pw"}, func(t *testing.T, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "siskin" || p != "pw" {
				t.Errorf("basic auth = %q %q %t", u, p, ok)
			}
		}},
		{"the token wins over a header of the same name", metrics.ProviderConfig{Address: srv.URL, BearerToken: "t",
			Headers: map[string][]string{"Authorization": {"Basic eA=="}}}, func(t *testing.T, r *http.Request) {
			if got := r.Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer t" {
				t.Errorf("Authorization = %q", got)
			}
		}},
		{"custom headers and Host", metrics.ProviderConfig{Address: srv.URL, Headers: map[string][]string{
			"X-Scope-OrgID": {"team-a"}, "X-Multi": {"1", "2"}, "Host": {"prometheus.example"}}}, func(t *testing.T, r *http.Request) {
			if r.Header.Get("X-Scope-OrgID") != "team-a" || len(r.Header.Values("X-Multi")) != 2 || r.Host != "prometheus.example" {
				t.Errorf("headers = %v, host %q", r.Header, r.Host)
			}
			if r.Header.Get("Authorization") != "" {
				t.Errorf("Authorization sent without credentials: %q", r.Header.Get("Authorization"))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := query(t, tc.cfg, Options{})
			if err != nil || s.Value != 99.5 {
				t.Fatalf("Query = %v, %v", s, err)
			}
			r := rec.last(t)
			tc.want(t, r)
			if r.URL.Path != "/api/v1/query" || r.Form.Get("query") != `sum(up{job="x"})` || r.Form.Get("time") != strconv.FormatInt(evalTime.Unix(), 10) {
				t.Errorf("request %s %s form %v", r.Method, r.URL.Path, r.Form)
			}
			if r.Form.Get("timeout") == "" {
				t.Errorf("no server-side timeout sent: %v", r.Form)
			}
		})
	}
}

func TestAddressWithAPathPrefix(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	if _, err := query(t, metrics.ProviderConfig{Address: srv.URL + "/prometheus"}, Options{}); err != nil {
		t.Fatal(err)
	}
	if p := rec.last(t).URL.Path; p != "/prometheus/api/v1/query" {
		t.Errorf("path = %q", p)
	}
}

func TestInsecureSkipVerify(t *testing.T) {
	srv := httptest.NewUnstartedServer(&recorder{})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshake is expected
	srv.StartTLS()
	defer srv.Close()
	if _, err := query(t, metrics.ProviderConfig{Address: srv.URL}, Options{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a self-signed certificate was accepted without insecureSkipVerify: %v", err)
	}
	if s, err := query(t, metrics.ProviderConfig{Address: srv.URL, InsecureSkipVerify: true}, Options{}); err != nil || s.Value != 99.5 {
		t.Errorf("with insecureSkipVerify: %v, %v", s, err)
	}
}

func TestQueryTimeout(t *testing.T) {
	srv := httptest.NewServer(&recorder{delay: 5 * time.Second})
	defer srv.Close()
	start := time.Now()
	_, err := query(t, metrics.ProviderConfig{Address: srv.URL}, Options{QueryTimeout: 100 * time.Millisecond})
	if err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("a slow server: %v after %s, want an error after the 100ms query timeout", err, time.Since(start))
	}
}

func TestResponseSizeIsBounded(t *testing.T) {
	big := `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pad":"` + strings.Repeat("x", 4096) + `"},"value":[1764072000,"1"]}]}}`
	srv := httptest.NewServer(&recorder{body: big})
	defer srv.Close()
	if _, err := query(t, metrics.ProviderConfig{Address: srv.URL}, Options{MaxResponseBytes: 1024}); !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("Query of a %d-byte answer with a 1024-byte limit: %v, want ErrResponseTooLarge", len(big), err)
	}
	if _, err := query(t, metrics.ProviderConfig{Address: srv.URL}, Options{MaxResponseBytes: int64(len(big))}); err != nil {
		t.Errorf("Query of an answer of exactly the limit: %v", err)
	}
}

func TestServerErrorsAreErrors(t *testing.T) {
	srv := httptest.NewServer(&recorder{body: `{"status":"error","errorType":"bad_data","error":"parse error"}`})
	defer srv.Close()
	_, err := query(t, metrics.ProviderConfig{Address: srv.URL}, Options{})
	if err == nil || errors.Is(err, metrics.ErrNoData) || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("Query = %v, want the server's error", err)
	}
}

// A server that redirects must not get the provider's credentials sent on to wherever it points.
func TestRedirectsAreNotFollowed(t *testing.T) {
	elsewhere := &recorder{}
	second := httptest.NewServer(elsewhere)
	defer second.Close()
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, second.URL+r.URL.Path+"?token=s3cret", http.StatusTemporaryRedirect)
	}))
	defer first.Close()

	for _, cfg := range []metrics.ProviderConfig{
		{Address: first.URL, BearerToken: "platform-token"},
		{Address: first.URL, Username: "siskin", Password: "pw"},
		{Address: first.URL, Headers: http.Header{"X-Scope-OrgID": {"platform"}}},
		{Address: first.URL},
	} {
		_, err := query(t, cfg, Options{})
		if !errors.Is(err, ErrRedirect) {
			t.Errorf("%s: Query = %v, want ErrRedirect", cfg, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the redirect's secret: %v", cfg, err)
		}
	}
	elsewhere.mu.Lock()
	defer elsewhere.mu.Unlock()
	for _, r := range elsewhere.requests {
		t.Errorf("the redirect was followed: %s %s with Authorization %q, X-Scope-OrgID %q",
			r.Method, r.URL, r.Header.Get("Authorization"), r.Header.Get("X-Scope-OrgID"))
	}
}

func TestErrorsRedactTheAddress(t *testing.T) {
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close() // nothing listens on its address any more
	host := strings.TrimPrefix(refused.URL, "http://")
	secrets := []string{"admin", "hunter2", "s3cret"}
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: the error shows %q: %v", what, s, err)
			}
		}
	}

	c, err := New(metrics.ProviderConfig{Address: "http://admin:hunter2@" + host + "/?token=s3cret"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(context.Background(), "up")
	check("query", err)
	_, err = New(metrics.ProviderConfig{Address: "http://admin:hunter2@prometheus:port"}, Options{})
	check("an address that does not parse", err)
	_, err = New(metrics.ProviderConfig{Address: "ftp://admin:hunter2@prometheus/?token=s3cret"}, Options{})
	check("an address that is not http", err)
}
