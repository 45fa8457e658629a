// Package cloudwatch is the Amazon CloudWatch metric provider: a MetricTemplate's query is a
// JSON array of MetricDataQuery, as in the GetMetricData API (and as Flagger's cloudwatch
// templates write it), run with the AWS SDK over a window ending at the evaluation time. The
// value is the newest value of the one query whose ReturnData is true.
//
// Credentials are the Secret's aws_access_key_id and aws_secret_access_key, or without a
// secretRef the SDK's default chain (environment, web identity, pod identity, instance role).
// The client speaks CloudWatch's AWS JSON 1.0 protocol rather than the SDK's default CBOR one,
// so that the requests and answers are those of CloudWatch's JSON API reference.
//
// The window reaches metrics.LookbackFactor times the metric's interval back, as Flagger's does:
// CloudWatch publishes points late and per period, and one interval often holds none.
package cloudwatch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Options tune the clients; the zero value takes the defaults.
type Options = metrics.BackendOptions

// Client queries CloudWatch in one region with one set of credentials. It is safe for
// concurrent use.
type Client struct {
	api       *cloudwatch.Client
	address   string
	now       func() time.Time
	closeIdle func()
}

var _ metrics.Provider = (*Client)(nil)

// NewPool returns a metrics.Pool of Clients, one per distinct configuration.
func NewPool(opts Options) *metrics.Pool { return metrics.PoolOf(opts, New) }

// New returns a client for cfg: cfg.Region, cfg.Address as the endpoint, and cfg's AWS keys or,
// without them, the default credential chain.
func New(cfg metrics.ProviderConfig, opts Options) (*Client, error) {
	if cfg.Type != metrics.TypeCloudWatch {
		return nil, fmt.Errorf("provider type %q is not cloudwatch", cfg.Type)
	}
	if cfg.Region == "" {
		return nil, errors.New("cloudwatch needs a region")
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, errors.New("cloudwatch needs both an access key id and a secret access key, or neither")
	}
	opts = opts.WithDefaults()
	httpClient, closeIdle := metrics.HTTPClient(cfg, opts.QueryTimeout, opts.MaxResponseBytes)
	load := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithRetryMaxAttempts(1), // the next analysis step is the retry
	}
	if cfg.AccessKeyID != "" {
		load = append(load, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	// Loading reads the environment and the shared config files only; credentials are fetched
	// on the first query, with its context.
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), load...)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch configuration: %w", err)
	}
	address := ""
	if cfg.Address != "" {
		u, err := url.Parse(cfg.Address)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("cloudwatch address %s is not an http or https URL", metrics.RedactURL(cfg.Address))
		}
		address = strings.TrimRight(cfg.Address, "/")
	}
	api := cloudwatch.NewFromConfig(awsCfg, func(o *cloudwatch.Options) {
		o.Protocol = awsjson.New10(schemas.GraniteServiceVersion20100801)
		// CloudWatch calls only: the default chain's own calls (STS, IMDS) keep the SDK's
		// client, and with it AWS_CA_BUNDLE.
		o.HTTPClient = httpClient
		if address != "" {
			o.BaseEndpoint = aws.String(address)
		}
	})
	return &Client{api: api, address: metrics.RedactURL(cmp.Or(address, "region "+cfg.Region)), now: opts.Now, closeIdle: closeIdle}, nil
}

// CloseIdleConnections closes the client's idle connections; a metrics.Pool calls it when it
// drops the client.
func (c *Client) CloseIdleConnections() { c.closeIdle() }

