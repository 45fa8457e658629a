package cloudwatch_test

import (
	"context"
	"encoding/json"
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
	"github.com/siskin-dev/siskin/pkg/metrics/cloudwatch"
)

const (
	accessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
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

// request is what the fake CloudWatch received.
type request struct {
	method, path, target, contentType, authorization string
	body                                             map[string]any
}

// fakeCloudWatch answers every request with one recorded answer of CloudWatch's AWS JSON 1.0
// API and keeps the requests it received.
type fakeCloudWatch struct {
	status int
	file   string

	mu       sync.Mutex
	requests []request
}

func (f *fakeCloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	req := request{method: r.Method, path: r.URL.Path, target: r.Header.Get("X-Amz-Target"),
		contentType: r.Header.Get("Content-Type"), authorization: r.Header.Get("Authorization")}
	_ = json.Unmarshal(raw, &req.body)
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()

	body, err := os.ReadFile(filepath.Join("testdata", f.file))
	if err != nil {
		http.Error(w, err.Error(), http.StatusTeapot)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", "4f2c1a9e-1b7d-4c0e-9a51-7d0d3c6f2b10")
	if f.status == http.StatusForbidden {
		w.Header().Set("X-Amzn-Query-Error", "AccessDenied;Sender")
	}
	w.WriteHeader(f.status)
	_, _ = w.Write(body)
}

func (f *fakeCloudWatch) received() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// now is the step time of the recorded answers.
var now = time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)

func readQuery(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// check runs one step of a canary whose only metric is the cloudwatch template "error-rate"
// with a max of 0.1, and returns its result.
func check(t *testing.T, address, queryFile string, secret map[string][]byte) siskinv1.CheckResult {
	t.Helper()
	threshold := 0.1
	templates := templateObjects{"test/error-rate": {
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "error-rate"},
		Spec: siskinv1.MetricTemplateSpec{
			Provider: siskinv1.MetricTemplateProvider{Type: "cloudwatch", Address: address, Region: "us-east-1",
				SecretRef: &siskinv1.LocalObjectReference{Name: "aws"}},
			Query: readQuery(t, queryFile),
		},
	}}
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{
		Providers: metrics.Backends{metrics.TypeCloudWatch: cloudwatch.NewPool(cloudwatch.Options{})},
		Templates: templates,
		Secrets:   secretMap{"test/aws": secret},
	})
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "podinfo"},
		Spec: siskinv1.CanarySpec{TargetRef: siskinv1.TargetReference{Name: "podinfo"}, Analysis: &siskinv1.CanaryAnalysis{
			Metrics: []siskinv1.CanaryMetric{{Name: "error-rate", Interval: "1m",
				TemplateRef:    &siskinv1.CrossNamespaceObjectReference{Name: "error-rate"},
				ThresholdRange: &siskinv1.CanaryThresholdRange{Max: &threshold}}},
		}},
	}
	results := a.Run(context.Background(), metrics.Step{Canary: c, Router: siskinv1.ProviderIstio, Now: now})
	if len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	return results[0]
}

func keys() map[string][]byte {
	return map[string][]byte{"aws_access_key_id": []byte(accessKeyID), "aws_secret_access_key": []byte(secretAccessKey + "\n")}
}

// isolateFromTheHost keeps the SDK's default configuration from reading the host's AWS files
// or asking an instance metadata service.
func isolateFromTheHost(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "")
	t.Setenv("AWS_CA_BUNDLE", "")
}

