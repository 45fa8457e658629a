package metrics

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The metric backends a MetricTemplate's provider.type may name.
const (
	TypePrometheus = "prometheus"
	TypeDatadog    = "datadog"
	TypeCloudWatch = "cloudwatch"
	// TypeStackdriver is Google Cloud Monitoring, by Flagger's name.
	TypeStackdriver = "stackdriver"
	// TypeSplunk is Splunk Observability Cloud (SignalFx).
	TypeSplunk = "splunk"
	// TypeKeptn reads Keptn's metrics-operator objects through the Kubernetes API.
	TypeKeptn = "keptn"
	// TypeNewRelic, TypeInfluxDB, TypeGraphite and TypeDynatrace take NRQL, Flux, a Graphite
	// render query and a Dynatrace metric selector (keyedconfig.go).
	TypeNewRelic  = "newrelic"
	TypeInfluxDB  = "influxdb"
	TypeGraphite  = "graphite"
	TypeDynatrace = "dynatrace"
)

// ProviderTypes lists the backends Siskin has, for messages and validation.
var ProviderTypes = []string{TypePrometheus, TypeDatadog, TypeCloudWatch,
	TypeStackdriver, TypeSplunk, TypeKeptn,
	TypeNewRelic, TypeInfluxDB, TypeGraphite, TypeDynatrace}

// DatadogAddress is the Datadog API a datadog MetricTemplate without provider.address queries.
const DatadogAddress = "https://api.datadoghq.com"

// The keys of a provider Secret, as Flagger names them.
const (
	SecretDatadogAPIKey         = "datadog_api_key"
	SecretDatadogApplicationKey = "datadog_application_key"
	SecretAWSAccessKeyID        = "aws_access_key_id"
	SecretAWSSecretAccessKey    = "aws_secret_access_key"
)

// Backends is a Providers that hands each configuration to the Providers of its Type (empty is
// prometheus), so one Analyzer serves MetricTemplates of every backend.
type Backends map[string]Providers

var _ Providers = Backends(nil)

// Provider implements Providers.
func (b Backends) Provider(cfg ProviderConfig) (Provider, error) {
	typ := cmp.Or(cfg.Type, TypePrometheus)
	p, ok := b[typ]
	if !ok || p == nil {
		names := make([]string, 0, len(b))
		for name := range b {
			names = append(names, name)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("provider type %q is not served by this controller (it serves %s)", typ, strings.Join(names, ", "))
	}
	return p.Provider(cfg)
}

// windowKey is the context key of WithWindow.
type windowKey struct{}

// WithWindow returns a context whose queries cover the window d before the evaluation time.
// The Analyzer sets it to the metric's interval; backends whose queries carry no window of
// their own (datadog, cloudwatch) read it.
func WithWindow(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, windowKey{}, d)
}

// Window returns the window set by WithWindow, else DefaultInterval.
func Window(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(windowKey{}).(time.Duration); ok && d > 0 {
		return d
	}
	return DefaultInterval
}

// vendorConfig returns the provider configuration of a MetricTemplate of a backend other than
// prometheus: the vendor's address unless provider.address overrides it, and the credentials
// from the Secret's keys of that backend. Such a configuration never takes the Canary's
// metricsServer or the controller's --metrics-server.
func (a *Analyzer) vendorConfig(ctx context.Context, t *siskinv1.MetricTemplate) (ProviderConfig, error) {
	p := t.Spec.Provider
	where := fmt.Sprintf("MetricTemplate %s/%s", t.Namespace, t.Name)
	cfg := ProviderConfig{Type: p.Type, Address: p.Address, Region: p.Region, InsecureSkipVerify: p.InsecureSkipVerify}
	if len(p.Headers) > 0 {
		cfg.Headers = http.Header{}
		for k, vs := range p.Headers {
			cfg.Headers[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
		}
	}
	var keys []string
	switch p.Type {
	case TypeDatadog:
		cfg.Address = cmp.Or(cfg.Address, DatadogAddress)
		keys = []string{SecretDatadogAPIKey, SecretDatadogApplicationKey}
		if p.SecretRef == nil {
			return ProviderConfig{}, fmt.Errorf("%s: the datadog provider needs a secretRef to a Secret with the keys %s and %s", where, keys[0], keys[1])
		}
	case TypeCloudWatch:
		if cfg.Region == "" {
			return ProviderConfig{}, fmt.Errorf("%s: the cloudwatch provider needs provider.region", where)
		}
		if cfg.Address != "" && p.SecretRef == nil {
			// The default chain's credentials (and session token) belong to the controller: they
			// go to AWS only, never to an endpoint a template author chose.
			return ProviderConfig{}, fmt.Errorf("%s: a cloudwatch provider.address needs a secretRef beside it; the controller's own AWS credentials only go to AWS", where)
		}
		cfg.Address = cmp.Or(cfg.Address, cloudWatchEndpoint(cfg.Region))
		keys = []string{SecretAWSAccessKeyID, SecretAWSSecretAccessKey}
		if p.SecretRef == nil {
			return cfg, nil // the SDK's default credential chain
		}
	case TypeStackdriver, TypeSplunk, TypeKeptn:
		return a.configOf(ctx, t, cfg) // vendorconfig.go
	case TypeNewRelic, TypeInfluxDB, TypeGraphite, TypeDynatrace:
		return a.keyedConfig(ctx, t, cfg) // keyedconfig.go
	default:
		return ProviderConfig{}, fmt.Errorf("%s: provider type %q is not supported: set provider.type to one of %s", where, p.Type, strings.Join(ProviderTypes, ", "))
	}

	if a.opts.Secrets == nil {
		return ProviderConfig{}, fmt.Errorf("%s: no Secret reader configured", where)
	}
	data, err := a.opts.Secrets.SecretData(ctx, t.Namespace, p.SecretRef.Name)
	if err != nil {
		return ProviderConfig{}, fmt.Errorf("%s: Secret %s: %w", where, p.SecretRef.Name, err)
	}
	values := make([]string, len(keys))
	var missing []string
	for i, k := range keys {
		values[i] = strings.TrimSpace(string(data[k]))
		if values[i] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return ProviderConfig{}, fmt.Errorf("%s: Secret %s lacks the key %s that the %s provider needs", where, p.SecretRef.Name, strings.Join(missing, " and "), p.Type)
	}
	switch p.Type {
	case TypeDatadog:
		cfg.APIKey, cfg.ApplicationKey = values[0], values[1]
	case TypeCloudWatch:
		cfg.AccessKeyID, cfg.SecretAccessKey = values[0], values[1]
	}
	return cfg, nil
}

// cloudWatchEndpoint is the CloudWatch API of region.
func cloudWatchEndpoint(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "https://monitoring." + region + ".amazonaws.com.cn"
	}
	return "https://monitoring." + region + ".amazonaws.com"
}

