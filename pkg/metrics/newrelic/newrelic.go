// Package newrelic is the New Relic metric provider: a MetricTemplate's query is NRQL, run in
// the account of the template's Secret through NerdGraph's nrql field (actor.account.nrql)
// with New Relic's Go client, and its value is the one number of the one result row.
//
// Flagger's query is NRQL without a time clause, to which it appends SINCE the metric's
// interval; Siskin appends SINCE and UNTIL in epoch milliseconds, the metric's interval
// ending at the evaluation time, so that every check of a step reads the same window. A
// query with its own SINCE is sent as written.
//
// Credentials: NerdGraph takes a User API key (sent as API-Key). The Secret's
// newrelic_api_key holds it (Flagger's NerdGraph provider's name); without it
// newrelic_query_key (the name of Flagger's Insights provider) is sent in its place, so a
// Flagger Secret carries over once its key is a User API key. newrelic_account_id names the
// account.
//
// New Relic's client ignores the context of a query and retries some failures itself, so
// each query gets a transport bound to its context (cancelling the query cancels its
// requests) and returns when the context ends, whatever the client is still doing.
package newrelic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/newrelic/newrelic-client-go/v2/pkg/config"
	"github.com/newrelic/newrelic-client-go/v2/pkg/logging"
	"github.com/newrelic/newrelic-client-go/v2/pkg/nrdb"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Options tune the clients; the zero value takes the defaults.
type Options = metrics.BackendOptions

// userAgent names Siskin to New Relic.
const userAgent = "siskin"

// since finds an NRQL time clause of the query's own.
var since = regexp.MustCompile(`(?i)\bSINCE\b`)

// Client queries one NerdGraph endpoint in one account with one API key. It is safe for
// concurrent use.
type Client struct {
	metrics.Vendor
	apiKey    string
	accountID int
}

var _ metrics.Provider = (*Client)(nil)

// NewPool returns a metrics.Pool of Clients, one per distinct configuration.
func NewPool(opts Options) *metrics.Pool { return metrics.PoolOf(opts, New) }

// New returns a client for cfg: the NerdGraph URL cfg.Address (NewRelicAddress when empty),
// the account cfg.AccountID and the API key cfg.Token.
func New(cfg metrics.ProviderConfig, opts Options) (*Client, error) {
	v, err := metrics.NewVendor(cfg, metrics.TypeNewRelic, metrics.NewRelicAddress, opts)
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, errors.New("newrelic needs a User API key")
	}
	account, err := strconv.Atoi(cfg.AccountID)
	if err != nil || account <= 0 {
		return nil, fmt.Errorf("newrelic account ID %q is not a positive integer", cfg.AccountID)
	}
	return &Client{Vendor: v, apiKey: cfg.Token, accountID: account}, nil
}

// Query runs the NRQL over the metric's interval (metrics.Window) ending at the evaluation
// time of ctx, unless it has its own SINCE, and returns the one number of its one result row.
// No row, or a null value, is metrics.ErrNoData; several rows (FACET, TIMESERIES) or values
// are metrics.ErrResultShape.
func (c *Client) Query(ctx context.Context, query string) (metrics.Sample, error) {
	nrql := strings.Join(strings.Fields(query), " ")
	if m, ok := metrics.LineComment(nrql, `'"`, "//", "--"); ok {
		return metrics.Sample{}, fmt.Errorf("newrelic query: the query has a %s comment, which would swallow the rest of the query once its lines are joined: remove it", m)
	}
	if !since.MatchString(nrql) {
		to, ok := metrics.EvaluationTime(ctx)
		if !ok {
			to = c.Now()
		}
		from := to.Add(-metrics.Window(ctx))
		nrql = fmt.Sprintf("%s SINCE %d UNTIL %d", nrql, from.UnixMilli(), to.UnixMilli())
	}
	res, err := c.run(ctx, nrql)
	if err != nil {
		return metrics.Sample{}, fmt.Errorf("newrelic query %s: %w", c.Address, err)
	}
	s, err := sampleOf(res.Results)
	if err != nil {
		return metrics.Sample{}, err
	}
	for _, m := range res.Metadata.Messages {
		if m != "" {
			s.Warnings = append(s.Warnings, m)
		}
	}
	return s, nil
}

// run sends the NRQL through a client whose requests carry ctx, bounded by the query
// timeout, and returns as soon as ctx ends.
func (c *Client) run(parent context.Context, nrql string) (*nrdb.NRDBResultContainer, error) {
	ctx, cancel := context.WithTimeout(parent, c.Timeout)
	defer cancel()
	cfg := config.New()
	cfg.PersonalAPIKey = c.apiKey
	cfg.Region().SetNerdGraphBaseURL(c.URL)
	bound := &boundTransport{base: c.HTTP.Transport, ctx: ctx}
	cfg.HTTPTransport = bound
	cfg.Timeout = &c.Timeout
	cfg.UserAgent = userAgent
	cfg.ServiceName = userAgent
	cfg.Logger = quiet{}
	client := nrdb.New(cfg)

	type answer struct {
		res *nrdb.NRDBResultContainer
		err error
	}
	done := make(chan answer, 1) // the client may finish after ctx ends: it must not block
	go func() {
		res, err := client.QueryWithContext(ctx, c.accountID, nrdb.NRQL(nrql))
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		if a.err != nil && ctx.Err() != nil {
			return nil, bound.withLast(c.expired(parent))
		}
		if a.err == nil && a.res == nil {
			return nil, errors.New("NerdGraph answered no nrql field")
		}
		if a.err != nil {
			return nil, bound.withLast(redact(a.err))
		}
		return a.res, nil
	case <-ctx.Done():
		return nil, bound.withLast(c.expired(parent))
	}
}

