package prometheus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/prometheus"
)

// The mesh stand-in serves Istio-standard series whose rates are known: the canary
// (destination_workload="podinfo") answers 90 requests/s with 200 and 10/s with 500, so its
// success rate is 90%; 60% of its requests take up to 25ms, 30% 25-50ms and 10% 50-100ms, so
// its P99 is 50 + (99-90)/10 × 50 = 95ms. Every counter is rate × seconds since start, so the
// ratios PromQL computes are exact whatever rate()'s extrapolation does. The primary and the
// source reporter have other values: if a query selected them, the results would differ.
const (
	wantSuccessRate = 90.0
	wantP99         = 95.0
)

type meshExporter struct {
	start time.Time
}

func (e *meshExporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	t := time.Since(e.start).Seconds()
	var b strings.Builder
	series := func(name, labels string, perSecond float64) {
		fmt.Fprintf(&b, "%s{%s} %s\n", name, labels, strconv.FormatFloat(perSecond*t, 'f', -1, 64))
	}
	dest := func(workload string) string {
		return `reporter="destination",destination_workload_namespace="test",destination_workload="` + workload + `"`
	}
	b.WriteString("# TYPE istio_requests_total counter\n")
	series("istio_requests_total", dest("podinfo")+`,response_code="200"`, 90)
	series("istio_requests_total", dest("podinfo")+`,response_code="500"`, 10)
	series("istio_requests_total", dest("podinfo-primary")+`,response_code="503"`, 50)
	series("istio_requests_total", `reporter="source",destination_workload_namespace="test",destination_workload="podinfo",response_code="503"`, 70)

	b.WriteString("# TYPE istio_request_duration_milliseconds histogram\n")
	for _, bucket := range []struct {
		workload string
		le       string
		rate     float64
	}{
		{"podinfo", "25", 60}, {"podinfo", "50", 90}, {"podinfo", "100", 100}, {"podinfo", "250", 100}, {"podinfo", "+Inf", 100},
		{"podinfo-primary", "25", 0}, {"podinfo-primary", "50", 0}, {"podinfo-primary", "100", 0}, {"podinfo-primary", "250", 50}, {"podinfo-primary", "+Inf", 50},
	} {
		series("istio_request_duration_milliseconds_bucket", dest(bucket.workload)+`,le="`+bucket.le+`"`, bucket.rate)
	}
	series("istio_request_duration_milliseconds_sum", dest("podinfo"), 2500)
	series("istio_request_duration_milliseconds_count", dest("podinfo"), 100)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write([]byte(b.String()))
}

