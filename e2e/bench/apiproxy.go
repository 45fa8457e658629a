package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// apiProxy sits between one controller and the API server on a loopback port and counts the
// controller's requests by verb. Each controller of a comparison talks to the API server through
// one, so every controller is counted the same way, whatever client metrics it has of its own.
type apiProxy struct {
	srv *http.Server
	url string

	mu     sync.Mutex
	counts map[string]float64
	failed float64
}

// verbOf names a request as the counts do: its HTTP method, but WATCH for a GET with watch=true.
func verbOf(r *http.Request) string {
	if r.Method == http.MethodGet {
		if w := r.URL.Query().Get("watch"); w == "true" || w == "1" {
			return "WATCH"
		}
	}
	return r.Method
}

// startAPIProxy listens on a free loopback port and forwards every request to the API server
// of cfg with cfg's credentials; it stops when ctx ends.
func startAPIProxy(ctx context.Context, cfg *rest.Config) (*apiProxy, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = ""
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("api proxy: %w", err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("api proxy: %w", err)
	}
	return serveAPIProxy(ctx, target, rt)
}

func serveAPIProxy(ctx context.Context, target *url.URL, rt http.RoundTripper) (*apiProxy, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("api proxy: %w", err)
	}
	p := &apiProxy{url: "http://" + l.Addr().String(), counts: map[string]float64{}}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: rt,
		// Watches stream: every event goes to the controller as it arrives.
		FlushInterval: -1,
		// A controller that stops ends its watches: nothing worth a line on the bench's output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			verb := verbOf(r)
			p.mu.Lock()
			p.counts[verb]++
			p.mu.Unlock()
			rp.ServeHTTP(&codeWriter{ResponseWriter: w, proxy: p}, r)
		}),
	}
	go func() {
		if err := p.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("api proxy stopped: %v", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = p.srv.Close()
	}()
	return p, nil
}

// codeWriter counts a response with another code than 2xx as failed before the client can
// see it; it flushes, so watches stream.
type codeWriter struct {
	http.ResponseWriter
	proxy *apiProxy
}

func (w *codeWriter) WriteHeader(code int) {
	if code < 200 || code > 299 {
		w.proxy.mu.Lock()
		w.proxy.failed++
		w.proxy.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// counted is the proxy's counts at one moment.
type counted struct {
	at     time.Time
	verbs  map[string]float64
	failed float64
}

func (p *apiProxy) snapshot() counted {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := counted{at: time.Now(), verbs: make(map[string]float64, len(p.counts)), failed: p.failed}
	for k, v := range p.counts {
		c.verbs[k] = v
	}
	return c
}

func (c counted) total() float64 {
	t := 0.0
	for _, v := range c.verbs {
		t += v
	}
	return t
}

func (c counted) writes() float64 {
	t := 0.0
	for _, m := range writeMethods {
		t += c.verbs[m]
	}
	return t
}

// since is the requests by verb from a to c.
func (c counted) since(a counted) map[string]float64 {
	out := map[string]float64{}
	for k, v := range c.verbs {
		if d := v - a.verbs[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// writeKubeconfig writes a kubeconfig that sends a controller to the proxy, with no
// credentials of its own: the proxy adds the bench's.
func (p *apiProxy) writeKubeconfig(path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bench"] = &clientcmdapi.Cluster{Server: p.url}
	kc.AuthInfos["bench"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench"}
	kc.CurrentContext = "bench"
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return clientcmd.WriteToFile(*kc, path)
}