// expired says why a query's context ended: the caller's reason, else the query timeout.
func (c *Client) expired(parent context.Context) error {
	if parent.Err() != nil {
		return context.Cause(parent)
	}
	return fmt.Errorf("no answer within the query timeout of %s (New Relic's client retries 429 and most 5xx answers)", c.Timeout)
}

// redact drops the query string of a URL in a transport error, and passes other errors, whose
// text is New Relic's answer, as they are.
func redact(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		uerr.URL = metrics.RedactURL(uerr.URL)
	}
	return err
}

// boundTransport sends each request with the query's context, which New Relic's client does
// not pass on, and refuses redirects, which would carry the API key to whatever server they
// name (the client's own http.Client follows them). It keeps the last failed answer: after
// its retries the client reports only their count.
type boundTransport struct {
	base http.RoundTripper
	ctx  context.Context

	mu   sync.Mutex
	last string
}

// withLast adds the last failed answer to err, if there was one.
func (t *boundTransport) withLast(err error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == "" || strings.Contains(err.Error(), t.last) {
		return err
	}
	return fmt.Errorf("%w; last answer: %s", err, t.last)
}

// RoundTrip implements http.RoundTripper.
func (t *boundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, context.Cause(t.ctx)
	}
	resp, err := t.base.RoundTrip(req.WithContext(t.ctx))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "" {
		_ = resp.Body.Close()
		err := fmt.Errorf("redirect not followed: the server redirects to %s; set provider.address to the NerdGraph URL that answers",
			metrics.RedactURL(resp.Header.Get("Location")))
		t.mu.Lock()
		t.last = err.Error()
		t.mu.Unlock()
		return nil, err
	}
	if resp.StatusCode >= 400 {
		head, err := io.ReadAll(io.LimitReader(resp.Body, maxMessage))
		resp.Body = readCloser{Reader: io.MultiReader(bytes.NewReader(head), resp.Body), Closer: resp.Body}
		if err == nil {
			t.mu.Lock()
			t.last = strings.TrimSpace(resp.Status + ": " + answerMessage(head))
			t.mu.Unlock()
		}
	}
	return resp, nil
}

// maxMessage bounds the part of a failed answer kept for its error.
const maxMessage = 512

// readCloser reads from Reader and closes Closer.
type readCloser struct {
	io.Reader
	io.Closer
}

// answerMessage returns the messages of NerdGraph's error answer ({"errors":[{"message":..}]}),
// else its text.
func answerMessage(body []byte) string {
	var e struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		msgs := make([]string, 0, len(e.Errors))
		for _, m := range e.Errors {
			msgs = append(msgs, m.Message)
		}
		return strings.Join(msgs, "; ")
	}
	return strings.Join(strings.Fields(string(body)), " ")
}

// sampleOf returns the one number of the one result row. A row of one field whose value is an
// object of one number (percentile(duration, 95) answers {"percentile.duration": {"95": x}})
// counts as that number.
func sampleOf(rows []nrdb.NRDBResult) (metrics.Sample, error) {
	switch len(rows) {
	case 0:
		return metrics.Sample{}, fmt.Errorf("%w: no result row", metrics.ErrNoData)
	case 1:
	default:
		return metrics.Sample{}, fmt.Errorf("%w: %d result rows, want 1 (drop FACET and TIMESERIES, or aggregate them)", metrics.ErrResultShape, len(rows))
	}
	row := rows[0]
	names := slices.Sorted(maps.Keys(row))
	if len(names) != 1 {
		return metrics.Sample{}, fmt.Errorf("%w: the result row has %d fields (%s), want 1: select one aggregate", metrics.ErrResultShape, len(names), strings.Join(names, ", "))
	}
	v := row[names[0]]
	if inner, ok := v.(map[string]any); ok && len(inner) == 1 {
		for _, x := range inner {
			v = x
		}
	}
	switch x := v.(type) {
	case nil:
		return metrics.Sample{}, fmt.Errorf("%w: %s is null", metrics.ErrNoData, names[0])
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return metrics.Sample{}, &metrics.NonFiniteError{Value: x}
		}
		return metrics.Sample{Value: x}, nil
	}
	return metrics.Sample{}, fmt.Errorf("%w: %s is %T, not a number", metrics.ErrResultShape, names[0], v)
}

// quiet is a logging.Logger that drops New Relic's client logs: the check's result says what
// happened.
type quiet struct{}

var _ logging.Logger = quiet{}

func (quiet) Error(string, ...any) {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Info(string, ...any)  {}
func (quiet) Debug(string, ...any) {}
func (quiet) Trace(string, ...any) {}
func (quiet) SetLevel(string)      {}
