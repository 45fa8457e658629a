package prometheus

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/prometheus/common/model"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

func TestQuerySeries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		value   model.Value
		want    []metrics.Series
		wantErr error
	}{
		{name: "every series with its labels, ±Inf included", value: model.Vector{sample(3, "le", "5"), sample(math.Inf(1), "le", "+Inf")},
			want: []metrics.Series{{Labels: map[string]string{"le": "5"}, Value: 3}, {Labels: map[string]string{"le": "+Inf"}, Value: math.Inf(1)}}},
		{name: "an empty vector is no series", value: model.Vector{}, want: []metrics.Series{}},
		{name: "a scalar is one series", value: &model.Scalar{Value: 7}, want: []metrics.Series{{Value: 7}}},
		{name: "a range vector is refused", value: model.Matrix{}, wantErr: metrics.ErrResultShape},
		{name: "a native histogram is refused", value: model.Vector{{Histogram: &model.SampleHistogram{}}}, wantErr: metrics.ErrResultShape},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeAPI{value: tc.value}
			c := NewWithAPI(api, "http://prometheus:9090", Options{})
			got, err := c.QuerySeries(metrics.WithEvaluationTime(context.Background(), evalTime), "q")
			if !errors.Is(err, tc.wantErr) || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("QuerySeries = %+v, %v; want %+v, %v", got, err, tc.want, tc.wantErr)
			}
			if !api.at.Equal(evalTime) {
				t.Errorf("evaluated at %s, want %s", api.at, evalTime)
			}
		})
	}
}
