package prometheus

import (
	"context"
	"fmt"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

var _ metrics.SeriesQuerier = (*Client)(nil)

// QuerySeries runs an instant query at the evaluation time of ctx (metrics.WithEvaluationTime),
// else at the client's clock, and returns every series of its answer with the values as
// Prometheus wrote them, NaN and ±Inf included. An empty vector is no series; a scalar is one
// series without labels; a range vector, a string or a native histogram is
// metrics.ErrResultShape.
func (c *Client) QuerySeries(ctx context.Context, query string) ([]metrics.Series, error) {
	at, ok := metrics.EvaluationTime(ctx)
	if !ok {
		at = c.now()
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, _, _, err := c.api.Query(ctx, query, at, v1.WithTimeout(c.timeout))
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", c.address, redactError(err))
	}
	switch v := v.(type) {
	case *model.Scalar:
		return []metrics.Series{{Value: float64(v.Value)}}, nil
	case model.Vector:
		series := make([]metrics.Series, 0, len(v))
		for _, s := range v {
			if s.Histogram != nil {
				return nil, fmt.Errorf("%w: a native histogram, want numbers", metrics.ErrResultShape)
			}
			labels := make(map[string]string, len(s.Metric))
			for k, lv := range s.Metric {
				labels[string(k)] = string(lv)
			}
			series = append(series, metrics.Series{Labels: labels, Value: float64(s.Value)})
		}
		return series, nil
	}
	_, err = sampleOf(v) // names the shape of every other answer
	return nil, err
}
