package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"
)

// ErrNoData is returned by Provider.Query when the query answered, but with no value: an empty
// vector, or a value that is no number (NonFiniteError).
var ErrNoData = errors.New("no data")

// NonFiniteError is the ErrNoData of a query whose value is NaN (for example 0/0 when the
// canary received no requests), +Inf or -Inf (histogram_quantile beyond the last bucket, x/0).
// No threshold can judge such a value: +Inf would pass any min.
type NonFiniteError struct {
	Value float64
}

func (e *NonFiniteError) Error() string {
	return "no data: value is " + formatValue(e.Value)
}

// Unwrap returns ErrNoData.
func (e *NonFiniteError) Unwrap() error { return ErrNoData }

// finite returns a NonFiniteError when v is NaN or ±Inf.
func finite(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return &NonFiniteError{Value: v}
	}
	return nil
}

// ErrResultShape is returned by Provider.Query when the answer is not one number: a range
// vector, a string, or several series.
var ErrResultShape = errors.New("query result is not a single value")

// Provider runs queries against a metrics backend.
type Provider interface {
	// Query runs an instant query at the evaluation time of ctx (see WithEvaluationTime) and
	// returns its single value. It returns an error wrapping ErrNoData when there is no
	// value or the value is NaN or ±Inf (a NonFiniteError), and one wrapping ErrResultShape
	// when the result is not a single value.
	Query(ctx context.Context, query string) (Sample, error)
}

// Sample is the value of an instant query.
type Sample struct {
	// Value is a finite number: NaN and ±Inf are ErrNoData.
	Value float64
	// Time is the evaluation time of the value.
	Time time.Time
	// Warnings the backend returned with the value.
	Warnings []string
}

// ProviderConfig is everything that makes one provider client differ from another: two equal
// configurations may share a client.
type ProviderConfig struct {
	// Type of the backend: one of ProviderTypes; empty means prometheus.
	Type string
	// Address is the base URL, for example http://prometheus.monitoring:9090, or
	// https://api.datadoghq.com, or the CloudWatch endpoint.
	Address string
	// Region of a cloud backend (cloudwatch).
	Region string
	// Headers are sent with every query.
	Headers http.Header
	// BearerToken, when set, is sent as "Authorization: Bearer <token>".
	BearerToken string
	// Username and Password, when set and BearerToken is not, are sent as basic auth.
	Username string
	Password string
	// APIKey and ApplicationKey are Datadog's keys, sent as DD-API-KEY and
	// DD-APPLICATION-KEY.
	APIKey         string
	ApplicationKey string
	// AccessKeyID and SecretAccessKey are static AWS credentials; without them cloudwatch uses
	// the SDK's default credential chain.
	AccessKeyID     string
	SecretAccessKey string
	// Project is the Google Cloud project of a stackdriver query, and ServiceAccountKey the
	// JSON key of a Google service account; without a key stackdriver uses the controller's
	// Application Default Credentials.
	Project           string
	ServiceAccountKey string
	// SignalFxToken is a Splunk Observability access token.
	SignalFxToken string
	// Namespace is the only namespace a keptn query may name; empty allows any.
	Namespace string
	// Token is the one secret of a backend that takes one: New Relic's API key (sent as
	// API-Key), InfluxDB's token (Authorization: Token) or Dynatrace's API token
	// (Authorization: Api-Token).
	Token string
	// AccountID is the New Relic account an NRQL query runs in; Org the InfluxDB
	// organization.
	AccountID string
	Org       string
	// InsecureSkipVerify skips verification of the server's certificate.
	InsecureSkipVerify bool
}

// String describes the configuration without its credentials, and with its address redacted
// (RedactURL).
func (c ProviderConfig) String() string {
	auth := "none"
	switch {
	case c.BearerToken != "":
		auth = "bearer"
	case c.Username != "" || c.Password != "":
		auth = "basic"
	case c.APIKey != "" || c.ApplicationKey != "":
		auth = "datadog keys"
	case c.AccessKeyID != "" || c.SecretAccessKey != "":
		auth = "aws keys"
	case c.Token != "":
		auth = "token"
	case c.ServiceAccountKey != "":
		auth = "google service account key"
	case c.SignalFxToken != "":
		auth = "signalfx token"
	}
	typ := c.Type
	if typ == "" {
		typ = "prometheus"
	}
	region := ""
	if c.Region != "" {
		region = " region " + c.Region
	}
	return fmt.Sprintf("%s %s%s (auth %s, %d headers, insecureSkipVerify %t)", typ, RedactURL(c.Address), region, auth, len(c.Headers), c.InsecureSkipVerify)
}

// GoString is String, so that %#v does not print credentials either.
func (c ProviderConfig) GoString() string { return c.String() }

// Providers hands out the Provider for a configuration. prometheus.Pool implements it and
// reuses one client per distinct configuration across checks and canaries; Backends hands each
// configuration to the Providers of its Type.
type Providers interface {
	Provider(cfg ProviderConfig) (Provider, error)
}

type evaluationTimeKey struct{}

// WithEvaluationTime returns a context whose queries are evaluated at t, so that every check of
// a step reads the same instant and a recorded value can be reproduced later. The Analyzer sets
// it to the step's time.
func WithEvaluationTime(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, evaluationTimeKey{}, t)
}

// EvaluationTime returns the evaluation time set by WithEvaluationTime.
func EvaluationTime(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(evaluationTimeKey{}).(time.Time)
	return t, ok
}
