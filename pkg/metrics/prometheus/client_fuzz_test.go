package prometheus

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// answer is a RoundTripper that answers every request with one status and body, so that the
// fuzzer drives client_golang's decoding, the bounded body and sampleOf without sockets.
type answer struct {
	status int
	body   []byte
}

func (a answer) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: a.status, Status: http.StatusText(a.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(bytes.NewReader(a.body)),
		Request: req,
	}, nil
}

// fuzzStatuses are the statuses a fuzzed answer carries, picked by a byte of the input.
var fuzzStatuses = []int{200, 204, 400, 422, 500, 503, 302}

// FuzzSampleOf feeds arbitrary bodies shaped like Prometheus' /api/v1/query answers through
// the client: it never panics, a value it returns is a finite number, and an error is one of
// no data, a result that is not one value, or a failed query (never a Sample with an error).
// The seed corpus is in testdata/fuzz/FuzzSampleOf.
func FuzzSampleOf(f *testing.F) {
	for _, body := range []string{
		oneValue,
		`{"status":"success","data":{"resultType":"scalar","result":[1764072000,"+Inf"]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764072000,"NaN"]}]}}`,
		`{"status":"error","errorType":"bad_data","error":"parse error"}`,
	} {
		f.Add(uint8(0), []byte(body))
	}
	f.Fuzz(func(t *testing.T, status uint8, body []byte) {
		rt := &transport{base: answer{status: fuzzStatuses[int(status)%len(fuzzStatuses)], body: body}, maxBody: 1 << 20}
		c, err := api.NewClient(api.Config{Address: "http://prometheus:9090", Client: &http.Client{Transport: rt}})
		if err != nil {
			t.Fatal(err)
		}
		client := NewWithAPI(v1.NewAPI(c), "http://prometheus:9090", Options{})
		s, err := client.Query(metrics.WithEvaluationTime(context.Background(), evalTime), "q")
		if err != nil {
			if s.Value != 0 || s.Warnings != nil {
				t.Fatalf("Query returned %+v with the error %v", s, err)
			}
			return
		}
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			t.Fatalf("Query returned the value %v, want no data", s.Value)
		}
	})
}
