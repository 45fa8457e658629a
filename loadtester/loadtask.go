package loadtester

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/siskin-dev/siskin/loadtester/cmdline"
	"github.com/siskin-dev/siskin/loadtester/load"
)

// defaultMaxErrorRate applies to blocking runs that declare no maxErrorRate, so that a run
// bounded only by latency still fails when most requests fail.
const defaultMaxErrorRate = 1.0

// verdict is the body of a blocking run's answer.
type verdict struct {
	Passed     bool        `json:"passed"`
	Violations []string    `json:"violations,omitempty"`
	Bounds     load.Bounds `json:"bounds"`
	Result     load.Result `json:"result"`
}

// loadTask checks a load task's metadata and runs spec blocking (answering 200 or 500 with the
// numbers) or in the background (answering 202). probe forces blocking.
func (s *Server) loadTask(ctx context.Context, w http.ResponseWriter, p *Payload, spec load.Spec, probe bool) {
	log := s.log.WithValues("canary", p.canary(), "revision", p.Checksum, "target", spec.Target())
	bounds, err := parseBounds(p.Metadata)
	if err != nil {
		reply(w, http.StatusBadRequest, err.Error())
		return
	}
	explicit, err := parseBool(p.Metadata, "blocking")
	if err != nil {
		reply(w, http.StatusBadRequest, err.Error())
		return
	}
	blocking := probe || bounds.Declared()
	if explicit != nil && !probe {
		blocking = *explicit
	}
	spec, code, err := s.admitLoad(spec, p.Namespace)
	if err != nil {
		log.Info("load refused", "reason", err.Error())
		reply(w, code, err.Error())
		return
	}
	if !probe && (p.Type == hookPostRollout || p.Type == hookRollback || endPhases[p.Phase]) {
		msg := fmt.Sprintf("load for %s not started: hook %q in phase %q ends it", p.canary(), p.Type, p.Phase)
		if p.Type == hookRollback {
			// A 2xx answer to a rollback hook asks for a rollback; the load tester never does.
			reply(w, http.StatusForbidden, msg)
			return
		}
		reply(w, http.StatusOK, msg)
		return
	}
	if blocking {
		s.runBlockingLoad(ctx, w, p, spec, bounds)
		return
	}
	res, err := s.bg.start(p.canary(), p.Checksum, taskID(p), spec.Concurrency, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, s.opts.MaxLoadDuration)
		defer cancel()
		log.Info("background load started")
		r, err := s.runLoad(ctx, spec)
		if err != nil {
			log.Error(err, "background load failed")
			return
		}
		log.Info("background load finished", "requests", r.Requests, "errorRatePercent", r.ErrorRate,
			"p99Ms", r.P99Ms, "stopped", r.Stopped)
	})
	if err == nil && res.Replaced > 0 {
		log.Info("background tasks replaced", "reason", "new revision", "count", res.Replaced)
	}
	s.replyStarted(w, res, err)
}

// admitLoad normalises spec and checks it against the limits and the canary's namespace ns;
// the int is the status to answer with when the error is not nil.
func (s *Server) admitLoad(spec load.Spec, ns string) (load.Spec, int, error) {
	// Limits first: they name the flag to change, which Normalize's own bounds do not.
	if err := s.checkLimits(spec); err != nil {
		return spec, http.StatusBadRequest, err
	}
	spec, err := spec.Normalize()
	if err != nil {
		return spec, http.StatusBadRequest, err
	}
	if err := s.checkTarget(spec, ns); err != nil {
		return spec, http.StatusForbidden, err
	}
	if spec.HTTP != nil {
		// A redirect must not take the load where the target itself could not go.
		spec.HTTP.CheckRedirect = func(hostport string) error { return s.checkHost(hostport, ns) }
	}
	return spec, 0, nil
}

// runBlockingLoad runs spec to its end and answers 200 or 500 against bounds, with the numbers.
func (s *Server) runBlockingLoad(ctx context.Context, w http.ResponseWriter, p *Payload, spec load.Spec, bounds load.Bounds) {
	if err := s.bg.acquire(spec.Concurrency); err != nil {
		reply(w, http.StatusTooManyRequests, err.Error())
		return
	}
	defer s.bg.release(spec.Concurrency)
	ctx, cancel := context.WithTimeout(ctx, s.opts.MaxLoadDuration)
	defer cancel()
	r, err := s.runLoad(ctx, spec)
	switch {
	case errors.Is(err, load.ErrPanic):
		reply(w, http.StatusInternalServerError, err.Error())
		return
	case err != nil:
		reply(w, http.StatusBadRequest, err.Error())
		return
	}
	if bounds.MaxErrorRate == nil {
		def := defaultMaxErrorRate
		bounds.MaxErrorRate = &def
	}
	v := verdict{Violations: bounds.Check(r), Bounds: bounds, Result: r}
	v.Passed = len(v.Violations) == 0
	code := http.StatusOK
	if !v.Passed {
		code = http.StatusInternalServerError
	}
	s.log.Info("load run finished", "canary", p.canary(), "revision", p.Checksum, "target", r.Target,
		"passed", v.Passed, "requests", r.Requests, "errorRatePercent", r.ErrorRate, "p99Ms", r.P99Ms)
	replyJSON(w, code, v)
}

