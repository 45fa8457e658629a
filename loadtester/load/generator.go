package load

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Observer receives every completed request, for live metrics. It must be safe for
// concurrent use.
type Observer interface {
	Observe(target string, latency time.Duration, failed bool)
}

// Result summarises a run. Latencies are in milliseconds.
type Result struct {
	Target     string           `json:"target"`
	Requests   int64            `json:"requests"`
	Errors     int64            `json:"errors"`
	ErrorRate  float64          `json:"errorRatePercent"`
	Rate       float64          `json:"rps"`
	DurationMs float64          `json:"durationMs"`
	MeanMs     float64          `json:"meanMs"`
	P50Ms      float64          `json:"p50Ms"`
	P90Ms      float64          `json:"p90Ms"`
	P99Ms      float64          `json:"p99Ms"`
	MaxMs      float64          `json:"maxMs"`
	Statuses   map[string]int64 `json:"statuses"`
	FirstError string           `json:"firstError,omitempty"`
	Notes      []string         `json:"notes,omitempty"`
	// Stopped is true when the run was cancelled before its duration or count was reached.
	Stopped bool `json:"stopped,omitempty"`
}

// ErrPanic is matched (errors.Is) by the *PanicError that Run returns when a worker panicked.
var ErrPanic = errors.New("load worker panicked")

// PanicError carries a worker's recovered panic and its stack, for the caller's log.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("%v: %v", ErrPanic, e.Value) }

// Is reports whether target is ErrPanic.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// outcome is what one request produced.
type outcome struct {
	status string
	failed bool
	err    error
}

// requester sends one request to a target.
type requester interface {
	do(ctx context.Context) outcome
	close()
}

// worker holds one worker's private tallies, merged when the run ends.
type worker struct {
	hist     histogram
	errors   int64
	statuses map[string]int64
	firstErr error
	last     time.Time
}

// Run sends the traffic that spec describes and returns its summary. It returns early when
// ctx is cancelled, with Result.Stopped set; requests cut short that way are not counted.
// The error is non-nil only when the run could not start (an invalid spec or target).
func Run(ctx context.Context, spec Spec, obs Observer) (Result, error) {
	spec, err := spec.Normalize()
	if err != nil {
		return Result{}, err
	}
	req, err := newRequester(spec)
	if err != nil {
		return Result{}, fmt.Errorf("prepare target %s: %w", spec.Target(), err)
	}
	defer req.close()

	target := spec.Target()
	start := time.Now()
	var deadline time.Time
	if spec.Duration > 0 {
		deadline = start.Add(spec.Duration)
	}
	var interval float64 // nanoseconds between request slots
	if spec.Rate > 0 {
		interval = float64(time.Second) / spec.Rate
	}

	// A worker that panics stops the run: its numbers would be wrong anyway.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var next atomic.Int64
	var panicked atomic.Pointer[PanicError]
	workers := make([]*worker, spec.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{statuses: map[string]int64{}}
		workers[i] = w
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					panicked.CompareAndSwap(nil, &PanicError{Value: v, Stack: debug.Stack()})
					stop()
				}
			}()
			w.loop(ctx, req, &next, loopParams{
				start: start, deadline: deadline, interval: interval,
				limit: spec.Requests, timeout: spec.Timeout, target: target, obs: obs,
			})
		})
	}
	wg.Wait()
	if p := panicked.Load(); p != nil {
		return Result{}, p
	}
	return summarize(spec, target, start, workers, ctx.Err() != nil), nil
}

type loopParams struct {
	start, deadline time.Time
	interval        float64
	limit           int64
	timeout         time.Duration
	target          string
	obs             Observer
}

func (w *worker) loop(ctx context.Context, req requester, next *atomic.Int64, p loopParams) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		i := next.Add(1) - 1
		if p.limit > 0 && i >= p.limit {
			return
		}
		if p.interval > 0 {
			due := p.start.Add(time.Duration(float64(i) * p.interval))
			if !p.deadline.IsZero() && !due.Before(p.deadline) {
				return
			}
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		} else if !p.deadline.IsZero() && !time.Now().Before(p.deadline) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, p.timeout)
		t0 := time.Now()
		out := req.do(rctx)
		end := time.Now()
		cancel()
		if ctx.Err() != nil {
			return // stopped mid-request: neither a success nor the target's fault
		}
		lat := end.Sub(t0)
		w.hist.record(lat)
		w.statuses[out.status]++
		w.last = end
		if out.failed {
			w.errors++
			if w.firstErr == nil {
				w.firstErr = out.err
				if w.firstErr == nil {
					w.firstErr = fmt.Errorf("status %s", out.status)
				}
			}
		}
		if p.obs != nil {
			p.obs.Observe(p.target, lat, out.failed)
		}
	}
}

func summarize(spec Spec, target string, start time.Time, workers []*worker, stopped bool) Result {
	var h histogram
	r := Result{Target: target, Statuses: map[string]int64{}, Notes: spec.Notes, Stopped: stopped}
	end := start
	for _, w := range workers {
		h.merge(&w.hist)
		r.Errors += w.errors
		for k, v := range w.statuses {
			r.Statuses[k] += v
		}
		if w.firstErr != nil && r.FirstError == "" {
			r.FirstError = w.firstErr.Error()
		}
		if w.last.After(end) {
			end = w.last
		}
	}
	r.Requests = int64(h.n)
	elapsed := end.Sub(start)
	r.DurationMs = float64(elapsed) / float64(time.Millisecond)
	if r.Requests > 0 {
		r.ErrorRate = 100 * float64(r.Errors) / float64(r.Requests)
		if elapsed > 0 {
			r.Rate = float64(r.Requests) / elapsed.Seconds()
		}
	}
	r.MeanMs = h.meanMs()
	r.P50Ms = h.quantile(0.50)
	r.P90Ms = h.quantile(0.90)
	r.P99Ms = h.quantile(0.99)
	r.MaxMs = float64(h.max) / 1000
	return r
}
