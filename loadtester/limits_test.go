package loadtester

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLoadBeyondALimitIsRefusedWithTheLimitNamed(t *testing.T) {
	app := newTarget(t, 0)
	s := newServer(t, Options{})
	cases := []struct {
		name string
		meta []string
		says string
	}{
		{"hey -c", []string{"cmd", "hey -z 1m -c 100000 " + app.URL}, "concurrency 100000 exceeds the limit 1000 (--max-concurrency)"},
		{"hey -c beyond any slice", []string{"cmd", "hey -z 1m -c 9223372036854775807 " + app.URL}, "(--max-concurrency)"},
		{"load concurrency", []string{"type", "load", "url", app.URL, "concurrency", "100000"}, "concurrency 100000 exceeds the limit 1000 (--max-concurrency)"},
		{"ghz -c", []string{"cmd", "ghz --insecure --call grpc.health.v1.Health/Check -c 5000 -z 1m " + app.Listener.Addr().String()}, "(--max-concurrency)"},
		{"hey rate is q times c", []string{"cmd", "hey -z 1m -q 1000 -c 100 " + app.URL}, "rate 100000/s exceeds the limit 10000/s (--max-rate)"},
		{"load rps", []string{"type", "load", "url", app.URL, "rps", "1e9"}, "(--max-rate)"},
		{"load duration", []string{"type", "load", "url", app.URL, "duration", "1000h"}, "duration 1000h0m0s exceeds the limit 1h0m0s (--max-load-duration)"},
		{"request timeout", []string{"type", "load", "url", app.URL, "timeout", "1000h"}, "(--max-load-duration)"},
		{"rate not a number", []string{"type", "load", "url", app.URL, "rps", "NaN"}, "not a finite number"},
		{"rate infinite", []string{"cmd", "hey -z 1m -q 1e308 -c 10 " + app.URL}, "(--max-rate)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(t, s, "/", payload(t, withMeta(podinfo, c.meta...)), nil)
			if code != http.StatusBadRequest || !strings.Contains(body, c.says) {
				t.Fatalf("= %d %q, want 400 saying %q", code, body, c.says)
			}
		})
	}
	if _, n := s.bg.running(podinfo.canary()); n != 0 {
		t.Errorf("%d background tasks started by refused requests", n)
	}
}

func TestLimitsAreConfigurableWithinCeilings(t *testing.T) {
	app := newTarget(t, 0)
	s := newServer(t, Options{MaxConcurrency: 4})
	code, body := call(t, s, "/", payload(t, withMeta(podinfo, "cmd", "hey -z 1m -c 5 "+app.URL)), nil)
	if code != http.StatusBadRequest || !strings.Contains(body, "concurrency 5 exceeds the limit 4 (--max-concurrency)") {
		t.Errorf("= %d %q", code, body)
	}
	for _, o := range []Options{
		{MaxConcurrency: CeilingConcurrency + 1},
		{MaxRate: CeilingRate * 2},
		{MaxLoadDuration: CeilingLoadDuration + time.Second},
		{MaxTasks: CeilingTasks + 1},
		{MaxWorkers: CeilingWorkers + 1},
		{MaxConcurrency: 100, MaxWorkers: 10},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted limits above their ceilings", o)
		}
	}
}

func TestWorkersOfAllRunsShareABudget(t *testing.T) {
	app := newTarget(t, 0)
	s := newServer(t, Options{MaxConcurrency: 8, MaxWorkers: 10})
	first := withMeta(podinfo, "type", "load", "url", app.URL, "rps", "10", "concurrency", "8", "duration", "1h")
	if code, body := call(t, s, "/", payload(t, first), nil); code != http.StatusAccepted {
		t.Fatalf("first = %d %q", code, body)
	}
	second := withMeta(podinfo, "type", "load", "url", app.URL+"/b", "rps", "10", "concurrency", "3", "duration", "1h")
	if code, body := call(t, s, "/", payload(t, second), nil); code != http.StatusTooManyRequests || !strings.Contains(body, "--max-workers") {
		t.Fatalf("second = %d %q, want 429 naming --max-workers", code, body)
	}
}

func TestBackgroundTaskPanicIsRecoveredAndCounted(t *testing.T) {
	s := newServer(t, Options{})
	done := make(chan struct{})
	if _, err := s.bg.start("test/podinfo", "rev1", "boom", 0, func(context.Context) {
		defer close(done)
		panic("boom")
	}); err != nil {
		t.Fatal(err)
	}
	<-done
	waitFor(t, "the panicked task to be forgotten", func() bool {
		_, n := s.bg.running("test/podinfo")
		return n == 0
	})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `siskin_loadtester_panics_total{where="background task"} 1`) {
		t.Errorf("panic not counted:\n%s", rec.Body.String())
	}
	// The slot was given back: a new task can start.
	if err := s.bg.acquire(DefaultMaxConcurrency); err != nil {
		t.Errorf("acquire after a panic: %v", err)
	}
	s.bg.release(DefaultMaxConcurrency)
	if !errors.Is(&limitError{}, ErrLimit) {
		t.Error("limitError does not match ErrLimit")
	}
}