// runLoad runs spec, reporting a worker's panic like any other recovered panic.
func (s *Server) runLoad(ctx context.Context, spec load.Spec) (load.Result, error) {
	r, err := load.Run(ctx, spec, s.metrics)
	if pe := (*load.PanicError)(nil); errors.As(err, &pe) {
		s.panicked("load worker", pe.Value, pe.Stack)
	}
	return r, err
}

// parseBounds reads maxErrorRate, maxP50Ms, maxP90Ms, maxP99Ms and minRequests.
func parseBounds(md map[string]string) (load.Bounds, error) {
	var b load.Bounds
	for key, dst := range map[string]**float64{
		"maxErrorRate": &b.MaxErrorRate, "maxP50Ms": &b.MaxP50Ms, "maxP90Ms": &b.MaxP90Ms, "maxP99Ms": &b.MaxP99Ms,
	} {
		v, ok := md[key]
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return b, fmt.Errorf("metadata.%s: %q is not a non-negative number", key, v)
		}
		*dst = &f
	}
	if v, ok := md["minRequests"]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return b, fmt.Errorf("metadata.minRequests: %q is not a non-negative integer", v)
		}
		b.MinRequests = &n
	}
	return b, nil
}

// loadSpec builds the spec of a "load" task: from metadata.cmd when it is set (hey, ghz or
// grpc_health_probe), otherwise from url and its companions.
func loadSpec(md map[string]string) (load.Spec, bool, error) {
	if line := md["cmd"]; line != "" {
		c, err := cmdline.Parse(line)
		if err != nil {
			return load.Spec{}, false, fmt.Errorf("metadata.cmd: %w", err)
		}
		return c.Spec, c.Probe, nil
	}
	if md["url"] == "" {
		return load.Spec{}, false, fmt.Errorf("a load task needs metadata.url or metadata.cmd")
	}
	t := &load.HTTPTarget{URL: md["url"], Method: strings.ToUpper(md["method"]), Host: md["host"], Header: http.Header{}}
	if b := md["body"]; b != "" {
		t.Body = []byte(b)
	}
	for k, v := range md {
		if name, ok := strings.CutPrefix(k, "header."); ok && name != "" {
			t.Header.Set(name, v)
		}
	}
	spec := load.Spec{HTTP: t, Duration: time.Minute}
	var err error
	fields := []struct {
		key string
		set func(string) error
	}{
		{"rps", func(v string) (e error) { spec.Rate, e = strconv.ParseFloat(v, 64); return }},
		{"concurrency", func(v string) (e error) { spec.Concurrency, e = strconv.Atoi(v); return }},
		{"duration", func(v string) (e error) { spec.Duration, e = time.ParseDuration(v); return }},
		{"timeout", func(v string) (e error) { spec.Timeout, e = time.ParseDuration(v); return }},
		{"requests", func(v string) (e error) {
			spec.Requests, e = strconv.ParseInt(v, 10, 64)
			if _, ok := md["duration"]; !ok {
				spec.Duration = 0 // a count without a duration runs until the count is reached
			}
			return
		}},
		{"http2", func(v string) (e error) { t.HTTP2, e = strconv.ParseBool(v); return }},
		{"insecureSkipVerify", func(v string) (e error) { t.InsecureSkipVerify, e = strconv.ParseBool(v); return }},
	}
	for _, f := range fields {
		if v, ok := md[f.key]; ok {
			if err = f.set(v); err != nil {
				return load.Spec{}, false, fmt.Errorf("metadata.%s: %q: %w", f.key, v, err)
			}
		}
	}
	return spec, false, nil
}

// grpcHealthSpec builds a single gRPC health check from address, service, tls,
// insecureSkipVerify and timeout.
func grpcHealthSpec(md map[string]string) (load.Spec, error) {
	if md["address"] == "" {
		return load.Spec{}, fmt.Errorf("a grpc-health task needs metadata.address (host:port)")
	}
	t := &load.GRPCTarget{Address: md["address"], Call: load.HealthCheckCall, Service: md["service"], Plaintext: true}
	spec := load.Spec{GRPC: t, Concurrency: 1, Requests: 1, Timeout: 5 * time.Second}
	useTLS, err := parseBool(md, "tls")
	if err != nil {
		return load.Spec{}, err
	}
	t.Plaintext = useTLS == nil || !*useTLS
	skip, err := parseBool(md, "insecureSkipVerify")
	if err != nil {
		return load.Spec{}, err
	}
	t.InsecureSkipVerify = skip != nil && *skip
	if v := md["timeout"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return load.Spec{}, fmt.Errorf("metadata.timeout: %q: %w", v, err)
		}
		spec.Timeout = d
	}
	return spec, nil
}
