package loadtester

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/siskin-dev/siskin/loadtester/gate"
	"github.com/siskin-dev/siskin/loadtester/task"
)

// GateStore keeps the open or closed state of manual gates per canary and revision (see
// package gate).
type GateStore interface {
	// Check reports whether the gate is open for key.Revision and remembers that revision as
	// the one waiting, dropping approvals of other revisions.
	Check(ctx context.Context, key gate.Key) (bool, error)
	// SetOpen opens or closes the gate for key.Revision (empty: the revision waiting) and
	// returns the revision it changed.
	SetOpen(ctx context.Context, key gate.Key, open bool) (string, error)
}

// Options configure a Server.
type Options struct {
	Logger logr.Logger
	// Gates stores gate state; nil means in memory.
	Gates GateStore
	// Registry receives the load tester's metrics and is served on /metrics; nil means a new one.
	Registry *prometheus.Registry
	// Namespaces, when set, must match a payload's namespace (use an anchored pattern).
	Namespaces *regexp.Regexp
	// TargetHosts, when set, admits load targets outside the canary's namespace whose host
	// (or host:port) it matches (use an anchored pattern); see checkTarget.
	TargetHosts *regexp.Regexp
	// Secret verifies X-Siskin-Signature-V2 headers. With RequireSignature, a request without a
	// valid signature is refused; without it, only a present but wrong signature is.
	Secret           []byte
	RequireSignature bool
	// AcceptLegacySignature also accepts the replayable body-only X-Siskin-Signature of older
	// controllers; off, a request signed only that way is refused.
	AcceptLegacySignature bool
	// Exec is the policy for bash, cmd (shell), kubectl and helm tasks.
	Exec task.Policy
	// MaxLoadDuration bounds every load run, blocking or background, and its request timeout.
	MaxLoadDuration time.Duration
	// MaxConcurrency bounds the workers of one load run and MaxRate its requests per second.
	MaxConcurrency int
	MaxRate        float64
	// MaxTasks bounds the load and command tasks running at once; more are answered 429.
	MaxTasks int
	// MaxWorkers bounds the workers of all load runs together; more are answered 429.
	MaxWorkers int
	// MaxBodyBytes bounds a webhook body.
	MaxBodyBytes int64
	// The limits left zero take their Default value; a limit above its Ceiling is an error.
}

// Server serves the load tester's endpoints. Close it to stop its background tasks.
type Server struct {
	opts    Options
	log     logr.Logger
	mux     *http.ServeMux
	bg      *background
	metrics *metrics
}

// New returns a Server. It fails when a signature is required but no secret is set.
func New(opts Options) (*Server, error) {
	if opts.RequireSignature && len(opts.Secret) == 0 {
		return nil, errors.New("signatures are required but no secret is set")
	}
	if opts.Gates == nil {
		opts.Gates = gate.NewMemory(0)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	opts, err := withLimits(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, mux: http.NewServeMux(), metrics: newMetrics(opts.Registry)}
	s.bg = newBackground(opts.MaxTasks, opts.MaxWorkers, func(n int) { s.metrics.background.Set(float64(n)) },
		func(v any, stack []byte) { s.panicked("background task", v, stack) })
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, "ok") })
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{}))
	s.handle("/gate/approve", false, func(_ context.Context, w http.ResponseWriter, _ *Payload) {
		reply(w, http.StatusOK, "approved")
	})
	s.handle("/gate/halt", false, func(_ context.Context, w http.ResponseWriter, _ *Payload) {
		reply(w, http.StatusForbidden, "halted")
	})
	for _, kind := range []gate.Kind{gate.Promotion, gate.Rollback} {
		s.handle("/"+string(kind)+"/check", true, s.gateCheck(kind))
		s.handle("/"+string(kind)+"/open", true, s.gateSet(kind, true))
		s.handle("/"+string(kind)+"/close", true, s.gateSet(kind, false))
	}
	s.handle("/{$}", true, s.runTask)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops every background task and waits for them.
func (s *Server) Close() { s.bg.close() }

type handlerFunc func(ctx context.Context, w http.ResponseWriter, p *Payload)

