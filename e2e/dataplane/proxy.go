package dataplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultControllerName is the GatewayClass controllerName the data plane implements.
const DefaultControllerName = "siskin.dev/localenv-dataplane"

const (
	// maxMirrorBody is the largest request body copied to mirrors; larger ones are not mirrored.
	maxMirrorBody = 1 << 20
	// maxMirrorsInFlight bounds concurrent mirrored requests; more are dropped, as a proxy would.
	maxMirrorsInFlight = 256
	mirrorTimeout      = 10 * time.Second
	// maxRetryBody is the largest request body buffered so that the request can be retried;
	// a request with a larger body is not retried, as Envoy's per-request buffer limit does.
	maxRetryBody = 64 << 10
)

// Options configure a Server.
type Options struct {
	// ControllerName is the GatewayClass controllerName to implement; DefaultControllerName
	// when empty.
	ControllerName string
	// Address is the IP reported in the status of the Gateways the data plane serves.
	Address string
	// Log receives the data plane's logs.
	Log logr.Logger
	// DialAddr maps an endpoint address (podIP:port) to the address to connect to; the
	// default connects to the endpoint address itself. localenv maps pod IPs to the loopback
	// addresses the test app listens on.
	DialAddr func(hostport string) string
}

// Server is the data plane: an http.Handler that proxies requests by its current Table and
// serves /metrics, /routes and /healthz to requests addressed to an IP or localhost.
type Server struct {
	opts      Options
	table     atomic.Pointer[Table]
	synced    atomic.Bool
	metrics   *metrics
	proxy     *httputil.ReverseProxy
	transport *http.Transport
	admin     *http.ServeMux
	mirrors   chan struct{}
	random    func() float64
}

// New returns a Server with an empty table; Run fills it from the API server, tests call
// SetTable.
func New(opts Options) *Server {
	if opts.ControllerName == "" {
		opts.ControllerName = DefaultControllerName
	}
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	dial := dialer.DialContext
	if opts.DialAddr != nil {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, opts.DialAddr(addr))
		}
	}
	s := &Server{
		opts:    opts,
		metrics: newMetrics(),
		mirrors: make(chan struct{}, maxMirrorsInFlight),
		random:  rand.Float64,
		transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dial,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	s.table.Store(Build(Snapshot{}))
	s.proxy = &httputil.ReverseProxy{
		Rewrite:        s.rewrite,
		Transport:      retrying{s},
		ModifyResponse: s.modifyResponse,
		ErrorHandler:   s.proxyError,
		ErrorLog:       nil,
	}
	s.admin = http.NewServeMux()
	s.admin.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	s.admin.HandleFunc("GET /routes", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.table.Load().Routes())
	})
	s.admin.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	s.admin.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.synced.Load() {
			http.Error(w, "routing table not built yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	return s
}

// SetTable replaces the routing table.
func (s *Server) SetTable(t *Table) { s.table.Store(t) }

// Table returns the current routing table.
func (s *Server) Table() *Table { return s.table.Load() }

// Ready reports whether the table has been built from synced caches.
func (s *Server) Ready() bool { return s.synced.Load() }

// isAdmin reports whether a request is addressed to the data plane itself (an IP or
// localhost) rather than to a service host.
func isAdmin(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return host == "localhost" || net.ParseIP(host) != nil
}

type decisionKey struct{}

// ServeHTTP routes one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isAdmin(r) {
		s.admin.ServeHTTP(w, r)
		return
	}
	if r.Method == http.MethodConnect {
		http.Error(w, "CONNECT is not supported: the data plane speaks plain HTTP", http.StatusMethodNotAllowed)
		return
	}
	start := time.Now()
	d := s.table.Load().Route(r, s.random)
	if d.Status != 0 {
		s.opts.Log.V(1).Info("Request not routed", "host", r.Host, "path", r.URL.Path, "status", d.Status, "reason", d.Reason)
		http.Error(w, d.Reason, d.Status)
		if d.ingress != nil {
			s.metrics.observeIngress(d.ingress, d.Service, r.Method, d.Status, time.Since(start))
		}
		if d.skipper != "" {
			s.metrics.recordSkipper(d.skipper, r.Method, d.Status, time.Since(start))
		}
		return
	}
	if len(d.Mirrors) > 0 {
		s.mirror(r, &d)
	}
	ctx := context.WithValue(r.Context(), decisionKey{}, &d)
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	rec := &statusRecorder{ResponseWriter: w}
	s.proxy.ServeHTTP(rec, r.WithContext(ctx))
	elapsed := time.Since(start)
	s.metrics.observe(d.Service, d.Endpoint, rec.status(), elapsed)
	if d.envoy != "" {
		s.metrics.recordEnvoy(d.envoy, rec.status(), elapsed)
	}
	if d.ingress != nil {
		s.metrics.observeIngress(d.ingress, d.Service, r.Method, rec.status(), elapsed)
	}
	if d.traefik != "" {
		s.metrics.recordTraefik(d.traefik, r.Method, rec.status(), elapsed)
	}
	if d.skipper != "" {
		s.metrics.recordSkipper(d.skipper, r.Method, rec.status(), elapsed)
	}
}

