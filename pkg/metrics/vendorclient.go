package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Vendor is the plumbing every HTTP client of a vendor backend holds: NewVendor builds it from
// a configuration, and a backend's Client embeds it (its CloseIdleConnections is the Client's),
// so that the backend itself is its vendor's query and answer only.
type Vendor struct {
	// Type is the backend's provider type, the first word of its errors.
	Type string
	// URL is the address as configured (or the vendor's default), and Address the same,
	// redacted, for messages.
	URL, Address string
	// HTTP is the client of HTTPClient: the template's headers and TLS setting, the query
	// timeout, no redirects and bounded answers.
	HTTP *http.Client
	// Timeout is the query timeout, and Now the clock of queries whose context has no
	// evaluation time.
	Timeout time.Duration
	Now     func() time.Time

	closeIdle func()
}

// NewVendor checks that cfg is a configuration of the backend typ whose address, or def when
// it has none, is an http or https URL, and returns the plumbing of its client with the
// defaults of opts.
func NewVendor(cfg ProviderConfig, typ, def string, opts BackendOptions) (Vendor, error) {
	if cfg.Type != typ {
		return Vendor{}, fmt.Errorf("provider type %q is not %s", cfg.Type, typ)
	}
	address := cfg.Address
	if address == "" {
		address = def
	}
	u, err := url.Parse(address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Vendor{}, fmt.Errorf("%s address %s is not an http or https URL", typ, RedactURL(address))
	}
	opts = opts.WithDefaults()
	httpClient, closeIdle := HTTPClient(cfg, opts.QueryTimeout, opts.MaxResponseBytes)
	return Vendor{Type: typ, URL: address, Address: RedactURL(address), HTTP: httpClient,
		Timeout: opts.QueryTimeout, Now: opts.Now, closeIdle: closeIdle}, nil
}

// CloseIdleConnections closes the client's idle connections; a Pool calls it when it drops the
// client.
func (v Vendor) CloseIdleConnections() { v.closeIdle() }

// Base is URL without its trailing slashes, the prefix of the API's paths.
func (v Vendor) Base() string { return strings.TrimRight(v.URL, "/") }

// Span is the time a query of ctx covers when the query names none: LookbackFactor times the
// metric's interval (Window), ending at the evaluation time of ctx, or now.
func (v Vendor) Span(ctx context.Context) (from, to time.Time) { return Span(ctx, v.Now) }

// Span is the time a vendor query of ctx covers when the query names none: LookbackFactor
// times the metric's interval (Window), ending at the evaluation time of ctx, or now().
func Span(ctx context.Context, now func() time.Time) (from, to time.Time) {
	to, ok := EvaluationTime(ctx)
	if !ok {
		to = now()
	}
	return to.Add(-LookbackFactor * Window(ctx)), to
}

// Call sends req, the call what (query) to path below the address, and decodes a 200's body
// into out. Another status is an error with the status and what errorText says of the body
// (": text", or ""); a body that does not decode is an error saying it is not answer (the
// Metrics API's JSON). The query is never repeated in an error: the check records it already.
func (v Vendor) Call(req *http.Request, what, path, answer string, errorText func(body []byte) string, out any) error {
	ctx := req.Context()
	resp, err := v.HTTP.Do(req)
	if err != nil {
		var nerr net.Error
		if errors.As(err, &nerr) && nerr.Timeout() && ctx.Err() == nil {
			return fmt.Errorf("%s %s %s: no answer within the query timeout of %s", v.Type, what, v.Address, v.Timeout)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			uerr.URL = v.Address + path
		}
		return fmt.Errorf("%s %s %s: %w", v.Type, what, v.Address, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s %s: read the answer: %w", v.Type, what, v.Address, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s %s: %s%s", v.Type, what, v.Address, resp.Status, errorText(body))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s %s: the answer is not %s: %w", v.Type, what, v.Address, answer, err)
	}
	return nil
}

// PoolOf returns a Pool of the clients build makes of each distinct configuration with opts.
func PoolOf[P Provider](opts BackendOptions, build func(ProviderConfig, BackendOptions) (P, error)) *Pool {
	return NewPool(func(cfg ProviderConfig) (Provider, error) {
		p, err := build(cfg, opts)
		if err != nil {
			return nil, err // not a Provider holding a nil client
		}
		return p, nil
	}, 0, nil)
}

// SeveralSeries is the ErrResultShape of a query that returned n > 1 series where one was
// wanted: hint says how to aggregate them, and name(i) names the first three.
func SeveralSeries(n int, name func(i int) string, hint string) error {
	names := make([]string, 0, 4)
	for i := range n {
		if i == 3 {
			names = append(names, "...")
			break
		}
		names = append(names, name(i))
	}
	return fmt.Errorf("%w: %d series, want 1 (aggregate them, %s): %s", ErrResultShape, n, hint, strings.Join(names, ", "))
}
