// Package dynatrace is the Dynatrace metric provider: a MetricTemplate's query is a metric
// selector of the Metrics API v2, run through GET /api/v2/metrics/query with resolution Inf
// over a window ending at the evaluation time, and its value is the last value of the single
// series the selector returns. The API token comes from the template's Secret
// (dynatrace_token) and is sent as "Authorization: Api-Token <token>".
//
// Dynatrace has no maintained Go client for this API, so the client is a small net/http one
// over metrics.HTTPClient (the template's headers, TLS setting, timeout, no redirects,
// bounded bodies).
//
// The window reaches metrics.LookbackFactor times the metric's interval back, as Flagger's
// does, so that a template written for Flagger judges the same value.
package dynatrace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Options tune the clients; the zero value takes the defaults.
type Options = metrics.BackendOptions

// queryPath is the Metrics API v2 query.
const queryPath = "/api/v2/metrics/query"

// userAgent names Siskin to Dynatrace.
const userAgent = "siskin"

// maxMessage bounds the text of Dynatrace's error answer repeated in an error.
const maxMessage = 512

// Client queries one Dynatrace environment with one API token. It is safe for concurrent use.
type Client struct {
	metrics.Vendor
	token string
}

var _ metrics.Provider = (*Client)(nil)

// NewPool returns a metrics.Pool of Clients, one per distinct configuration.
func NewPool(opts Options) *metrics.Pool { return metrics.PoolOf(opts, New) }

// New returns a client for cfg: the environment URL cfg.Address and the API token cfg.Token.
func New(cfg metrics.ProviderConfig, opts Options) (*Client, error) {
	v, err := metrics.NewVendor(cfg, metrics.TypeDynatrace, "", opts)
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, errors.New("dynatrace needs an API token")
	}
	return &Client{Vendor: v, token: cfg.Token}, nil
}

// response is the answer of GET /api/v2/metrics/query.
type response struct {
	Resolution string   `json:"resolution"`
	Warnings   []string `json:"warnings"`
	Result     []struct {
		MetricID string   `json:"metricId"`
		Warnings []string `json:"warnings"`
		Data     []struct {
			Dimensions   []string          `json:"dimensions"`
			DimensionMap map[string]string `json:"dimensionMap"`
			Timestamps   []int64           `json:"timestamps"`
			Values       []*float64        `json:"values"`
		} `json:"data"`
	} `json:"result"`
}

// Query runs the metric selector over the window of ctx (metrics.Window) times LookbackFactor,
// ending at the evaluation time of ctx, with resolution Inf, and returns the last value of its
// single series. No series, or no value, is metrics.ErrNoData; several metrics or series are
// metrics.ErrResultShape.
func (c *Client) Query(ctx context.Context, selector string) (metrics.Sample, error) {
	from, to := c.Span(ctx)
	q := url.Values{}
	q.Set("metricSelector", strings.TrimSpace(selector))
	q.Set("resolution", "Inf")
	q.Set("from", strconv.FormatInt(from.UnixMilli(), 10))
	q.Set("to", strconv.FormatInt(to.UnixMilli(), 10))
	var resp response
	if err := c.get(ctx, "query", queryPath, q, &resp); err != nil {
		return metrics.Sample{}, err
	}
	return sampleOf(&resp)
}

// get sends GET path?q with the token and decodes a 200's JSON answer into out; any other
// status is an error with Dynatrace's own message.
func (c *Client) get(ctx context.Context, what, path string, q url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base()+path+"?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("dynatrace %s %s: %w", what, c.Address, err)
	}
	req.Header.Set("Authorization", "Api-Token "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return c.Call(req, what, path, "the Metrics API's JSON", errorMessage, out)
}

// errorMessage returns ": " and the message of Dynatrace's error answer
// ({"error":{"code":..,"message":..,"constraintViolations":[..]}}), else of its text, bounded.
func errorMessage(body []byte) string {
	var e struct {
		Error struct {
			Message    string `json:"message"`
			Violations []struct {
				Path    string `json:"path"`
				Message string `json:"message"`
			} `json:"constraintViolations"`
		} `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		msg = e.Error.Message
		for _, v := range e.Error.Violations {
			if v.Path != "" {
				msg += "; " + v.Path + ": " + v.Message
			} else {
				msg += "; " + v.Message
			}
		}
	} else {
		msg = strings.Join(strings.Fields(string(body)), " ")
	}
	if msg == "" {
		return ""
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "..."
	}
	return ": " + msg
}

// sampleOf returns the last value of the single series of the single metric.
func sampleOf(resp *response) (metrics.Sample, error) {
	warnings := resp.Warnings
	switch len(resp.Result) {
	case 0:
		return metrics.Sample{}, fmt.Errorf("%w: no metric in the result", metrics.ErrNoData)
	case 1:
	default:
		ids := make([]string, 0, len(resp.Result))
		for _, r := range resp.Result {
			ids = append(ids, r.MetricID)
		}
		return metrics.Sample{}, fmt.Errorf("%w: %d metrics, want 1: %s", metrics.ErrResultShape, len(ids), strings.Join(ids, ", "))
	}
	r := resp.Result[0]
	warnings = append(warnings, r.Warnings...)
	switch len(r.Data) {
	case 0:
		return metrics.Sample{}, fmt.Errorf("%w: %s has no series", metrics.ErrNoData, r.MetricID)
	case 1:
	default:
		return metrics.Sample{}, metrics.SeveralSeries(len(r.Data), func(i int) string { return "[" + strings.Join(r.Data[i].Dimensions, ", ") + "]" },
			"for example with :splitBy() and an aggregation")
	}
	d := r.Data[0]
	for i := len(d.Values) - 1; i >= 0; i-- {
		if d.Values[i] == nil {
			continue // no value in that interval
		}
		v := *d.Values[i]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return metrics.Sample{}, &metrics.NonFiniteError{Value: v}
		}
		s := metrics.Sample{Value: v, Warnings: warnings}
		if i < len(d.Timestamps) {
			s.Time = time.UnixMilli(d.Timestamps[i])
		}
		return s, nil
	}
	return metrics.Sample{}, fmt.Errorf("%w: the series of %s has no value", metrics.ErrNoData, r.MetricID)
}