// Query parses query as a JSON array of MetricDataQuery, runs GetMetricData over the window of
// ctx (metrics.Window) times LookbackFactor, ending at the evaluation time of ctx, and returns
// the newest value of the single query whose ReturnData is true. No values is
// metrics.ErrNoData; more than one returned query is metrics.ErrResultShape.
func (c *Client) Query(ctx context.Context, query string) (metrics.Sample, error) {
	queries, err := parse(query)
	if err != nil {
		return metrics.Sample{}, err
	}
	start, end := metrics.Span(ctx, c.now)
	out, err := c.api.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		MetricDataQueries: queries,
		StartTime:         aws.Time(start),
		EndTime:           aws.Time(end),
		ScanBy:            types.ScanByTimestampDescending,
	})
	if err != nil {
		return metrics.Sample{}, fmt.Errorf("cloudwatch GetMetricData %s: %w", c.address, err)
	}
	s, err := sampleOf(queries, out.MetricDataResults)
	if err != nil {
		return metrics.Sample{}, err
	}
	for _, m := range out.Messages {
		s.Warnings = append(s.Warnings, aws.ToString(m.Code)+": "+aws.ToString(m.Value))
	}
	return s, nil
}

// parse reads a JSON array of MetricDataQuery with the API's field names.
func parse(query string) ([]types.MetricDataQuery, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(query)))
	dec.DisallowUnknownFields()
	var queries []types.MetricDataQuery
	if err := dec.Decode(&queries); err != nil {
		return nil, fmt.Errorf("the cloudwatch query is not a JSON array of MetricDataQuery: %w", err)
	}
	if len(queries) == 0 {
		return nil, errors.New("the cloudwatch query is an empty array: it needs at least one MetricDataQuery")
	}
	returned := 0
	for i, q := range queries {
		if aws.ToString(q.Id) == "" {
			return nil, fmt.Errorf("the cloudwatch query's MetricDataQuery %d has no Id", i)
		}
		if q.ReturnData == nil || *q.ReturnData {
			returned++
		}
	}
	if returned != 1 {
		return nil, fmt.Errorf("%w: %d of the cloudwatch query's MetricDataQuery return data, want 1 (set \"ReturnData\": false on the others)",
			metrics.ErrResultShape, returned)
	}
	return queries, nil
}

// sampleOf returns the newest value of the result of the query whose ReturnData is true.
func sampleOf(queries []types.MetricDataQuery, results []types.MetricDataResult) (metrics.Sample, error) {
	var id string
	for _, q := range queries {
		if q.ReturnData == nil || *q.ReturnData {
			id = aws.ToString(q.Id)
		}
	}
	var r *types.MetricDataResult
	for i := range results {
		if aws.ToString(results[i].Id) != id {
			continue
		}
		if r != nil {
			return metrics.Sample{}, fmt.Errorf("%w: CloudWatch answered query %s twice", metrics.ErrResultShape, id)
		}
		r = &results[i]
	}
	if r == nil {
		return metrics.Sample{}, fmt.Errorf("%w: no result for query %s", metrics.ErrNoData, id)
	}
	switch r.StatusCode {
	case types.StatusCodeInternalError, types.StatusCodeForbidden:
		var msgs []string
		for _, m := range r.Messages {
			msgs = append(msgs, aws.ToString(m.Code)+": "+aws.ToString(m.Value))
		}
		return metrics.Sample{}, fmt.Errorf("cloudwatch query %s: status %s %s", id, r.StatusCode, strings.Join(msgs, "; "))
	}
	if len(r.Values) == 0 {
		return metrics.Sample{}, fmt.Errorf("%w: query %s returned no values", metrics.ErrNoData, id)
	}
	// The answer is newest first (ScanBy TimestampDescending); the timestamps, when given,
	// decide.
	newest := 0
	if len(r.Timestamps) == len(r.Values) {
		for i, t := range r.Timestamps {
			if t.After(r.Timestamps[newest]) {
				newest = i
			}
		}
	}
	v := r.Values[newest]
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return metrics.Sample{}, &metrics.NonFiniteError{Value: v}
	}
	s := metrics.Sample{Value: v}
	if len(r.Timestamps) == len(r.Values) {
		s.Time = r.Timestamps[newest]
	}
	return s, nil
}