func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	d := pr.In.Context().Value(decisionKey{}).(*Decision)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = d.Endpoint.Addr
	pr.Out.URL.Path = d.Path
	pr.Out.URL.RawPath = ""
	pr.Out.Host = d.Host
	pr.SetXForwarded()
	for _, h := range d.reqHeaders {
		h.apply(pr.Out.Header)
	}
}

func (s *Server) modifyResponse(resp *http.Response) error {
	d, _ := resp.Request.Context().Value(decisionKey{}).(*Decision)
	if d == nil {
		return nil
	}
	for _, h := range d.respHeaders {
		h.apply(resp.Header)
	}
	return nil
}

// retrying is the proxy's transport. As Envoy does under Istio's default retry policy (a
// connect failure is retried on another host: the previous_hosts predicate), it sends a request
// once more, to another endpoint of the same destination, when the first endpoint could not be
// connected to or closed or reset the connection before any response byte: the moments of a
// rolling update when a pod has stopped serving but its EndpointSlice still lists it. Only
// requests that can be replayed are retried: without a body, or with a body small enough to
// buffer; and since no response byte had arrived, the client never sees two answers.
type retrying struct{ s *Server }

// RoundTrip sends req to the decision's endpoint, and after a connect failure to another one.
func (rt retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	d, _ := req.Context().Value(decisionKey{}).(*Decision)
	if d == nil {
		return rt.s.transport.RoundTrip(req)
	}
	body, replayable := bufferBody(req)
	resp, err := rt.s.transport.RoundTrip(req)
	if err == nil || !replayable || req.Context().Err() != nil || !connectFailure(err) {
		return resp, err
	}
	ep, ok := rt.s.table.Load().RetryEndpoint(d)
	if !ok {
		return resp, err
	}
	rt.s.opts.Log.V(1).Info("Retrying on another endpoint", "host", req.Host, "upstream", req.URL.Host, "retryUpstream", ep.Addr, "error", err.Error())
	retry := req.Clone(req.Context())
	retry.URL.Host = ep.Addr
	if body != nil {
		retry.Body = io.NopCloser(bytes.NewReader(body))
	}
	d.Endpoint = ep
	rt.s.metrics.retries.Inc()
	return rt.s.transport.RoundTrip(retry)
}

// bufferBody reads a small request body into memory so that the request can be sent again,
// and reports whether it can be: true without a body, false when the body is larger than
// maxRetryBody (it is then streamed as it was) or could not be read.
func bufferBody(req *http.Request) ([]byte, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, true
	}
	if req.ContentLength > maxRetryBody {
		return nil, false
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, maxRetryBody+1))
	if err != nil || len(buf) > maxRetryBody {
		req.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
		return nil, false
	}
	_ = req.Body.Close()
	if buf == nil {
		buf = []byte{}
	}
	req.Body = io.NopCloser(bytes.NewReader(buf))
	return buf, true
}

// connectFailure reports whether err says the upstream could not be reached or closed or
// reset the connection before any response byte arrived: the errors Envoy's connect-failure
// and reset retry conditions cover. An ended request context is not one.
func connectFailure(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// proxyError answers as Envoy does: 504 on a route timeout, 503 when the backend cannot be
// reached, 502 otherwise; a client that went away gets nothing and is counted as code 0.
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var op *net.OpError
	switch {
	case errors.Is(err, context.Canceled):
		if rec, ok := w.(*statusRecorder); ok {
			rec.code = -1
		}
		return
	case errors.Is(err, context.DeadlineExceeded):
		http.Error(w, "upstream request timeout", http.StatusGatewayTimeout)
	case errors.As(err, &op) && op.Op == "dial":
		http.Error(w, "upstream connect error: "+err.Error(), http.StatusServiceUnavailable)
	default:
		http.Error(w, "upstream error: "+err.Error(), http.StatusBadGateway)
	}
	s.opts.Log.V(1).Info("Upstream request failed", "host", r.Host, "upstream", r.URL.Host, "error", err.Error())
}

