package cloudwatch_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/cloudwatch"
	mt "github.com/siskin-dev/siskin/pkg/metrics/metricstest"
)

const (
	accessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func readQuery(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// body is the JSON body of a request.
func body(r mt.Request) map[string]any {
	var b map[string]any
	_ = json.Unmarshal(r.Body, &b)
	return b
}

// queries are the MetricDataQueries a request sends, as JSON.
func queries(r mt.Request) string {
	out, _ := json.Marshal(body(r)["MetricDataQueries"])
	return string(out)
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

// amzJSON is the content type of CloudWatch's AWS JSON 1.0 answers.
var amzJSON = map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amzn-Requestid": "4f2c1a9e-1b7d-4c0e-9a51-7d0d3c6f2b10"}

var replies = mt.Replies{Value: "error_rate.json", NoData: "no_values.json", Malformed: "malformed.json",
	ServerError: mt.Reply{Status: 500, File: "internal_failure.json"}, Header: amzJSON,
	Authorized: func(r *http.Request) bool {
		return strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="+accessKeyID+"/")
	},
	Refused: mt.Reply{Status: 403, File: "invalid_client_token.json", Header: amzJSON}}

func backend(t *testing.T) mt.Backend {
	var rendered []any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(readQuery(t, "query.json"), "{{ target }}", "podinfo")), &rendered); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(rendered)
	return mt.Backend{
		Type:            metrics.TypeCloudWatch,
		Pool:            cloudwatch.NewPool,
		Provider:        siskinv1.MetricTemplateProvider{Region: "us-east-1"},
		Query:           readQuery(t, "query.json"),
		Rendered:        string(want),
		Secret:          keys(),
		Serve:           mt.Recorded("testdata", replies, "", queries),
		Value:           "0.02",
		MissingKey:      "aws_secret_access_key",
		WrongSecret:     map[string][]byte{"aws_access_key_id": []byte("AKIAWRONGWRONGWRONG0"), "aws_secret_access_key": []byte(secretAccessKey)},
		WrongSecretSays: []string{"cloudwatch GetMetricData", "403", "InvalidClientTokenId"},
		ServerErrorSays: []string{"cloudwatch GetMetricData", "StatusCode: 500", "InternalServiceFault: Internal service error"},
		MalformedSays:   []string{"cloudwatch GetMetricData", "deserialization failed"},
		Refusals: []mt.Refusal{
			{Name: "an address without secretRef", Address: mt.AtStand,
				Message: "a cloudwatch provider.address needs a secretRef beside it; the controller's own AWS credentials only go to AWS"},
		},
	}
}

func TestContract(t *testing.T) {
	isolateFromTheHost(t)
	mt.Contract(t, backend(t))
}

func TestAccessDeniedIsAnErrorWithAWSsReason(t *testing.T) {
	isolateFromTheHost(t)
	srv := mt.NewServer(t, "testdata").Reply(mt.Reply{Status: 403, File: "access_denied.json",
		Header: map[string]string{"Content-Type": amzJSON["Content-Type"], "X-Amzn-Query-Error": "AccessDenied;Sender"}})
	r := mt.Check(t, backend(t), srv.URL)
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, "cloudwatch GetMetricData") || !strings.Contains(r.Message, "403") ||
		!strings.Contains(r.Message, "not authorized to perform: cloudwatch:GetMetricData") {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
}

// The request is the AWS JSON 1.0 GetMetricData call, signed with the Secret's key for the
// region, over ten intervals ending at the step.
func TestTheRequest(t *testing.T) {
	isolateFromTheHost(t)
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	if r := mt.Check(t, backend(t), srv.URL); r.Verdict != siskinv1.VerdictPass {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Message)
	}
	req := srv.Only(t)
	if req.Method != http.MethodPost || req.Path != "/" || req.Header.Get("X-Amz-Target") != "GraniteServiceVersion20100801.GetMetricData" ||
		req.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		t.Errorf("request %s %s X-Amz-Target %q Content-Type %q, want the AWS JSON 1.0 GetMetricData call",
			req.Method, req.Path, req.Header.Get("X-Amz-Target"), req.Header.Get("Content-Type"))
	}
	authorization := req.Header.Get("Authorization")
	if !strings.HasPrefix(authorization, "AWS4-HMAC-SHA256 Credential="+accessKeyID+"/") ||
		!strings.Contains(authorization, "/us-east-1/monitoring/aws4_request") {
		t.Errorf("Authorization %q is not a SigV4 signature of the Secret's key for us-east-1", authorization)
	}
	if strings.Contains(authorization, secretAccessKey) {
		t.Error("the secret access key was sent")
	}
	b, now := body(req), mt.Now
	if b["StartTime"] != float64(now.Add(-10*time.Minute).Unix()) || b["EndTime"] != float64(now.Unix()) || b["ScanBy"] != "TimestampDescending" {
		t.Errorf("StartTime %v EndTime %v ScanBy %v", b["StartTime"], b["EndTime"], b["ScanBy"])
	}
}

func TestSeveralReturnedQueriesAreAnError(t *testing.T) {
	isolateFromTheHost(t)
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	b := backend(t)
	b.Query = readQuery(t, "query_two_returned.json")
	r := mt.Check(t, b, srv.URL)
	if r.Verdict != siskinv1.VerdictError || !strings.Contains(r.Message, `2 of the cloudwatch query's MetricDataQuery return data, want 1 (set "ReturnData": false on the others)`) {
		t.Errorf("verdict %s: %s", r.Verdict, r.Message)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("the stand-in received %d requests for a query that cannot be judged", n)
	}
}

// Without keys in the configuration the SDK's default chain signs, here from the environment.
func TestDefaultCredentialChain(t *testing.T) {
	isolateFromTheHost(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT00000")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "environment-secret")
	srv := mt.NewServer(t, "testdata").Reply(replies.Of(mt.Value))
	c, err := cloudwatch.New(metrics.ProviderConfig{Type: "cloudwatch", Region: "eu-west-1", Address: srv.URL}, cloudwatch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Query(metrics.WithEvaluationTime(context.Background(), mt.Now), readQuery(t, "query.json"))
	if err != nil || s.Value != 0.02 || !s.Time.Equal(time.Unix(1796140740, 0)) {
		t.Errorf("Query = %v, %v", s, err)
	}
	if a := srv.Only(t).Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIAENVIRONMENT00000/") ||
		!strings.Contains(a, "/eu-west-1/monitoring/") {
		t.Errorf("Authorization %q", a)
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
