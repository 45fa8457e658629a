package load

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// flaky returns a handler that answers 500 to every tenth request and records protocols.
func flaky(every int64, protos *sync.Map) http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if protos != nil {
			protos.Store(r.Proto, true)
		}
		if every > 0 && n.Add(1)%every == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
}

type countingObserver struct{ n, failed atomic.Int64 }

func (c *countingObserver) Observe(_ string, _ time.Duration, failed bool) {
	c.n.Add(1)
	if failed {
		c.failed.Add(1)
	}
}

func TestRunCountsErrorsAndStatuses(t *testing.T) {
	srv := httptest.NewServer(flaky(10, nil))
	defer srv.Close()
	var obs countingObserver
	res, err := Run(t.Context(), Spec{
		HTTP:        &HTTPTarget{URL: srv.URL + "/path?q=1"},
		Concurrency: 4, Requests: 200,
	}, &obs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 200 || res.Errors != 20 || res.ErrorRate != 10 {
		t.Fatalf("requests=%d errors=%d rate=%g, want 200/20/10", res.Requests, res.Errors, res.ErrorRate)
	}
	if res.Statuses["200"] != 180 || res.Statuses["500"] != 20 {
		t.Errorf("statuses = %v", res.Statuses)
	}
	if obs.n.Load() != 200 || obs.failed.Load() != 20 {
		t.Errorf("observer saw %d/%d", obs.n.Load(), obs.failed.Load())
	}
	if res.Target != srv.URL+"/path" {
		t.Errorf("target = %q, want the URL without its query", res.Target)
	}
	if res.FirstError == "" || res.P99Ms <= 0 {
		t.Errorf("missing first error or latency: %+v", res)
	}
}

func TestRunSpeaksHTTP2(t *testing.T) {
	cases := []struct {
		name  string
		start func(*httptest.Server)
	}{
		{"h2c", func(s *httptest.Server) {
			p := new(http.Protocols)
			p.SetUnencryptedHTTP2(true)
			s.Config.Protocols = p
			s.Start()
		}},
		{"tls", func(s *httptest.Server) { s.EnableHTTP2 = true; s.StartTLS() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var protos sync.Map
			srv := httptest.NewUnstartedServer(flaky(0, &protos))
			c.start(srv)
			defer srv.Close()
			res, err := Run(t.Context(), Spec{
				HTTP:     &HTTPTarget{URL: srv.URL, HTTP2: true, InsecureSkipVerify: true},
				Requests: 5,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 || res.Requests != 5 {
				t.Fatalf("result %+v", res)
			}
			if _, ok := protos.Load("HTTP/2.0"); !ok {
				t.Errorf("server saw no HTTP/2 request")
			}
		})
	}
}

func TestRunSendsMethodHeadersHostAndBody(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r:
		default:
		}
	}))
	defer srv.Close()
	_, err := Run(t.Context(), Spec{HTTP: &HTTPTarget{
		URL: srv.URL, Method: http.MethodPost, Body: []byte("hi"),
		Header: http.Header{"X-Canary": {"insider"}, "Host": {"podinfo.test"}},
	}, Requests: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.Method != http.MethodPost || r.Header.Get("X-Canary") != "insider" || r.Host != "podinfo.test" ||
		r.ContentLength != 2 {
		t.Errorf("request = %s host=%s headers=%v length=%d", r.Method, r.Host, r.Header, r.ContentLength)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	srv := httptest.NewServer(flaky(0, nil))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan Result)
	go func() {
		res, _ := Run(ctx, Spec{HTTP: &HTTPTarget{URL: srv.URL}, Rate: 100, Duration: time.Hour}, nil)
		done <- res
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case res := <-done:
		if !res.Stopped {
			t.Errorf("result not marked stopped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop after cancel")
	}
}

func TestRunCountsConnectionFailures(t *testing.T) {
	l, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	res, err := Run(t.Context(), Spec{HTTP: &HTTPTarget{URL: "http://" + addr}, Requests: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 3 || res.Statuses["error"] != 3 {
		t.Errorf("result %+v, want 3 connection errors", res)
	}
}

func TestNormalizeRejectsBadSpecs(t *testing.T) {
	for name, s := range map[string]Spec{
		"no target":     {Requests: 1},
		"two targets":   {HTTP: &HTTPTarget{URL: "http://x"}, GRPC: &GRPCTarget{Address: "x:1"}, Requests: 1},
		"no bound":      {HTTP: &HTTPTarget{URL: "http://x"}},
		"relative url":  {HTTP: &HTTPTarget{URL: "/x"}, Requests: 1},
		"ftp url":       {HTTP: &HTTPTarget{URL: "ftp://x/"}, Requests: 1},
		"negative rate": {HTTP: &HTTPTarget{URL: "http://x"}, Requests: 1, Rate: -1},
		"bad call":      {GRPC: &GRPCTarget{Address: "x:1", Call: "nodots"}, Requests: 1},
	} {
		if _, err := s.Normalize(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: err = %v, want ErrInvalidSpec", name, err)
		}
	}
}

func startGRPC(t *testing.T) (addr string, hs *health.Server) {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs = health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return l.Addr().String(), hs
}

func TestRunGRPCHealth(t *testing.T) {
	addr, hs := startGRPC(t)
	hs.SetServingStatus("podinfo", healthpb.HealthCheckResponse_NOT_SERVING)
	for _, c := range []struct {
		service    string
		wantErrors int64
	}{{"", 0}, {"podinfo", 4}} {
		res, err := Run(t.Context(), Spec{
			GRPC:     &GRPCTarget{Address: addr, Plaintext: true, Call: "grpc.health.v1.Health.Check", Service: c.service},
			Requests: 4,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests != 4 || res.Errors != c.wantErrors {
			t.Errorf("service %q: %+v, want %d errors", c.service, res, c.wantErrors)
		}
	}
}

func TestRunGRPCGenericCallWithEmptyMessage(t *testing.T) {
	addr, _ := startGRPC(t)
	// Health/Watch is a streaming method, so use List (unary, empty request is valid).
	res, err := Run(t.Context(), Spec{
		GRPC: &GRPCTarget{Address: addr, Plaintext: true, Call: "grpc.health.v1.Health/List"}, Requests: 3,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Statuses["OK"] != 3 {
		t.Errorf("result %+v", res)
	}
	res, err = Run(t.Context(), Spec{
		GRPC: &GRPCTarget{Address: addr, Plaintext: true, Call: "no.Such/Method"}, Requests: 2,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 2 || res.Statuses["Unimplemented"] != 2 {
		t.Errorf("unknown method result %+v", res)
	}
}

// panicky is an Observer that panics, as a bug in a worker's path would.
type panicky struct{}

func (panicky) Observe(string, time.Duration, bool) { panic("observer bug") }

func TestRunRecoversAWorkerPanic(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	_, err := Run(t.Context(), Spec{HTTP: &HTTPTarget{URL: srv.URL}, Concurrency: 4, Requests: 8}, panicky{})
	var pe *PanicError
	if !errors.Is(err, ErrPanic) || !errors.As(err, &pe) || len(pe.Stack) == 0 {
		t.Fatalf("err = %v, want a PanicError with a stack", err)
	}
}

func TestNormalizeBoundsConcurrencyAndRate(t *testing.T) {
	for _, s := range []Spec{
		{HTTP: &HTTPTarget{URL: "http://x/"}, Concurrency: MaxConcurrency + 1, Requests: 1},
		{HTTP: &HTTPTarget{URL: "http://x/"}, Rate: math.NaN(), Requests: 1},
		{HTTP: &HTTPTarget{URL: "http://x/"}, Rate: math.Inf(1), Requests: 1},
	} {
		if _, err := s.Normalize(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("Normalize(%+v) err = %v, want ErrInvalidSpec", s, err)
		}
	}
}
