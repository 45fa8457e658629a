// Package prometheus is the Prometheus metric provider: instant queries through
// client_golang's v1.API, with custom headers, bearer or basic auth, TLS settings, explicit
// timeouts and bounded responses. A Pool keeps one client per distinct provider configuration,
// shared by every check of every canary.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Defaults of Options.
const (
	DefaultQueryTimeout     = 10 * time.Second
	DefaultMaxResponseBytes = 8 << 20
	DefaultIdleTTL          = time.Hour
)

// ErrResponseTooLarge is returned when Prometheus answers with more than
// Options.MaxResponseBytes.
var ErrResponseTooLarge = errors.New("prometheus response too large")

// Options tune the clients; the zero value takes the defaults.
type Options struct {
	// QueryTimeout bounds one query: the HTTP request and Prometheus' own evaluation.
	QueryTimeout time.Duration
	// MaxResponseBytes bounds the body read from Prometheus.
	MaxResponseBytes int64
	// IdleTTL is how long a Pool keeps a client no check has asked for.
	IdleTTL time.Duration
	// Now is the clock of queries whose context has no evaluation time, and of the Pool.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = DefaultQueryTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.IdleTTL <= 0 {
		o.IdleTTL = DefaultIdleTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Client queries one Prometheus server. It is safe for concurrent use.
type Client struct {
	api     v1.API
	address string
	timeout time.Duration
	now     func() time.Time
	// closeIdle releases the client's idle connections; nil for a client built on a given API.
	closeIdle func()
}

var _ metrics.Provider = (*Client)(nil)

// New returns a client for cfg. Use a Pool to share clients; New builds a new HTTP transport.
func New(cfg metrics.ProviderConfig, opts Options) (*Client, error) {
	if cfg.Type != "" && cfg.Type != "prometheus" {
		return nil, fmt.Errorf("provider type %q is not a prometheus backend (metrics.Backends picks the backend of each type)", cfg.Type)
	}
	address := metrics.RedactURL(cfg.Address)
	u, err := url.Parse(cfg.Address)
	if err != nil {
		// url.Error would print the address in full, credentials and all.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("parse address %s: %w", address, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("address %s is not an http or https URL", address)
	}
	opts = opts.withDefaults()
	httpClient, closeIdle := newHTTPClient(cfg, opts)
	c, err := api.NewClient(api.Config{Address: cfg.Address, Client: httpClient})
	if err != nil {
		return nil, fmt.Errorf("new client for %s: %w", address, redactError(err))
	}
	client := NewWithAPI(v1.NewAPI(c), cfg.Address, opts) // which redacts it
	client.closeIdle = closeIdle
	return client, nil
}

// NewWithAPI returns a client that queries through a given v1.API; address only names the
// server in errors, redacted (metrics.RedactURL).
func NewWithAPI(a v1.API, address string, opts Options) *Client {
	opts = opts.withDefaults()
	return &Client{api: a, address: metrics.RedactURL(address), timeout: opts.QueryTimeout, now: opts.Now}
}

// Query runs an instant query at the evaluation time of ctx (metrics.WithEvaluationTime), else
// at the client's clock, and returns its single value. An empty vector, NaN or ±Inf is
// metrics.ErrNoData; a range vector, a string or several series is metrics.ErrResultShape.
func (c *Client) Query(ctx context.Context, query string) (metrics.Sample, error) {
	at, ok := metrics.EvaluationTime(ctx)
	if !ok {
		at = c.now()
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, warnings, _, err := c.api.Query(ctx, query, at, v1.WithTimeout(c.timeout))
	if err != nil {
		return metrics.Sample{}, fmt.Errorf("query %s: %w", c.address, redactError(err))
	}
	s, err := sampleOf(v)
	if err != nil {
		return metrics.Sample{}, err
	}
	if s.Time.IsZero() {
		s.Time = at
	}
	s.Warnings = warnings
	return s, nil
}

// sampleOf returns the single value of an instant query result.
func sampleOf(v model.Value) (metrics.Sample, error) {
	switch v := v.(type) {
	case *model.Scalar:
		return valueOf(float64(v.Value), v.Timestamp)
	case model.Vector:
		switch len(v) {
		case 0:
			return metrics.Sample{}, fmt.Errorf("%w: empty vector", metrics.ErrNoData)
		case 1:
			if v[0].Histogram != nil {
				return metrics.Sample{}, fmt.Errorf("%w: a native histogram, want a number", metrics.ErrResultShape)
			}
			return valueOf(float64(v[0].Value), v[0].Timestamp)
		default:
			return metrics.Sample{}, fmt.Errorf("%w: %d series, want 1 (aggregate them, for example with sum): %s",
				metrics.ErrResultShape, len(v), describe(v))
		}
	case model.Matrix:
		return metrics.Sample{}, fmt.Errorf("%w: a range vector of %d series, want an instant vector or a scalar",
			metrics.ErrResultShape, len(v))
	case *model.String:
		return metrics.Sample{}, fmt.Errorf("%w: a string, want a number", metrics.ErrResultShape)
	case nil:
		return metrics.Sample{}, fmt.Errorf("%w: no result", metrics.ErrResultShape)
	}
	return metrics.Sample{}, fmt.Errorf("%w: result type %s", metrics.ErrResultShape, v.Type())
}

// valueOf returns the sample of a value: NaN and ±Inf are no data (metrics.NonFiniteError).
func valueOf(f float64, ts model.Time) (metrics.Sample, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return metrics.Sample{}, &metrics.NonFiniteError{Value: f}
	}
	return metrics.Sample{Value: f, Time: ts.Time()}, nil
}

// redactError redacts the URL that net/http puts in a transport error (it hides a password, but
// not a user name or a ?token=), so that the error can reach a check message.
func redactError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		uerr.URL = metrics.RedactURL(uerr.URL)
	}
	return err
}

// describe lists the label sets of the first few series of v.
func describe(v model.Vector) string {
	const shown = 3
	var parts []string
	for i, s := range v {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(v)-shown))
			break
		}
		parts = append(parts, s.Metric.String())
	}
	return strings.Join(parts, ", ")
}