func TestAgainstARealPrometheus(t *testing.T) {
	bin := prometheusBinary(t)
	exporter := httptest.NewServer(&meshExporter{start: time.Now()})
	t.Cleanup(exporter.Close)
	address := startPrometheus(t, bin, strings.TrimPrefix(exporter.URL, "http://"))

	pool := prometheus.NewPool(prometheus.Options{})
	client, err := pool.Client(metrics.ProviderConfig{Address: address})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	waitForRates(ctx, t, client)

	templates := templateMap{
		"test/error-rate": `
			sum(rate(istio_requests_total{reporter="destination", destination_workload_namespace="{{ namespace }}",
				destination_workload=~"{{ variables.workload }}", response_code=~"{{ variables.codes }}"}[{{ interval }}]))
			/
			sum(rate(istio_requests_total{reporter="destination", destination_workload_namespace="{{ namespace }}",
				destination_workload=~"{{ variables.workload }}"}[{{ interval }}])) * 100`,
		"test/requests":   `istio_requests_total{reporter="destination", destination_workload="{{ target }}"}`,
		"test/sample":     `sum(increase(istio_requests_total{destination_workload="{{ target }}"}[{{ interval }}]))`,
		"test/big-sample": `sum(increase(istio_requests_total{destination_workload="{{ target }}"}[{{ interval }}])) / 1e9`,
	}
	ref := func(name string) *siskinv1.CrossNamespaceObjectReference {
		return &siskinv1.CrossNamespaceObjectReference{Name: name}
	}
	canary := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: siskinv1.CanarySpec{
			TargetRef: siskinv1.TargetReference{Kind: "Deployment", Name: "podinfo"},
			Service:   siskinv1.CanaryService{Port: 9898},
			Analysis: &siskinv1.CanaryAnalysis{Metrics: []siskinv1.CanaryMetric{
				{Name: siskinv1.MetricRequestSuccessRate, Interval: "1m", ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr(99.0)}},
				{Name: siskinv1.MetricRequestDuration, Interval: "30s", ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr(500.0)}},
				{Name: "error-rate", TemplateRef: ref("error-rate"), ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr(20.0)},
					TemplateVariables: map[string]string{"workload": "podinfo", "codes": "5.*"}},
				{Name: "no-traffic", TemplateRef: ref("error-rate"), ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr(1.0)},
					TemplateVariables: map[string]string{"workload": "absent", "codes": "5.*"}},
				{Name: "waits-for-traffic", TemplateRef: ref("error-rate"), ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr(1.0)},
					TemplateVariables: map[string]string{"workload": "podinfo", "codes": "5.*"}},
				{Name: "enough-traffic", TemplateRef: ref("error-rate"), ThresholdRange: &siskinv1.CanaryThresholdRange{Max: ptr(1.0)},
					TemplateVariables: map[string]string{"workload": "podinfo", "codes": "5.*"}},
				{Name: "several-series", TemplateRef: ref("requests"), ThresholdRange: &siskinv1.CanaryThresholdRange{Min: ptr(0.0)}},
			}},
		},
	}
	analyzer := metrics.NewAnalyzer(metrics.AnalyzerOptions{
		Providers: pool,
		Templates: templates,
		Default:   metrics.ProviderConfig{Address: address},
	})
	now := time.Now()
	results := analyzer.Run(ctx, metrics.Step{
		Canary: canary, Router: siskinv1.ProviderIstio, Now: now,
		MinSamples: map[string]metrics.MinSample{
			"waits-for-traffic": {Query: templates["test/big-sample"], Min: 1},
			"enough-traffic":    {Query: templates["test/sample"], Min: 1},
		},
	})

	want := []struct {
		verdict siskinv1.CheckVerdict
		value   float64 // NaN: no value
		message string  // a prefix
	}{
		{siskinv1.VerdictFail, wantSuccessRate, "request-success-rate 90.00 below min 99"},
		{siskinv1.VerdictPass, wantP99, "request-duration 95.00 not above max 500"},
		{siskinv1.VerdictPass, 100 - wantSuccessRate, "error-rate 10.00 not above max 20"},
		{siskinv1.VerdictFail, math.NaN(), "no-traffic no data: the query returned no value"},
		{siskinv1.VerdictNoData, math.NaN(), "waits-for-traffic waiting for data: sample 0."},
		{siskinv1.VerdictFail, 100 - wantSuccessRate, "enough-traffic 10.00 above max 1 (sample "},
		{siskinv1.VerdictError, math.NaN(), "several-series query failed: "},
	}
	if len(results) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(results), len(want), results)
	}
	for i, w := range want {
		r := results[i]
		if r.Verdict != w.verdict || !strings.HasPrefix(r.Message, w.message) || !r.Time.Time.Equal(now) {
			t.Errorf("%s: got %s %q at %s, want %s %q…", r.Name, r.Verdict, r.Message, r.Time, w.verdict, w.message)
		}
		if math.IsNaN(w.value) {
			if r.Value != "" {
				t.Errorf("%s: value %q, want none", r.Name, r.Value)
			}
			continue
		}
		if got, err := strconv.ParseFloat(r.Value, 64); err != nil || math.Abs(got-w.value) > 0.01 {
			t.Errorf("%s: value %q, want %.2f", r.Name, r.Value, w.value)
		}
	}
	if !strings.Contains(results[6].Message, "2 series") {
		t.Errorf("several-series: %q does not count the series", results[6].Message)
	}

	// The built-in queries, unrounded: exact up to float error.
	for metric, want := range map[string]float64{siskinv1.MetricRequestSuccessRate: wantSuccessRate, siskinv1.MetricRequestDuration: wantP99} {
		text, err := metrics.BuiltinQuery(siskinv1.ProviderIstio, metric)
		if err != nil {
			t.Fatal(err)
		}
		q, err := metrics.Render(ctx, text, metrics.Vars{Namespace: "test", Target: "podinfo", Interval: "1m"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := client.Query(metrics.WithEvaluationTime(ctx, now), q)
		if err != nil || math.Abs(s.Value-want) > 1e-6 {
			t.Errorf("%s = %v, %v; want %v", metric, s.Value, err, want)
		}
	}

	// Every built-in query of every router is valid PromQL: the Gateway API queries read the
	// same Istio series; the app-emitted series of the kubernetes router are absent here, so
	// its queries find no data, which is not an error.
	for _, router := range []string{siskinv1.ProviderGatewayAPI, siskinv1.ProviderKubernetes} {
		res := analyzer.Run(ctx, metrics.Step{Canary: builtinsOnly(canary), Router: router, Now: now,
			MinSamples: map[string]metrics.MinSample{siskinv1.MetricRequestDuration: {Min: 1}}})
		for _, r := range res {
			var wantVerdict siskinv1.CheckVerdict
			switch {
			case router == siskinv1.ProviderGatewayAPI && r.Name == siskinv1.MetricRequestSuccessRate:
				wantVerdict = siskinv1.VerdictFail // 90 below min 99
			case router == siskinv1.ProviderGatewayAPI:
				wantVerdict = siskinv1.VerdictPass
			case r.Name == siskinv1.MetricRequestSuccessRate:
				wantVerdict = siskinv1.VerdictFail // no data, no min sample
			default:
				wantVerdict = siskinv1.VerdictNoData // waits for its min sample
			}
			if r.Verdict != wantVerdict {
				t.Errorf("%s %s: got %s %q, want %s", router, r.Name, r.Verdict, r.Message, wantVerdict)
			}
		}
	}

	if pool.Len() != 1 {
		t.Errorf("the pool holds %d clients after checks on one server, want 1", pool.Len())
	}
}

// builtinsOnly returns a copy of c with its built-in metrics only.
func builtinsOnly(c *siskinv1.Canary) *siskinv1.Canary {
	c = c.DeepCopy()
	var ms []siskinv1.CanaryMetric
	for _, m := range c.Spec.Analysis.Metrics {
		if metrics.IsBuiltin(m.Name) {
			ms = append(ms, m)
		}
	}
	c.Spec.Analysis.Metrics = ms
	return c
}

func ptr(f float64) *float64 { return &f }

// templateMap is a TemplateReader of "namespace/name" to query.
type templateMap map[string]string

func (m templateMap) MetricTemplate(_ context.Context, ns, name string) (*siskinv1.MetricTemplate, error) {
	q, ok := m[ns+"/"+name]
	if !ok {
		return nil, errors.New("not found")
	}
	return &siskinv1.MetricTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       siskinv1.MetricTemplateSpec{Query: q},
	}, nil
}

