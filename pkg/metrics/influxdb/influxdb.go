// Package influxdb is the InfluxDB metric provider: a MetricTemplate's query is Flux, run
// through the query API (POST /api/v2/query) of InfluxData's Go client in the organization of
// the template's Secret, and its value is the _value of the last record of the single table
// the query returns. With a secretRef, the Secret's token is sent as "Authorization: Token
// <token>" and its org names the organization, as Flagger reads them.
//
// The query's now() is the evaluation time: an `option now` line is put before the query
// (unless it sets now itself), so range(start: -{{ interval }}) covers the metric's interval
// ending at the step, and every check of a step reads the same window. The analyzer joins a
// query's lines into one, so a query with a // comment is refused.
package influxdb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Options tune the clients; the zero value takes the defaults.
type Options = metrics.BackendOptions

// applicationName names Siskin in the client's User-Agent.
const applicationName = "siskin"

// maxRecords bounds the records read from one answer: a query meant to judge one value that
// returns more is not aggregated.
const maxRecords = 100000

// ownNow finds a query that sets now() itself.
var ownNow = regexp.MustCompile(`(^|\s)option\s+now\s*=`)

// Client queries one InfluxDB with one token in one organization. It is safe for concurrent
// use.
type Client struct {
	metrics.Vendor
	client influxdb2.Client
	query  api.QueryAPI
}

var _ metrics.Provider = (*Client)(nil)

// NewPool returns a metrics.Pool of Clients, one per distinct configuration.
func NewPool(opts Options) *metrics.Pool { return metrics.PoolOf(opts, New) }

// New returns a client for cfg: the InfluxDB URL cfg.Address, the token cfg.Token (none when
// empty) and the organization cfg.Org.
func New(cfg metrics.ProviderConfig, opts Options) (*Client, error) {
	v, err := metrics.NewVendor(cfg, metrics.TypeInfluxDB, "", opts)
	if err != nil {
		return nil, err
	}
	o := influxdb2.DefaultOptions().
		SetHTTPClient(v.HTTP).
		SetApplicationName(applicationName).
		SetLogLevel(0) // errors only: the check's result says what happened
	client := influxdb2.NewClientWithOptions(v.URL, cfg.Token, o)
	return &Client{Vendor: v, client: client, query: client.QueryAPI(cfg.Org)}, nil
}

// Query runs the Flux with now() at the evaluation time of ctx and returns the _value of the
// last record with a value of its single table. No table, or no value, is metrics.ErrNoData;
// several tables, or a _value that is no number, are metrics.ErrResultShape.
func (c *Client) Query(ctx context.Context, flux string) (metrics.Sample, error) {
	if m, ok := metrics.LineComment(flux, `"`, "//"); ok {
		return metrics.Sample{}, fmt.Errorf("influxdb query: the query has a %s comment, which would swallow the rest of the query once its lines are joined: remove it", m)
	}
	if !ownNow.MatchString(flux) {
		at, ok := metrics.EvaluationTime(ctx)
		if !ok {
			at = c.Now()
		}
		flux = "option now = () => " + at.UTC().Format(time.RFC3339Nano) + "\n" + flux
	}
	return c.run(ctx, "query", flux)
}

// table is what the answer held of one table: its group key and its last value.
type table struct {
	id, key string
	last    *metrics.Sample
}

// run sends the Flux and reads its answer.
func (c *Client) run(ctx context.Context, what, flux string) (metrics.Sample, error) {
	res, err := c.query.Query(ctx, flux)
	if err != nil {
		return metrics.Sample{}, c.failed(ctx, what, err)
	}
	defer func() { _ = res.Close() }()
	var tables []*table
	for n := 0; res.Next(); n++ {
		if n == maxRecords {
			return metrics.Sample{}, fmt.Errorf("%w: more than %d records: aggregate the query (for example with mean() or last())", metrics.ErrResultShape, maxRecords)
		}
		r := res.Record()
		// One annotation block may hold several tables: the result and table columns tell them
		// apart.
		if id := r.Result() + "/" + strconv.Itoa(r.Table()); len(tables) == 0 || tables[len(tables)-1].id != id {
			tables = append(tables, &table{id: id, key: groupKey(res)})
		}
		v := r.Value()
		if v == nil {
			continue // a null _value: no value at that time
		}
		f, ok := number(v)
		if !ok {
			return metrics.Sample{}, fmt.Errorf("%w: _value is %T (%v), not a number", metrics.ErrResultShape, v, v)
		}
		tables[len(tables)-1].last = &metrics.Sample{Value: f, Time: r.Time()}
	}
	if err := res.Err(); err != nil {
		return metrics.Sample{}, c.failed(ctx, what, err)
	}
	switch len(tables) {
	case 0:
		return metrics.Sample{}, fmt.Errorf("%w: no table", metrics.ErrNoData)
	case 1:
	default:
		keys := make([]string, 0, 3)
		for i, t := range tables {
			if i == 3 {
				keys = append(keys, "...")
				break
			}
			keys = append(keys, t.key)
		}
		return metrics.Sample{}, fmt.Errorf("%w: %d tables, want 1 (group them into one, for example with group() and sum()): %s",
			metrics.ErrResultShape, len(tables), strings.Join(keys, ", "))
	}
	s := tables[0].last
	if s == nil {
		return metrics.Sample{}, fmt.Errorf("%w: the table has no record with a _value", metrics.ErrNoData)
	}
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		return metrics.Sample{}, &metrics.NonFiniteError{Value: s.Value}
	}
	return *s, nil
}

// groupKey describes the table being read by its group key columns other than the window's
// bounds, for example {_measurement=http, app=podinfo}.
func groupKey(res *api.QueryTableResult) string {
	meta, rec := res.TableMetadata(), res.Record()
	var parts []string
	for _, col := range meta.Columns() {
		if !col.IsGroup() || col.Name() == "_start" || col.Name() == "_stop" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%v", col.Name(), rec.ValueByKey(col.Name())))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// number converts a Flux number to float64.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// failed describes an error of the InfluxDB client: the HTTP status and InfluxDB's code and
// message, or the timeout, never the token.
func (c *Client) failed(ctx context.Context, what string, err error) error {
	var herr *influxhttp.Error
	if errors.As(err, &herr) && herr.StatusCode != 0 {
		msg := strconv.Itoa(herr.StatusCode)
		switch {
		case herr.Code != "" && herr.Message != "":
			msg += " " + herr.Code + ": " + truncate(herr.Message)
		case herr.Message != "":
			msg += ": " + truncate(herr.Message)
		case herr.Err != nil:
			msg += ": " + herr.Err.Error()
		}
		return fmt.Errorf("influxdb %s %s: %s", what, c.Address, msg)
	}
	var nerr interface{ Timeout() bool }
	if errors.As(err, &nerr) && nerr.Timeout() && ctx.Err() == nil {
		return fmt.Errorf("influxdb %s %s: no answer within the query timeout of %s", what, c.Address, c.Timeout)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		uerr.URL = metrics.RedactURL(uerr.URL)
	}
	return fmt.Errorf("influxdb %s %s: %w", what, c.Address, err)
}

// truncate bounds s for an error message.
func truncate(s string) string {
	const maxMessage = 512
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		return s[:maxMessage] + "..."
	}
	return s
}
