package metrics

import "time"

// Defaults of BackendOptions.
const (
	DefaultQueryTimeout     = 10 * time.Second
	DefaultMaxResponseBytes = 8 << 20
)

// LookbackFactor is how many metric intervals the query window of a vendor backend covers
// (Window): their points arrive late, and the newest one is the value.
const LookbackFactor = 10

// BackendOptions tune the clients of a vendor metric backend (datadog, cloudwatch); the zero
// value takes the defaults.
type BackendOptions struct {
	// QueryTimeout bounds one request.
	QueryTimeout time.Duration
	// MaxResponseBytes bounds the body read from the vendor.
	MaxResponseBytes int64
	// Now is the clock of queries whose context has no evaluation time.
	Now func() time.Time
}

// WithDefaults returns o with the defaults of its zero fields.
func (o BackendOptions) WithDefaults() BackendOptions {
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = DefaultQueryTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