func TestQueryThroughTheAnalyzer(t *testing.T) {
	isolateFromTheHost(t)
	for _, tc := range []struct {
		name    string
		status  int
		file    string
		verdict siskinv1.CheckVerdict
		value   string
		message []string
	}{
		{name: "the newest value of the returned query passes the threshold", status: 200, file: "error_rate.json",
			verdict: siskinv1.VerdictPass, value: "0.02", message: []string{"error-rate 0.02 not above max 0.1"}},
		{name: "the newest value of the returned query fails the threshold", status: 200, file: "error_rate_high.json",
			verdict: siskinv1.VerdictFail, value: "0.30", message: []string{"error-rate 0.30 above max 0.1"}},
		{name: "no values fails the check, as in Flagger", status: 200, file: "no_values.json",
			verdict: siskinv1.VerdictFail, message: []string{"no data"}},
		{name: "a 403 is an error naming cloudwatch and AWS's reason", status: 403, file: "access_denied.json",
			verdict: siskinv1.VerdictError, message: []string{"cloudwatch GetMetricData", "403", "not authorized to perform: cloudwatch:GetMetricData"}},
		{name: "a 500 is an error naming cloudwatch and the status", status: 500, file: "internal_failure.json",
			verdict: siskinv1.VerdictError, message: []string{"cloudwatch GetMetricData", "500"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeCloudWatch{status: tc.status, file: tc.file}
			srv := httptest.NewServer(fake)
			defer srv.Close()

			r := check(t, srv.URL, "query.json", keys())
			if r.Verdict != tc.verdict || r.Value != tc.value {
				t.Errorf("verdict %s value %q, want %s %q: %s", r.Verdict, r.Value, tc.verdict, tc.value, r.Message)
			}
			for _, want := range tc.message {
				if !strings.Contains(r.Message, want) {
					t.Errorf("message %q does not say %q", r.Message, want)
				}
			}
			if strings.Contains(r.Message, secretAccessKey) || strings.Contains(r.Message, accessKeyID) {
				t.Errorf("message shows a key: %s", r.Message)
			}

			reqs := fake.received()
			if len(reqs) != 1 {
				t.Fatalf("the fake CloudWatch received %d requests, want 1 (no retries)", len(reqs))
			}
			req := reqs[0]
			if req.method != http.MethodPost || req.path != "/" || req.target != "GraniteServiceVersion20100801.GetMetricData" ||
				req.contentType != "application/x-amz-json-1.0" {
				t.Errorf("request %s %s X-Amz-Target %q Content-Type %q, want the AWS JSON 1.0 GetMetricData call",
					req.method, req.path, req.target, req.contentType)
			}
			if !strings.HasPrefix(req.authorization, "AWS4-HMAC-SHA256 Credential="+accessKeyID+"/") ||
				!strings.Contains(req.authorization, "/us-east-1/monitoring/aws4_request") {
				t.Errorf("Authorization %q is not a SigV4 signature of the Secret's key for us-east-1", req.authorization)
			}
			if strings.Contains(req.authorization, secretAccessKey) {
				t.Error("the secret access key was sent")
			}
			// The window ends at the step and reaches back ten intervals of 1m.
			if req.body["StartTime"] != float64(now.Add(-10*time.Minute).Unix()) || req.body["EndTime"] != float64(now.Unix()) ||
				req.body["ScanBy"] != "TimestampDescending" {
				t.Errorf("StartTime %v EndTime %v ScanBy %v", req.body["StartTime"], req.body["EndTime"], req.body["ScanBy"])
			}
			queries, _ := req.body["MetricDataQueries"].([]any)
			if len(queries) != 3 {
				t.Fatalf("MetricDataQueries %v", req.body["MetricDataQueries"])
			}
			m1, _ := json.Marshal(queries[1])
			if want := `{"Id":"m1","MetricStat":{"Metric":{"Dimensions":[{"Name":"appName","Value":"podinfo"}],"MetricName":"ErrorCount","Namespace":"MyKubernetesCluster"},"Period":60,"Stat":"Sum","Unit":"Count"},"ReturnData":false}`; string(m1) != want {
				t.Errorf("MetricDataQuery m1 sent as %s, want %s", m1, want)
			}
		})
	}
}

func TestSeveralReturnedQueriesAreAnError(t *testing.T) {
	isolateFromTheHost(t)
	fake := &fakeCloudWatch{status: 200, file: "error_rate.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, srv.URL, "query_two_returned.json", keys())
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, `2 of the cloudwatch query's MetricDataQuery return data, want 1 (set "ReturnData": false on the others)`) {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if n := len(fake.received()); n != 0 {
		t.Errorf("the fake CloudWatch received %d requests for a query that cannot be judged", n)
	}
}

func TestMissingKeysAreAClearError(t *testing.T) {
	isolateFromTheHost(t)
	fake := &fakeCloudWatch{status: 200, file: "error_rate.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	r := check(t, srv.URL, "query.json", map[string][]byte{"aws_access_key_id": []byte(accessKeyID)})
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "Secret aws lacks the key aws_secret_access_key") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if n := len(fake.received()); n != 0 {
		t.Errorf("the fake CloudWatch received %d requests without the keys", n)
	}
}

// Without keys in the configuration the SDK's default chain signs, here from the environment.
func TestDefaultCredentialChain(t *testing.T) {
	isolateFromTheHost(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT00000")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "environment-secret")
	fake := &fakeCloudWatch{status: 200, file: "error_rate.json"}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	c, err := cloudwatch.New(metrics.ProviderConfig{Type: "cloudwatch", Region: "eu-west-1", Address: srv.URL}, cloudwatch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Query(metrics.WithEvaluationTime(context.Background(), now), readQuery(t, "query.json"))
	if err != nil || s.Value != 0.02 || !s.Time.Equal(time.Unix(1796140740, 0)) {
		t.Errorf("Query = %v, %v", s, err)
	}
	reqs := fake.received()
	if len(reqs) != 1 || !strings.HasPrefix(reqs[0].authorization, "AWS4-HMAC-SHA256 Credential=AKIAENVIRONMENT00000/") ||
		!strings.Contains(reqs[0].authorization, "/eu-west-1/monitoring/") {
		t.Errorf("requests %+v", reqs)
	}
}

func TestQueryThatIsNoMetricDataQueryArray(t *testing.T) {
	isolateFromTheHost(t)
	c, err := cloudwatch.New(metrics.ProviderConfig{Type: "cloudwatch", Region: "us-east-1", Address: "http://127.0.0.1:1",
		AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey}, cloudwatch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for query, want := range map[string]string{
		`sum(rate(x[1m]))`:               "not a JSON array of MetricDataQuery",
		`[]`:                             "empty array",
		`[{"Id":"m1","MetricStatt":{}}]`: `unknown field "MetricStatt"`,
		`[{"Expression":"SELECT 1","Label":"x"}]`:   "has no Id",
		`[{"Id":"a","ReturnData":false}]`:           "0 of the cloudwatch query's MetricDataQuery return data",
		`[{"Id":"a"},{"Id":"b","ReturnData":true}]`: "2 of the cloudwatch query's MetricDataQuery return data",
	} {
		if _, err := c.Query(context.Background(), query); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", query, err, want)
		}
	}
}