// prometheusBinary returns the Prometheus server binary, failing the test when it is missing.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	const bin = "/usr/bin/prometheus"
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	t.Fatalf("the Prometheus server is not installed (%s): run hack/prometheus.sh to install it", bin)
	return ""
}

// syncBuffer collects the server's output for the failure report.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startPrometheus starts a server on a loopback port with temporary storage that scrapes
// target every second, and returns its address. Cleanup kills it.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: mesh
    static_configs:
      - targets: [%q]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	listen := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, //nolint:noctx // killed in cleanup, not by a context
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen,
		"--log.level=warn",
	)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		exit := <-exited
		if t.Failed() {
			t.Logf("prometheus (%v) output:\n%s", exit, out.String())
		}
	})

	address := "http://" + listen
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited: %v\n%s", err, out.String())
		default:
		}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, address+"/-/ready", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return address
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus at %s not ready after 15s\n%s", address, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// waitForRates waits until Prometheus has scraped enough for the built-in queries to answer.
func waitForRates(ctx context.Context, t *testing.T, c *prometheus.Client) {
	t.Helper()
	var queries []string
	for _, metric := range []string{siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration} {
		text, err := metrics.BuiltinQuery(siskinv1.ProviderIstio, metric)
		if err != nil {
			t.Fatal(err)
		}
		q, err := metrics.Render(ctx, text, metrics.Vars{Namespace: "test", Target: "podinfo", Interval: "30s"})
		if err != nil {
			t.Fatal(err)
		}
		queries = append(queries, q)
	}
	for {
		var err error
		for _, q := range queries {
			if _, err = c.Query(ctx, q); err != nil {
				break
			}
		}
		if err == nil {
			return
		}
		if !errors.Is(err, metrics.ErrNoData) {
			t.Fatalf("built-in query failed: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no data from prometheus in time: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