// mirror sends copies of r to the decision's mirrors in the background; their answers are
// dropped, and they are counted in the metrics as the destination would count them.
func (s *Server) mirror(r *http.Request, d *Decision) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		buf, err := io.ReadAll(io.LimitReader(r.Body, maxMirrorBody+1))
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		if err != nil || len(buf) > maxMirrorBody {
			return
		}
		body = buf
	}
	host := r.Host
	if h, p, err := net.SplitHostPort(host); err == nil {
		host = net.JoinHostPort(h+"-shadow", p)
	} else {
		host += "-shadow"
	}
	for _, m := range d.Mirrors {
		select {
		case s.mirrors <- struct{}{}:
		default:
			continue
		}
		header := r.Header.Clone()
		path := d.Path
		if r.URL.RawQuery != "" {
			path += "?" + r.URL.RawQuery
		}
		go func() {
			defer func() { <-s.mirrors }()
			ctx, cancel := context.WithTimeout(context.Background(), mirrorTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+m.Endpoint.Addr+path, bytes.NewReader(body))
			if err != nil {
				return
			}
			req.Header = header
			req.Host = host
			start := time.Now()
			code := 0
			resp, err := s.transport.RoundTrip(req)
			if err == nil {
				code = resp.StatusCode
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				_ = resp.Body.Close()
			} else {
				code = http.StatusServiceUnavailable
			}
			s.metrics.observe(m.Service, m.Endpoint, code, time.Since(start))
			if m.envoy != "" {
				s.metrics.recordEnvoy(m.envoy, code, time.Since(start))
			}
			if m.traefik != "" {
				s.metrics.recordTraefik(m.traefik, r.Method, code, time.Since(start))
			}
		}()
	}
}

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streamed responses through.
func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap serves http.ResponseController.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) status() int {
	switch w.code {
	case -1:
		return 0
	case 0:
		return http.StatusOK
	}
	return w.code
}

// metrics are Istio's standard request metrics as the destination proxy reports them, with the
// pod label that Prometheus adds when it scrapes each pod's sidecar, which the data plane stands
// in for: the destination pod's name, so that a query can select some pods of a workload (a
// StatefulSet's updated ordinals, pod=~"web-(3|4)").
type metrics struct {
	registry *prometheus.Registry
	istio    requestMetrics
	// builds counts routing table builds, to spot event storms.
	builds prometheus.Counter
	// retries counts requests sent again to another endpoint after a connect failure.
	retries prometheus.Counter
	// ingress are ingress-nginx's request metrics, for the requests an Ingress routed.
	ingress requestMetrics
	// envoy are Envoy's upstream cluster statistics (envoy.go).
	envoy envoyMetrics
	// traefik are Traefik's service metrics (traefik.go).
	traefik traefikMetrics
	// linkerd are Linkerd's inbound response metrics (linkerd.go).
	linkerd linkerdMetrics
	// skipper is Skipper's serve route metric (skipper.go).
	skipper skipperMetrics
}

var istioLabels = []string{
	"reporter", "source_workload", "source_workload_namespace",
	"destination_workload", "destination_workload_namespace",
	"destination_service", "destination_service_name", "destination_service_namespace",
	"request_protocol", "response_code", "pod",
}

func newMetrics() *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.istio = newRequestMetrics(m.registry, istioLabels,
		prometheus.CounterOpts{Name: "istio_requests_total", Help: "Requests served, as Istio's destination proxy counts them."},
		prometheus.HistogramOpts{
			Name: "istio_request_duration_milliseconds",
			Help: "Request duration in milliseconds, as Istio's destination proxy measures it.",
			// Istio's default buckets.
			Buckets: []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000},
		})
	m.builds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dataplane_table_builds_total",
		Help: "Routing tables built from the API server's objects.",
	})
	m.retries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dataplane_upstream_retries_total",
		Help: "Requests retried on another endpoint after a connect failure or a reset before any response.",
	})
	m.registry.MustRegister(m.builds, m.retries)
	m.ingress = newRequestMetrics(m.registry, ingressMetricLabels,
		prometheus.CounterOpts{Name: "nginx_ingress_controller_requests", Help: "Requests routed by an Ingress, as ingress-nginx counts them."},
		prometheus.HistogramOpts{
			Name:    "nginx_ingress_controller_request_duration_seconds",
			Help:    "Duration of the requests routed by an Ingress in seconds, as ingress-nginx measures it.",
			Buckets: ingressBuckets,
		})
	m.envoy = newEnvoyMetrics(m.registry)
	m.traefik = newTraefikMetrics(m.registry)
	m.linkerd = newLinkerdMetrics(m.registry)
	m.skipper = newSkipperMetrics(m.registry)
	return m
}

func (m *metrics) observe(svc svcKey, ep Endpoint, code int, d time.Duration) {
	workload := ep.Workload
	labels := prometheus.Labels{
		"pod":                            ep.Pod,
		"reporter":                       "destination",
		"source_workload":                "unknown",
		"source_workload_namespace":      "unknown",
		"destination_workload":           workload,
		"destination_workload_namespace": svc.Namespace,
		"destination_service":            svc.host(),
		"destination_service_name":       svc.Name,
		"destination_service_namespace":  svc.Namespace,
		"request_protocol":               "http",
		"response_code":                  strconv.Itoa(code),
	}
	m.istio.observe(labels, float64(d)/float64(time.Millisecond))
	m.linkerd.record(svc.Namespace, ep, code, d)
}
