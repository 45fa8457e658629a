// Package stackdriver is the Google Cloud Monitoring metric provider, under Flagger's name for
// it: a MetricTemplate's query is a Monitoring Query Language (MQL) query, run through
// QueryService.QueryTimeSeries of Google's Go client (cloud.google.com/go/monitoring) in the
// project of the template's Secret, and its value is the newest point of the single time
// series the query returns.
//
// Why MQL and not PromQL: Flagger's stackdriver provider runs its templates through
// QueryTimeSeries, so the templates people carry over from Flagger are MQL; the Go client
// speaks MQL over gRPC and has no call for Cloud Monitoring's PromQL API (an HTTP
// Prometheus-compatible endpoint). Google has deprecated MQL in favour of PromQL; a PromQL
// mode would be a separate request path, and is not here.
//
// The window is the query's own (its `within` table operation); Cloud Monitoring evaluates it
// at the time of the request, not at the step's evaluation time.
//
// Credentials are Flagger's: the Secret's project (required) and serviceAccountKey, a service
// account's JSON key, exchanged for an access token at the key's token_uri by
// golang.org/x/oauth2/google with the monitoring.read scope. Without a key the controller's
// Application Default Credentials are used (workload identity), and only towards
// monitoring.googleapis.com: provider.address with no key is refused by the Analyzer.
// provider.address, when set, must be https: the token travels with every call.
package stackdriver

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/oauth"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Scope is the OAuth scope the client asks for: read-only access to Cloud Monitoring.
const Scope = "https://www.googleapis.com/auth/monitoring.read"

// Options tune the clients; the zero value takes the defaults.
type Options = metrics.BackendOptions

// Client queries Cloud Monitoring in one project with one set of credentials. It is safe for
// concurrent use.
type Client struct {
	api     *monitoring.QueryClient
	conn    *grpc.ClientConn
	project string
	address string
	headers metadata.MD
	timeout time.Duration
}

var _ metrics.Provider = (*Client)(nil)

// NewPool returns a metrics.Pool of Clients, one per distinct configuration.
func NewPool(opts Options) *metrics.Pool { return metrics.PoolOf(opts, New) }

// New returns a client for cfg: cfg.Address (StackdriverAddress when empty), cfg.Project, and
// cfg.ServiceAccountKey or, without one, Application Default Credentials.
func New(cfg metrics.ProviderConfig, opts Options) (*Client, error) {
	if cfg.Type != metrics.TypeStackdriver {
		return nil, fmt.Errorf("provider type %q is not stackdriver", cfg.Type)
	}
	if cfg.Project == "" {
		return nil, errors.New("stackdriver needs a project")
	}
	address := cmp.Or(cfg.Address, metrics.StackdriverAddress)
	u, err := url.Parse(address)
	if err != nil || u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("stackdriver address %s is not an https URL of a host (such as %s)", metrics.RedactURL(address), metrics.StackdriverAddress)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "443")
	}
	opts = opts.WithDefaults()

	// The token source outlives any one query: its context only carries the HTTP client of
	// the token endpoint, bounded like the queries.
	httpClient, _ := metrics.HTTPClient(metrics.ProviderConfig{InsecureSkipVerify: cfg.InsecureSkipVerify}, opts.QueryTimeout, 1<<20)
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, httpClient)
	var ts oauth2.TokenSource
	if cfg.ServiceAccountKey != "" {
		jwt, err := google.JWTConfigFromJSON([]byte(cfg.ServiceAccountKey), Scope)
		if err != nil {
			// The parser's error never quotes the key.
			return nil, fmt.Errorf("stackdriver serviceAccountKey is not a service account's JSON key: %w", err)
		}
		ts = jwt.TokenSource(tokenCtx)
	} else {
		if ts, err = google.DefaultTokenSource(tokenCtx, Scope); err != nil {
			return nil, fmt.Errorf("stackdriver without serviceAccountKey needs Application Default Credentials: %w", err)
		}
	}

	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			MinVersion: tls.VersionTLS12,
			ServerName: u.Hostname(),
			// The MetricTemplate asks for it (provider.insecureSkipVerify).
			InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec
		})),
		grpc.WithPerRPCCredentials(oauth.TokenSource{TokenSource: ts}),
	)
	if err != nil {
		return nil, fmt.Errorf("stackdriver address %s: %w", metrics.RedactURL(address), err)
	}
	api, err := monitoring.NewQueryClient(context.Background(), option.WithGRPCConn(conn))
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("stackdriver client: %w", err)
	}
	md := metadata.MD{}
	for k, vs := range cfg.Headers {
		md.Append(strings.ToLower(k), vs...)
	}
	return &Client{
		api:     api,
		conn:    conn,
		project: "projects/" + cfg.Project,
		address: metrics.RedactURL(address),
		headers: md,
		timeout: opts.QueryTimeout,
	}, nil
}

// CloseIdleConnections closes the client's connection; a metrics.Pool calls it when it drops
// the client.
func (c *Client) CloseIdleConnections() {
	_ = c.api.Close()
	_ = c.conn.Close()
}

