// Package datadog is the Datadog metric provider: a MetricTemplate's query is a Datadog metrics
// query, run through the v1 query endpoint (GET /api/v1/query) of Datadog's Go client over a
// window ending at the evaluation time, and its value is the last point of the single series
// the query returns. The keys come from the template's Secret (datadog_api_key,
// datadog_application_key) and are sent as DD-API-KEY and DD-APPLICATION-KEY.
//
// The window reaches metrics.LookbackFactor times the metric's interval back, as Flagger's does, so
// that a template written for Flagger judges the same point: Datadog's newest points arrive
// late, and a window of one interval often holds none.
package datadog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV1"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Options tune the clients; the zero value takes the defaults.
type Options = metrics.BackendOptions

// Client queries one Datadog site with one pair of keys. It is safe for concurrent use.
type Client struct {
	metrics.Vendor
	metrics *datadogV1.MetricsApi
	keys    map[string]datadog.APIKey
}

var _ metrics.Provider = (*Client)(nil)

// NewPool returns a metrics.Pool of Clients, one per distinct configuration.
func NewPool(opts Options) *metrics.Pool { return metrics.PoolOf(opts, New) }

// New returns a client for cfg: cfg.Address (DatadogAddress when empty) and its Datadog keys.
func New(cfg metrics.ProviderConfig, opts Options) (*Client, error) {
	v, err := metrics.NewVendor(cfg, metrics.TypeDatadog, metrics.DatadogAddress, opts)
	if err != nil {
		return nil, err
	}
	if cfg.APIKey == "" || cfg.ApplicationKey == "" {
		return nil, errors.New("datadog needs an API key and an application key")
	}
	conf := datadog.NewConfiguration()
	conf.HTTPClient = v.HTTP
	// The address replaces the client's list of sites; every operation used here takes it.
	conf.Servers = datadog.ServerConfigurations{{URL: v.Base(), Description: "provider.address"}}
	conf.OperationServers = nil
	conf.RetryConfiguration.EnableRetry = false // the next analysis step is the retry
	api := datadog.NewAPIClient(conf)
	return &Client{
		Vendor:  v,
		metrics: datadogV1.NewMetricsApi(api),
		keys: map[string]datadog.APIKey{
			"apiKeyAuth": {Key: cfg.APIKey},
			"appKeyAuth": {Key: cfg.ApplicationKey},
		},
	}, nil
}

// Query runs the metrics query over the window of ctx (metrics.Window) times LookbackFactor,
// ending at the evaluation time of ctx, and returns the last point of its single series. No
// series, or no point with a value, is metrics.ErrNoData; several series are
// metrics.ErrResultShape.
func (c *Client) Query(ctx context.Context, query string) (metrics.Sample, error) {
	from, to := c.Span(ctx)
	resp, _, err := c.metrics.QueryMetrics(c.withKeys(ctx), from.Unix(), to.Unix(), query)
	if err != nil {
		return metrics.Sample{}, c.failed("query", err)
	}
	if resp.GetStatus() == "error" {
		return metrics.Sample{}, fmt.Errorf("datadog query %s: %s", c.Address, resp.GetError())
	}
	// Datadog's client keeps what it cannot decode aside instead of failing: such an answer is
	// no series of points, and must not pass for no data.
	malformed := resp.UnparsedObject != nil
	for _, s := range resp.Series {
		malformed = malformed || s.UnparsedObject != nil
	}
	if malformed {
		return metrics.Sample{}, fmt.Errorf("datadog query %s: the answer is not the query API's JSON", c.Address)
	}
	return sampleOf(resp.Series)
}

// withKeys returns ctx carrying the client's keys, where Datadog's client looks for them.
func (c *Client) withKeys(ctx context.Context) context.Context {
	return context.WithValue(ctx, datadog.ContextAPIKeys, c.keys)
}

// failed describes an error of the Datadog client: the HTTP status and Datadog's own error
// messages, never a request header.
func (c *Client) failed(what string, err error) error {
	var apiErr datadog.GenericOpenAPIError
	if errors.As(err, &apiErr) {
		msg := apiErr.ErrorMessage
		if m, ok := apiErr.ErrorModel.(datadogV1.APIErrorResponse); ok && len(m.Errors) > 0 {
			msg += ": " + strings.Join(m.Errors, "; ")
		}
		return fmt.Errorf("datadog %s %s: %s", what, c.Address, msg)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		uerr.URL = metrics.RedactURL(uerr.URL)
	}
	return fmt.Errorf("datadog %s %s: %w", what, c.Address, err)
}

// sampleOf returns the last point with a value of the single series.
func sampleOf(series []datadogV1.MetricsQueryMetadata) (metrics.Sample, error) {
	switch len(series) {
	case 0:
		return metrics.Sample{}, fmt.Errorf("%w: no series", metrics.ErrNoData)
	case 1:
	default:
		return metrics.Sample{}, metrics.SeveralSeries(len(series), func(i int) string { return "{" + series[i].GetScope() + "}" },
			"for example with sum: and no by{}")
	}
	points := series[0].Pointlist
	for i := len(points) - 1; i >= 0; i-- {
		p := points[i]
		if len(p) < 2 || p[1] == nil {
			continue // a null point: no value in that interval
		}
		v := *p[1]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return metrics.Sample{}, &metrics.NonFiniteError{Value: v}
		}
		s := metrics.Sample{Value: v}
		if p[0] != nil {
			s.Time = time.UnixMilli(int64(*p[0]))
		}
		return s, nil
	}
	return metrics.Sample{}, fmt.Errorf("%w: the series has no point with a value", metrics.ErrNoData)
}
