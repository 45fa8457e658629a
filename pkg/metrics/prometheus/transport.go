package prometheus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// newHTTPClient returns the HTTP client of cfg, and a function that closes its idle
// connections.
func newHTTPClient(cfg metrics.ProviderConfig, opts Options) (*http.Client, func()) {
	base := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// The MetricTemplate asks for it (provider.insecureSkipVerify).
			InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec
		},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: opts.QueryTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	rt := &transport{
		base:     base,
		headers:  cfg.Headers.Clone(),
		bearer:   cfg.BearerToken,
		username: cfg.Username,
		password: cfg.Password,
		maxBody:  opts.MaxResponseBytes,
	}
	return &http.Client{Transport: rt, Timeout: opts.QueryTimeout, CheckRedirect: refuseRedirect}, base.CloseIdleConnections
}

// ErrRedirect is returned when the server answers a query with a redirect.
var ErrRedirect = errors.New("redirect not followed")

// refuseRedirect never follows a redirect: the transport adds the provider's credentials and
// headers to every request it sends, so a redirect would hand them to whatever server it names.
// Credentials only go to the address written beside them.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("%w: the server redirects to %s; set the provider address to the server that answers",
		ErrRedirect, metrics.RedactURL(req.URL.String()))
}

// transport adds the configured headers and credentials to each request and bounds the
// response body.
type transport struct {
	base               http.RoundTripper
	headers            http.Header
	bearer             string
	username, password string
	maxBody            int64
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context()) // a RoundTripper must not modify its request
	for k, vs := range t.headers {
		if http.CanonicalHeaderKey(k) == "Host" && len(vs) > 0 {
			req.Host = vs[0] // net/http ignores a Host entry in Header
			continue
		}
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	switch {
	case t.bearer != "":
		req.Header.Set("Authorization", "Bearer "+t.bearer)
	case t.username != "" || t.password != "":
		req.SetBasicAuth(t.username, t.password)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, limit: t.maxBody}
	return resp, nil
}

// limitedBody fails a read past its limit rather than truncating the body silently.
type limitedBody struct {
	io.ReadCloser
	limit, read int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.read >= b.limit {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, b.limit)
		}
		return 0, err
	}
	if rest := b.limit - b.read; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	return n, err
}
