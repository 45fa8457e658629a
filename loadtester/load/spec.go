package load

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HealthCheckCall is the gRPC method that the generator calls with typed messages; any other
// call is sent with an empty request message.
const HealthCheckCall = "grpc.health.v1.Health/Check"

// Defaults applied by Spec.Normalize when a field is left zero.
const (
	DefaultConcurrency = 1
	DefaultTimeout     = 30 * time.Second
)

// MaxConcurrency is the most workers Normalize accepts whatever the caller's own limits: a
// run allocates its workers up front.
const MaxConcurrency = 10000

// ErrInvalidSpec is wrapped by every error that Spec.Normalize returns.
var ErrInvalidSpec = errors.New("invalid load spec")

// Spec describes one load run: a target (exactly one of HTTP and GRPC) and a traffic shape.
type Spec struct {
	HTTP *HTTPTarget `json:"http,omitempty"`
	GRPC *GRPCTarget `json:"grpc,omitempty"`

	// Rate is the total number of requests per second across all workers; zero means no
	// pacing (each worker sends its next request as soon as the previous one returns).
	Rate float64 `json:"rps,omitempty"`
	// Concurrency is the number of workers, and so the most requests in flight at once.
	Concurrency int `json:"concurrency"`
	// Duration stops the run when it elapses; zero means the run is bounded by Requests.
	Duration time.Duration `json:"duration,omitempty"`
	// Requests stops the run after this many requests; zero means the run is bounded by Duration.
	Requests int64 `json:"requests,omitempty"`
	// Timeout bounds each request.
	Timeout time.Duration `json:"timeout"`

	// Notes are human-readable remarks about how the spec was derived (ignored flags, fallbacks);
	// they are copied into the Result.
	Notes []string `json:"notes,omitempty"`
}

// HTTPTarget is an HTTP/1.1 or HTTP/2 endpoint.
type HTTPTarget struct {
	URL    string      `json:"url"`
	Method string      `json:"method"`
	Header http.Header `json:"header,omitempty"`
	// Host overrides the Host header (and the TLS server name is left to the URL).
	Host string `json:"host,omitempty"`
	Body []byte `json:"-"`
	// HTTP2 selects HTTP/2: prior-knowledge h2c for http:// URLs, ALPN h2 for https:// URLs.
	HTTP2              bool `json:"http2,omitempty"`
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	DisableKeepAlives  bool `json:"disableKeepAlives,omitempty"`
	DisableCompression bool `json:"disableCompression,omitempty"`
	DisableRedirects   bool `json:"disableRedirects,omitempty"`
	// CheckRedirect, when set, is asked about the host (host:port) of every redirect before it
	// is followed; an error stops the request, which then counts as failed with that error.
	// The load tester sets it so that a redirect cannot take load where the target rules
	// would not let it go.
	CheckRedirect func(hostport string) error `json:"-"`
}

// GRPCTarget is a gRPC endpoint. With Call equal to HealthCheckCall the standard health
// service is called with Service as the service name and anything but SERVING counts as an
// error; any other call is sent with an empty request message and only the status code counts.
type GRPCTarget struct {
	Address string `json:"address"`
	Call    string `json:"call"`
	Service string `json:"service,omitempty"`
	// Plaintext disables TLS; otherwise TLS is used with the system roots.
	Plaintext          bool              `json:"plaintext,omitempty"`
	InsecureSkipVerify bool              `json:"insecureSkipVerify,omitempty"`
	Authority          string            `json:"authority,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
}

// Target returns a short label for the target, used in metrics and logs.
func (s Spec) Target() string {
	switch {
	case s.HTTP != nil:
		u, err := url.Parse(s.HTTP.URL)
		if err != nil {
			return s.HTTP.URL
		}
		return u.Scheme + "://" + u.Host + u.Path
	case s.GRPC != nil:
		return "grpc://" + s.GRPC.Address + "/" + s.GRPC.Call
	}
	return ""
}

// Normalize fills defaults and checks that the spec can run. The returned error wraps
// ErrInvalidSpec.
func (s Spec) Normalize() (Spec, error) {
	if (s.HTTP == nil) == (s.GRPC == nil) {
		return s, fmt.Errorf("%w: exactly one of an HTTP and a gRPC target is required", ErrInvalidSpec)
	}
	if s.Concurrency == 0 {
		s.Concurrency = DefaultConcurrency
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	switch {
	case s.Concurrency < 0:
		return s, fmt.Errorf("%w: concurrency %d is negative", ErrInvalidSpec, s.Concurrency)
	case s.Concurrency > MaxConcurrency:
		return s, fmt.Errorf("%w: concurrency %d is above %d", ErrInvalidSpec, s.Concurrency, MaxConcurrency)
	case math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0):
		return s, fmt.Errorf("%w: rate %g is not a finite number", ErrInvalidSpec, s.Rate)
	case s.Rate < 0:
		return s, fmt.Errorf("%w: rate %g is negative", ErrInvalidSpec, s.Rate)
	case s.Duration < 0 || s.Requests < 0 || s.Timeout < 0:
		return s, fmt.Errorf("%w: duration, request count and timeout must not be negative", ErrInvalidSpec)
	case s.Duration == 0 && s.Requests == 0:
		return s, fmt.Errorf("%w: a duration or a request count is required", ErrInvalidSpec)
	}
	if s.HTTP != nil {
		h := *s.HTTP
		if h.Method == "" {
			h.Method = http.MethodGet
		}
		u, err := url.Parse(h.URL)
		if err != nil {
			return s, fmt.Errorf("%w: target URL: %w", ErrInvalidSpec, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return s, fmt.Errorf("%w: target URL %q must be absolute http:// or https://", ErrInvalidSpec, h.URL)
		}
		s.HTTP = &h
	}
	if s.GRPC != nil {
		g := *s.GRPC
		if g.Address == "" {
			return s, fmt.Errorf("%w: gRPC address is required", ErrInvalidSpec)
		}
		call, err := normalizeCall(g.Call)
		if err != nil {
			return s, err
		}
		g.Call = call
		s.GRPC = &g
	}
	return s, nil
}

// normalizeCall accepts "pkg.Service/Method", "pkg.Service.Method" and a leading slash, and
// returns "pkg.Service/Method".
func normalizeCall(call string) (string, error) {
	call = strings.TrimPrefix(call, "/")
	if call == "" {
		return HealthCheckCall, nil
	}
	if !strings.Contains(call, "/") {
		i := strings.LastIndex(call, ".")
		if i <= 0 || i == len(call)-1 {
			return "", fmt.Errorf("%w: gRPC call %q is not package.Service/Method", ErrInvalidSpec, call)
		}
		call = call[:i] + "/" + call[i+1:]
	}
	svc, method, _ := strings.Cut(call, "/")
	if svc == "" || method == "" || strings.Contains(method, "/") {
		return "", fmt.Errorf("%w: gRPC call %q is not package.Service/Method", ErrInvalidSpec, call)
	}
	return call, nil
}