// handle registers a webhook endpoint: POST only, bounded body, signature, JSON payload,
// namespace allow-list, then fn. With needCanary the payload must name a canary.
func (s *Server) handle(path string, needCanary bool, fn handlerFunc) {
	endpoint := path
	if path == "/{$}" {
		endpoint = "/"
	}
	s.mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() { s.metrics.webhooks.WithLabelValues(endpoint, strconv.Itoa(rec.code)).Inc() }()
		defer func() {
			if v := recover(); v != nil {
				s.panicked("handler "+endpoint, v, debug.Stack())
				if !rec.written {
					reply(rec, http.StatusInternalServerError, "internal error")
				}
			}
		}()
		p, code, err := s.decode(rec, r, needCanary)
		if err != nil {
			s.log.Info("webhook refused", "endpoint", endpoint, "reason", err.Error())
			reply(rec, code, err.Error())
			return
		}
		fn(r.Context(), rec, p)
	})
}

// decode reads, authenticates and checks a webhook call; the int is the status to answer
// with when the error is not nil.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, needCanary bool) (*Payload, int, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", tooBig.Limit)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	if err := s.verifySignature(r, body); err != nil {
		return nil, http.StatusUnauthorized, err
	}
	p := &Payload{}
	if len(bytes.TrimSpace(body)) > 0 || needCanary {
		if err := json.Unmarshal(body, p); err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("decode payload: %w", err)
		}
	}
	if needCanary && (p.Name == "" || p.Namespace == "") {
		return nil, http.StatusBadRequest, errors.New("payload needs a name and a namespace")
	}
	if s.opts.Namespaces != nil && (p.Namespace != "" || needCanary) && !s.opts.Namespaces.MatchString(p.Namespace) {
		return nil, http.StatusForbidden, fmt.Errorf("namespace %q is not allowed by --namespace-regexp", p.Namespace)
	}
	return p, 0, nil
}

var gateLabel = map[gate.Kind]string{gate.Promotion: "promotion", gate.Rollback: "rollback"}

func (s *Server) gateCheck(kind gate.Kind) handlerFunc {
	return func(ctx context.Context, w http.ResponseWriter, p *Payload) {
		key, ok := s.gateKey(w, kind, p)
		if !ok {
			return
		}
		if key.Revision == "" {
			reply(w, http.StatusBadRequest, "a gate check needs the payload's checksum: gates are kept per revision")
			return
		}
		open, err := s.opts.Gates.Check(ctx, key)
		switch {
		case err != nil:
			s.log.Error(err, "gate check failed", "canary", p.canary())
			reply(w, http.StatusInternalServerError, err.Error())
		case open:
			reply(w, http.StatusOK, fmt.Sprintf("%s gate for %s at revision %s is open", gateLabel[kind], p.canary(), key.Revision))
		default:
			reply(w, http.StatusForbidden, fmt.Sprintf("%s gate for %s at revision %s is closed", gateLabel[kind], p.canary(), key.Revision))
		}
	}
}

func (s *Server) gateSet(kind gate.Kind, open bool) handlerFunc {
	state := map[bool]string{true: "opened", false: "closed"}[open]
	return func(ctx context.Context, w http.ResponseWriter, p *Payload) {
		key, ok := s.gateKey(w, kind, p)
		if !ok {
			return
		}
		rev, err := s.opts.Gates.SetOpen(ctx, key, open)
		switch {
		case errors.Is(err, gate.ErrNoRevision):
			reply(w, http.StatusConflict, err.Error())
			return
		case err != nil:
			s.log.Error(err, "gate change failed", "canary", p.canary())
			reply(w, http.StatusInternalServerError, err.Error())
			return
		}
		s.log.Info("gate "+state, "canary", p.canary(), "revision", rev, "gate", gateLabel[kind])
		if rev == "" {
			reply(w, http.StatusOK, fmt.Sprintf("%s gate for %s %s", gateLabel[kind], p.canary(), state))
			return
		}
		reply(w, http.StatusOK, fmt.Sprintf("%s gate for %s at revision %s %s", gateLabel[kind], p.canary(), rev, state))
	}
}

func (s *Server) gateKey(w http.ResponseWriter, kind gate.Kind, p *Payload) (gate.Key, bool) {
	key := gate.Key{Kind: kind, Namespace: p.Namespace, Name: p.Name, Revision: p.Checksum}
	if err := key.Validate(); err != nil {
		reply(w, http.StatusBadRequest, err.Error())
		return key, false
	}
	return key, true
}

// reply writes a plain-text message.
func reply(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// replyJSON writes v as JSON.
func replyJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

type statusRecorder struct {
	http.ResponseWriter
	code    int
	written bool
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code, r.written = code, true
	r.ResponseWriter.WriteHeader(code)
}