// Query runs the MQL query and returns the newest point of its single time series. No series,
// or a series without points, is metrics.ErrNoData; several series are metrics.ErrResultShape.
func (c *Client) Query(ctx context.Context, query string) (metrics.Sample, error) {
	qctx, cancel := context.WithTimeout(c.outgoing(ctx), c.timeout)
	defer cancel()
	it := c.api.QueryTimeSeries(qctx, &monitoringpb.QueryTimeSeriesRequest{Name: c.project, Query: query})
	var series []*monitoringpb.TimeSeriesData
	for {
		ts, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil && ctx.Err() == nil && (errors.Is(qctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded) {
			// Said as the other backends say it: gRPC's DeadlineExceeded names no duration. The
			// server may end the call at the deadline it was sent before the client's timer does.
			return metrics.Sample{}, fmt.Errorf("stackdriver query %s (%s): no answer within the query timeout of %s", c.address, c.project, c.timeout)
		}
		if err != nil {
			return metrics.Sample{}, c.failed("query", err)
		}
		series = append(series, ts)
		if len(series) > 3 {
			break // enough to say there are several
		}
	}
	s, err := sampleOf(series)
	if err != nil {
		return metrics.Sample{}, err
	}
	if resp, ok := it.Response.(*monitoringpb.QueryTimeSeriesResponse); ok {
		for _, pe := range resp.GetPartialErrors() {
			s.Warnings = append(s.Warnings, "partial error: "+pe.GetMessage())
		}
	}
	return s, nil
}

// outgoing adds the template's headers to the call's metadata.
func (c *Client) outgoing(ctx context.Context) context.Context {
	if len(c.headers) == 0 {
		return ctx
	}
	if md, ok := metadata.FromOutgoingContext(ctx); ok {
		return metadata.NewOutgoingContext(ctx, metadata.Join(md, c.headers))
	}
	return metadata.NewOutgoingContext(ctx, c.headers)
}

// failed describes an error of a call: the gRPC code and Cloud Monitoring's message.
func (c *Client) failed(what string, err error) error {
	if st, ok := status.FromError(err); ok {
		return fmt.Errorf("stackdriver %s %s (%s): %s: %s", what, c.address, c.project, st.Code(), st.Message())
	}
	return fmt.Errorf("stackdriver %s %s (%s): %w", what, c.address, c.project, err)
}

// sampleOf returns the newest point of the single series.
func sampleOf(series []*monitoringpb.TimeSeriesData) (metrics.Sample, error) {
	switch len(series) {
	case 0:
		return metrics.Sample{}, fmt.Errorf("%w: no time series", metrics.ErrNoData)
	case 1:
	default:
		labels := make([]string, 0, 3)
		for i, s := range series {
			if i == 3 {
				labels = append(labels, "...")
				break
			}
			vs := make([]string, 0, len(s.GetLabelValues()))
			for _, l := range s.GetLabelValues() {
				vs = append(vs, fmt.Sprint(labelValue(l)))
			}
			labels = append(labels, "{"+strings.Join(vs, ",")+"}")
		}
		n := fmt.Sprint(len(series))
		if len(series) > 3 {
			n = "more than 3"
		}
		return metrics.Sample{}, fmt.Errorf("%w: %s time series, want 1 (aggregate them, for example with | group_by [], sum(val())): %s",
			metrics.ErrResultShape, n, strings.Join(labels, ", "))
	}
	var newest *monitoringpb.TimeSeriesData_PointData
	for _, p := range series[0].GetPointData() {
		if len(p.GetValues()) == 0 {
			continue
		}
		if newest == nil || p.GetTimeInterval().GetEndTime().AsTime().After(newest.GetTimeInterval().GetEndTime().AsTime()) {
			newest = p
		}
	}
	if newest == nil {
		return metrics.Sample{}, fmt.Errorf("%w: the time series has no point", metrics.ErrNoData)
	}
	v, err := number(newest.GetValues()[0])
	if err != nil {
		return metrics.Sample{}, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return metrics.Sample{}, &metrics.NonFiniteError{Value: v}
	}
	s := metrics.Sample{Value: v}
	if end := newest.GetTimeInterval().GetEndTime(); end != nil {
		s.Time = end.AsTime()
	}
	return s, nil
}

// number is the value of a double or int64 point.
func number(v *monitoringpb.TypedValue) (float64, error) {
	switch x := v.GetValue().(type) {
	case *monitoringpb.TypedValue_DoubleValue:
		return x.DoubleValue, nil
	case *monitoringpb.TypedValue_Int64Value:
		return float64(x.Int64Value), nil
	case nil:
		return 0, fmt.Errorf("%w: the newest point has no value", metrics.ErrNoData)
	default:
		return 0, fmt.Errorf("%w: the newest point is a %T, not a number (reduce a distribution, for example with percentile_from or mean_from)",
			metrics.ErrResultShape, x)
	}
}

// labelValue is a label's value for a message.
func labelValue(l *monitoringpb.LabelValue) any {
	switch x := l.GetValue().(type) {
	case *monitoringpb.LabelValue_StringValue:
		return x.StringValue
	case *monitoringpb.LabelValue_Int64Value:
		return x.Int64Value
	case *monitoringpb.LabelValue_BoolValue:
		return x.BoolValue
	}
	return ""
}
