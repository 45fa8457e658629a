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
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Options tune the clients; the zero value takes the defaults.
type Options = metrics.BackendOptions

// The Metrics API v2 paths the client calls.
const (
	queryPath   = "/api/v2/metrics/query"
	metricsPath = "/api/v2/metrics"
)

// userAgent names Siskin to Dynatrace.
const userAgent = "siskin"

// maxMessage bounds the text of Dynatrace's error answer repeated in an error.
const maxMessage = 512

// Client queries one Dynatrace environment with one API token. It is safe for concurrent use.
type Client struct {
	http      *http.Client
	base      string
	address   string
	token     string
	timeout   time.Duration
	now       func() time.Time
	closeIdle func()
}

var _ metrics.Provider = (*Client)(nil)

// NewPool returns a metrics.Pool of Clients, one per distinct configuration.
func NewPool(opts Options) *metrics.Pool {
	return metrics.NewPool(func(cfg metrics.ProviderConfig) (metrics.Provider, error) {
		return New(cfg, opts)
	}, 0, nil)
}

// New returns a client for cfg: the environment URL cfg.Address and the API token cfg.Token.
func New(cfg metrics.ProviderConfig, opts Options) (*Client, error) {
	if cfg.Type != metrics.TypeDynatrace {
		return nil, fmt.Errorf("provider type %q is not dynatrace", cfg.Type)
	}
	if cfg.Token == "" {
		return nil, errors.New("dynatrace needs an API token")
	}
	u, err := url.Parse(cfg.Address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("dynatrace address %s is not an http or https URL", metrics.RedactURL(cfg.Address))
	}
	opts = opts.WithDefaults()
	httpClient, closeIdle := metrics.HTTPClient(cfg, opts.QueryTimeout, opts.MaxResponseBytes)
	return &Client{
		http:      httpClient,
		base:      strings.TrimRight(cfg.Address, "/"),
		address:   metrics.RedactURL(cfg.Address),
		token:     cfg.Token,
		timeout:   opts.QueryTimeout,
		now:       opts.Now,
		closeIdle: closeIdle,
	}, nil
}

// CloseIdleConnections closes the client's idle connections; a metrics.Pool calls it when it
// drops the client.
func (c *Client) CloseIdleConnections() { c.closeIdle() }

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
	to, ok := metrics.EvaluationTime(ctx)
	if !ok {
		to = c.now()
	}
	from := to.Add(-metrics.LookbackFactor * metrics.Window(ctx))
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("dynatrace %s %s: %w", what, c.address, err)
	}
	req.Header.Set("Authorization", "Api-Token "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		var nerr net.Error
		if errors.As(err, &nerr) && nerr.Timeout() && ctx.Err() == nil {
			return fmt.Errorf("dynatrace %s %s: no answer within the query timeout of %s", what, c.address, c.timeout)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			uerr.URL = c.address + path // the selector is in the check's record already
		}
		return fmt.Errorf("dynatrace %s %s: %w", what, c.address, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("dynatrace %s %s: read the answer: %w", what, c.address, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("dynatrace %s %s: %s%s", what, c.address, resp.Status, errorMessage(body))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("dynatrace %s %s: the answer is not the Metrics API's JSON: %w", what, c.address, err)
	}
	return nil
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
		dims := make([]string, 0, 3)
		for i, d := range r.Data {
			if i == 3 {
				dims = append(dims, "...")
				break
			}
			dims = append(dims, "["+strings.Join(d.Dimensions, ", ")+"]")
		}
		return metrics.Sample{}, fmt.Errorf("%w: %d series, want 1 (aggregate them, for example with :splitBy() and an aggregation): %s",
			metrics.ErrResultShape, len(r.Data), strings.Join(dims, ", "))
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
