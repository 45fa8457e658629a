// Package graphite is the Graphite metric provider: a MetricTemplate's query is the
// parameters of graphite-web's render API, as Flagger takes them (for example
// target=sumSeries(app.{{ target }}.errors)&from=-{{ interval }}), sent as
// GET /render?<query>&format=json, and its value is the last non-null datapoint of the single
// series the render returns. With a secretRef, the Secret's username and password are sent as
// basic auth.
//
// Graphite has no maintained Go client, so the client is a small net/http one over
// metrics.HTTPClient (the template's headers, TLS setting, timeout, no redirects, bounded
// bodies).
//
// A query that names neither from nor until covers metrics.LookbackFactor times the metric's
// interval, ending at the evaluation time, as the other vendor backends do; graphite-web's own
// default of the last 24 hours would let a stale datapoint pass for the current value.
package graphite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Options tune the clients; the zero value takes the defaults.
type Options = metrics.BackendOptions

// renderPath is graphite-web's render API.
const renderPath = "/render"

// userAgent names Siskin to graphite-web.
const userAgent = "siskin"

// maxMessage bounds the text of graphite-web's error answer repeated in an error.
const maxMessage = 512

// Client queries one graphite-web. It is safe for concurrent use.
type Client struct {
	metrics.Vendor
	username, password string
}

var _ metrics.Provider = (*Client)(nil)

// NewPool returns a metrics.Pool of Clients, one per distinct configuration.
func NewPool(opts Options) *metrics.Pool { return metrics.PoolOf(opts, New) }

// New returns a client for cfg: the graphite-web URL cfg.Address (render is below its path)
// and, when set, basic auth of cfg.Username and cfg.Password.
func New(cfg metrics.ProviderConfig, opts Options) (*Client, error) {
	v, err := metrics.NewVendor(cfg, metrics.TypeGraphite, "", opts)
	if err != nil {
		return nil, err
	}
	if u, _ := url.Parse(v.URL); u.RawQuery != "" {
		return nil, fmt.Errorf("graphite address %s has a query: the render parameters belong in the template's query", v.Address)
	}
	return &Client{Vendor: v, username: cfg.Username, password: cfg.Password}, nil
}

// series is one target of the render API's JSON answer.
type series struct {
	Target     string      `json:"target"`
	Datapoints []datapoint `json:"datapoints"`
}

// datapoint is [value, timestamp]; a value is a number or null (no value in that interval).
type datapoint struct {
	value *float64
	time  time.Time
}

// UnmarshalJSON reads [value, timestamp], where either may also be a string of a number, as
// some Graphite-compatible servers write them.
func (d *datapoint) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("datapoint %s is not [value, timestamp]", truncate(string(b)))
	}
	v, err := number(pair[0])
	if err != nil {
		return fmt.Errorf("datapoint value %s: %w", pair[0], err)
	}
	d.value = v
	ts, err := number(pair[1])
	if err != nil {
		return fmt.Errorf("datapoint timestamp %s: %w", pair[1], err)
	}
	if ts != nil {
		d.time = time.Unix(int64(*ts), 0)
	}
	return nil
}

// number reads a JSON number, a string of one, or null (nil).
func number(raw json.RawMessage) (*float64, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case float64:
		return &x, nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return nil, fmt.Errorf("not a number")
		}
		return &f, nil
	}
	return nil, fmt.Errorf("not a number")
}

// Query sends the render parameters of query with format=json and returns the last non-null
// datapoint of its single series. No series, or only nulls, is metrics.ErrNoData; several
// series are metrics.ErrResultShape.
func (c *Client) Query(ctx context.Context, query string) (metrics.Sample, error) {
	params, err := renderParams(query)
	if err != nil {
		return metrics.Sample{}, fmt.Errorf("graphite query: %w", err)
	}
	if params.Get("from") == "" && params.Get("until") == "" {
		from, to := c.Span(ctx)
		params.Set("from", strconv.FormatInt(from.Unix(), 10))
		params.Set("until", strconv.FormatInt(to.Unix(), 10))
	}
	var out []series
	if err := c.render(ctx, "query", params, &out); err != nil {
		return metrics.Sample{}, err
	}
	return sampleOf(out)
}

// minutes finds a relative time in minutes written as {{ interval }} renders it (-5m).
var minutes = regexp.MustCompile(`^([+-]?\d+)m$`)

// renderParams parses the template's query, Flagger's key=value&... of the render API, with
// whitespace runs (a YAML block) collapsed to one space. Unlike url.ParseQuery it keeps ';',
// which tagged series names contain.
func renderParams(query string) (url.Values, error) {
	query = strings.Join(strings.Fields(query), " ")
	query = strings.TrimPrefix(query, "?")
	params := url.Values{}
	for part := range strings.SplitSeq(query, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", truncate(k), err)
		}
		value, err := url.QueryUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", key, err)
		}
		params.Add(key, value)
	}
	for _, k := range []string{"from", "until"} {
		// {{ interval }} renders minutes as "1m", which graphite-web refuses ("Invalid offset
		// unit 'm'"): it wants "min". No valid offset ends in a bare m.
		for i, v := range params[k] {
			params[k][i] = minutes.ReplaceAllString(v, "${1}min")
		}
	}
	if len(params["target"]) == 0 {
		return nil, errors.New("the query names no target: write the render API's parameters, for example target=sumSeries(app.errors)&from=-5min")
	}
	if f := params.Get("format"); f != "" && f != "json" {
		return nil, fmt.Errorf("the query asks for format=%s; the graphite provider reads format=json, leave format out", f)
	}
	params.Set("format", "json")
	return params, nil
}

// render sends GET /render?params with the credentials and decodes a 200's JSON answer into
// out; any other status is an error with graphite-web's text.
func (c *Client) render(ctx context.Context, what string, params url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base()+renderPath+"?"+params.Encode(), nil)
	if err != nil {
		return fmt.Errorf("graphite %s %s: %w", what, c.Address, err)
	}
	if c.username != "" || c.password != "" {
		req.SetBasicAuth(c.username, c.password)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return c.Call(req, what, renderPath, "the render API's JSON", errorText, out)
}

// errorText is ": " and graphite-web's text of an error answer, bounded, or nothing.
func errorText(body []byte) string {
	if text := strings.Join(strings.Fields(string(body)), " "); text != "" {
		return ": " + truncate(text)
	}
	return ""
}

// sampleOf returns the last non-null datapoint of the single series.
func sampleOf(out []series) (metrics.Sample, error) {
	switch len(out) {
	case 0:
		return metrics.Sample{}, fmt.Errorf("%w: no series", metrics.ErrNoData)
	case 1:
	default:
		return metrics.Sample{}, metrics.SeveralSeries(len(out), func(i int) string { return out[i].Target },
			"for example with sumSeries or averageSeries")
	}
	points := out[0].Datapoints
	for i := len(points) - 1; i >= 0; i-- {
		p := points[i]
		if p.value == nil {
			continue
		}
		if math.IsNaN(*p.value) || math.IsInf(*p.value, 0) {
			return metrics.Sample{}, &metrics.NonFiniteError{Value: *p.value}
		}
		return metrics.Sample{Value: *p.value, Time: p.time}, nil
	}
	return metrics.Sample{}, fmt.Errorf("%w: the series %s has no datapoint with a value", metrics.ErrNoData, out[0].Target)
}

// truncate bounds s for an error message.
func truncate(s string) string {
	if len(s) > maxMessage {
		return s[:maxMessage] + "..."
	}
	return s
}