// Pool keeps one Provider per distinct configuration, built on first use, for a backend whose
// clients are worth sharing across checks and canaries. A provider no check asked for during
// the idle TTL is dropped, which also retires the client of rotated credentials. It is safe
// for concurrent use.
type Pool struct {
	build   func(ProviderConfig) (Provider, error)
	idleTTL time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*poolEntry
}

type poolEntry struct {
	provider Provider
	lastUsed time.Time
}

var _ Providers = (*Pool)(nil)

// DefaultIdleTTL is how long a Pool keeps a provider no check has asked for.
const DefaultIdleTTL = time.Hour

// NewPool returns a Pool of the providers build returns; idleTTL zero is DefaultIdleTTL, now
// nil is time.Now.
func NewPool(build func(ProviderConfig) (Provider, error), idleTTL time.Duration, now func() time.Time) *Pool {
	if idleTTL <= 0 {
		idleTTL = DefaultIdleTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Pool{build: build, idleTTL: idleTTL, now: now, entries: map[string]*poolEntry{}}
}

// Provider implements Providers.
func (p *Pool) Provider(cfg ProviderConfig) (Provider, error) {
	key := cfg.key()
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, e := range p.entries {
		if now.Sub(e.lastUsed) >= p.idleTTL {
			if c, ok := e.provider.(interface{ CloseIdleConnections() }); ok {
				c.CloseIdleConnections()
			}
			delete(p.entries, k)
		}
	}
	if e, ok := p.entries[key]; ok {
		e.lastUsed = now
		return e.provider, nil
	}
	prov, err := p.build(cfg)
	if err != nil {
		return nil, err
	}
	p.entries[key] = &poolEntry{provider: prov, lastUsed: now}
	return prov, nil
}

// Len returns the number of providers in the pool.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}

// key identifies c by a hash of everything in it, so a Pool's keys hold no credentials.
func (c ProviderConfig) key() string {
	headers := make(map[string][]string, len(c.Headers))
	for k, vs := range c.Headers {
		k = http.CanonicalHeaderKey(k)
		headers[k] = append(headers[k], vs...)
	}
	c.Headers = headers
	c.Type = cmp.Or(c.Type, TypePrometheus)
	c.Address = strings.TrimRight(c.Address, "/")
	// encoding/json writes fields in order and map keys sorted: equal configurations encode
	// equally.
	b, err := json.Marshal(c)
	if err != nil {
		panic("encode provider configuration: " + err.Error()) // strings, maps and bools always encode
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// HTTPClient returns an HTTP client for a vendor backend of cfg: cfg's headers on every
// request, its TLS setting, the timeout, no redirects (they would carry the credentials to
// whatever server they name) and response bodies bounded to maxBody bytes. The function it
// returns closes the client's idle connections.
func HTTPClient(cfg ProviderConfig, timeout time.Duration, maxBody int64) (*http.Client, func()) {
	base := &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// The MetricTemplate asks for it (provider.insecureSkipVerify).
			InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec
		},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	rt := &vendorTransport{base: base, headers: cfg.Headers.Clone(), maxBody: maxBody}
	refuse := func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("redirect not followed: the server redirects to %s; set provider.address to the server that answers", RedactURL(req.URL.String()))
	}
	return &http.Client{Transport: rt, Timeout: timeout, CheckRedirect: refuse}, base.CloseIdleConnections
}

// vendorTransport adds the configured headers to each request and bounds the response body.
type vendorTransport struct {
	base    http.RoundTripper
	headers http.Header
	maxBody int64
}

// RoundTrip implements http.RoundTripper.
func (t *vendorTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.headers) > 0 {
		req = req.Clone(req.Context()) // a RoundTripper must not modify its request
		for k, vs := range t.headers {
			if k == "Host" && len(vs) > 0 {
				req.Host = vs[0]
				continue
			}
			req.Header[k] = slices.Clone(vs)
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || t.maxBody <= 0 {
		return resp, err
	}
	resp.Body = &boundedBody{r: io.LimitReader(resp.Body, t.maxBody+1), c: resp.Body, left: t.maxBody}
	return resp, nil
}

// ErrResponseTooLarge is returned when a vendor backend answers with more than the bound.
var ErrResponseTooLarge = errors.New("metric provider response too large")

// boundedBody fails a read past its bound instead of truncating the answer silently.
type boundedBody struct {
	r    io.Reader
	c    io.Closer
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, ErrResponseTooLarge
	}
	return n, err
}

func (b *boundedBody) Close() error { return b.c.Close() }
