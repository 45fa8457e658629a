package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxDrain bounds how much of each response body is read (and discarded) so that the
// connection can be reused.
const maxDrain = 4 << 20

type httpRequester struct {
	client *http.Client
	t      HTTPTarget
	host   string
}

// maxRedirects is how many redirects a request follows, as Go's default client does.
const maxRedirects = 10

func newHTTPRequester(t HTTPTarget, concurrency int, timeout time.Duration) *httpRequester {
	protocols := new(http.Protocols)
	switch {
	case !t.HTTP2:
		protocols.SetHTTP1(true)
	case strings.HasPrefix(t.URL, "https:"):
		protocols.SetHTTP2(true)
	default:
		protocols.SetUnencryptedHTTP2(true)
	}
	tr := &http.Transport{
		// Honour HTTP_PROXY/HTTPS_PROXY/NO_PROXY: where the mesh is reached through a proxy
		// (the local environment's data plane), load must go through it too.
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableKeepAlives:   t.DisableKeepAlives,
		DisableCompression:  t.DisableCompression,
		Protocols:           protocols,
	}
	client := &http.Client{Transport: tr, Timeout: timeout}
	switch {
	case t.DisableRedirects:
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	case t.CheckRedirect != nil:
		client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if err := t.CheckRedirect(req.URL.Host); err != nil {
				return fmt.Errorf("redirect to %s refused: %w", req.URL.Host, err)
			}
			return nil
		}
	}
	host := t.Host
	if host == "" {
		// Go ignores a Host entry in the header map; honour one the way hey users expect.
		host = t.Header.Get("Host")
	}
	return &httpRequester{client: client, t: t, host: host}
}

func (h *httpRequester) do(ctx context.Context) outcome {
	var body io.Reader
	if len(h.t.Body) > 0 {
		body = bytes.NewReader(h.t.Body)
	}
	req, err := http.NewRequestWithContext(ctx, h.t.Method, h.t.URL, body)
	if err != nil {
		return outcome{status: "error", failed: true, err: err}
	}
	if len(h.t.Header) > 0 {
		req.Header = h.t.Header.Clone()
	}
	if h.host != "" {
		req.Host = h.host
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return outcome{status: "error", failed: true, err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	return outcome{status: strconv.Itoa(resp.StatusCode), failed: resp.StatusCode >= 500}
}

func (h *httpRequester) close() { h.client.CloseIdleConnections() }

func newRequester(s Spec) (requester, error) {
	if s.HTTP != nil {
		return newHTTPRequester(*s.HTTP, s.Concurrency, s.Timeout), nil
	}
	return newGRPCRequester(*s.GRPC)
}
