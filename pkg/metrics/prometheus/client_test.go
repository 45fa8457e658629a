package prometheus

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// fakeAPI is a v1.API whose Query answers with value and err; the other methods are not used.
type fakeAPI struct {
	v1.API

	value    model.Value
	warnings v1.Warnings
	err      error

	query string
	at    time.Time
}

func (f *fakeAPI) Query(_ context.Context, query string, ts time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	f.query, f.at = query, ts
	return f.value, f.warnings, nil, f.err
}

var evalTime = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func sample(v float64, labels ...string) *model.Sample {
	m := model.Metric{}
	for i := 0; i+1 < len(labels); i += 2 {
		m[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return &model.Sample{Metric: m, Value: model.SampleValue(v), Timestamp: model.TimeFromUnixNano(evalTime.UnixNano())}
}

func TestQueryResults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		value     model.Value
		want      float64
		wantErr   error
		errSubstr string
	}{
		{name: "one series", value: model.Vector{sample(99.5)}, want: 99.5},
		{name: "a scalar", value: &model.Scalar{Value: 42, Timestamp: model.TimeFromUnixNano(evalTime.UnixNano())}, want: 42},
		{name: "+Inf is no data", value: model.Vector{sample(math.Inf(1))}, wantErr: metrics.ErrNoData, errSubstr: "value is +Inf"},
		{name: "-Inf is no data", value: &model.Scalar{Value: model.SampleValue(math.Inf(-1))}, wantErr: metrics.ErrNoData, errSubstr: "value is -Inf"},
		{name: "zero is a value", value: model.Vector{sample(0)}, want: 0},
		{name: "an empty vector is no data", value: model.Vector{}, wantErr: metrics.ErrNoData, errSubstr: "empty vector"},
		{name: "NaN is no data", value: model.Vector{sample(math.NaN())}, wantErr: metrics.ErrNoData, errSubstr: "NaN"},
		{name: "a NaN scalar is no data", value: &model.Scalar{Value: model.SampleValue(math.NaN())}, wantErr: metrics.ErrNoData},
		{
			name:      "several series are an error that counts them",
			value:     model.Vector{sample(1, "code", "200"), sample(2, "code", "500"), sample(3, "code", "503"), sample(4, "code", "504")},
			wantErr:   metrics.ErrResultShape,
			errSubstr: `4 series, want 1 (aggregate them, for example with sum): {code="200"}, {code="500"}, {code="503"}, and 1 more`,
		},
		{name: "a range vector is an error", value: model.Matrix{&model.SampleStream{}}, wantErr: metrics.ErrResultShape, errSubstr: "range vector"},
		{name: "a string is an error", value: &model.String{Value: "x"}, wantErr: metrics.ErrResultShape, errSubstr: "string"},
		{name: "a native histogram is an error", value: model.Vector{&model.Sample{Histogram: &model.SampleHistogram{}}}, wantErr: metrics.ErrResultShape},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewWithAPI(&fakeAPI{value: tc.value}, "http://prom", Options{})
			s, err := c.Query(metrics.WithEvaluationTime(context.Background(), evalTime), "q")
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errSubstr) {
					t.Fatalf("Query error = %v, want %v containing %q", err, tc.wantErr, tc.errSubstr)
				}
				return
			}
			if err != nil || s.Value != tc.want || !s.Time.Equal(evalTime) {
				t.Fatalf("Query = %+v, %v; want %v at %s", s, err, tc.want, evalTime)
			}
		})
	}
}

func TestQueryRunsAtTheEvaluationTime(t *testing.T) {
	api := &fakeAPI{value: model.Vector{sample(1)}, warnings: v1.Warnings{"partial data"}}
	clock := evalTime.Add(time.Hour)
	c := NewWithAPI(api, "http://prom", Options{Now: func() time.Time { return clock }})

	s, err := c.Query(metrics.WithEvaluationTime(context.Background(), evalTime), "up")
	if err != nil || !api.at.Equal(evalTime) || api.query != "up" {
		t.Fatalf("queried %q at %s (%v), want up at %s", api.query, api.at, err, evalTime)
	}
	if len(s.Warnings) != 1 || s.Warnings[0] != "partial data" {
		t.Errorf("warnings = %q", s.Warnings)
	}
	if _, err := c.Query(context.Background(), "up"); err != nil || !api.at.Equal(clock) {
		t.Errorf("without an evaluation time: queried at %s (%v), want the clock %s", api.at, err, clock)
	}
}

func TestQueryWrapsAPIErrors(t *testing.T) {
	apiErr := &v1.Error{Type: v1.ErrBadData, Msg: `parse error: unexpected "}"`}
	c := NewWithAPI(&fakeAPI{err: apiErr}, "http://prom:9090", Options{})
	_, err := c.Query(context.Background(), "sum(")
	var got *v1.Error
	if !errors.As(err, &got) || got.Type != v1.ErrBadData || !strings.Contains(err.Error(), "http://prom:9090") {
		t.Fatalf("Query error = %v, want the API error, naming the server", err)
	}
	if errors.Is(err, metrics.ErrNoData) {
		t.Errorf("an API error is not no data")
	}
}

func TestNewRejectsBadConfigurations(t *testing.T) {
	for _, cfg := range []metrics.ProviderConfig{
		{Address: "prometheus:9090"},
		{Address: "ftp://prometheus"},
		{Address: "http://"},
		{Type: "datadog", Address: "http://prom"},
	} {
		if _, err := New(cfg, Options{}); err == nil {
			t.Errorf("New(%v) = nil error", cfg)
		}
	}
}
