package loadtester

import (
	"errors"
	"fmt"
	"time"

	"github.com/siskin-dev/siskin/loadtester/load"
)

// Defaults of the load tester's limits, for Options fields left zero. A request beyond a
// limit is answered 400 with the limit and the flag that sets it; the flags may raise a limit
// only up to its ceiling, so that no configuration lets one request exhaust the process.
const (
	// DefaultMaxConcurrency bounds the workers of one load run (hey -c, concurrency).
	DefaultMaxConcurrency = 1000
	// DefaultMaxRate bounds the requests per second of one load run (hey -q × -c, rps).
	DefaultMaxRate = 10000.0
	// DefaultMaxLoadDuration bounds the duration of one load run; every run is cut off after it.
	DefaultMaxLoadDuration = time.Hour
	// DefaultMaxTasks bounds the load and command tasks running at once; more are answered 429.
	DefaultMaxTasks = 32
	// DefaultMaxWorkers bounds the workers of all load runs together; a run that would go
	// beyond it is answered 429. Each worker keeps a latency histogram of about 30 KiB.
	DefaultMaxWorkers   = 2000
	DefaultMaxBodyBytes = 1 << 20
)

// Ceilings of the limits: Options (and the flags) above them are refused.
const (
	CeilingConcurrency        = load.MaxConcurrency
	CeilingRate               = 100000.0
	CeilingLoadDuration       = 24 * time.Hour
	CeilingTasks              = 1024
	CeilingWorkers            = 4 * load.MaxConcurrency
	CeilingBodyBytes    int64 = 16 << 20
)

// ErrLimit is matched (errors.Is) by the errors about a request beyond a limit.
var ErrLimit = errors.New("beyond a load tester limit")

// limitError says which limit a request went beyond, and which flag sets it.
type limitError struct {
	what, got, limit, flag string
}

func (e *limitError) Error() string {
	return fmt.Sprintf("%s %s exceeds the limit %s (%s)", e.what, e.got, e.limit, e.flag)
}

func (e *limitError) Is(target error) bool { return target == ErrLimit }

// checkLimits refuses a normalised spec beyond the server's limits.
func (s *Server) checkLimits(spec load.Spec) error {
	o := s.opts
	switch {
	case spec.Concurrency > o.MaxConcurrency:
		return &limitError{"concurrency", fmt.Sprint(spec.Concurrency), fmt.Sprint(o.MaxConcurrency), "--max-concurrency"}
	case spec.Rate > o.MaxRate:
		return &limitError{"rate", fmt.Sprintf("%g/s", spec.Rate), fmt.Sprintf("%g/s", o.MaxRate), "--max-rate"}
	case spec.Duration > o.MaxLoadDuration:
		return &limitError{"duration", spec.Duration.String(), o.MaxLoadDuration.String(), "--max-load-duration"}
	case spec.Timeout > o.MaxLoadDuration:
		return &limitError{"request timeout", spec.Timeout.String(), o.MaxLoadDuration.String(), "--max-load-duration"}
	}
	return nil
}

// withLimits fills the limits left zero with their defaults and refuses limits above their
// ceilings.
func withLimits(o Options) (Options, error) {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxConcurrency, DefaultMaxConcurrency)
	def(&o.MaxTasks, DefaultMaxTasks)
	def(&o.MaxWorkers, DefaultMaxWorkers)
	if o.MaxRate <= 0 {
		o.MaxRate = DefaultMaxRate
	}
	if o.MaxLoadDuration <= 0 {
		o.MaxLoadDuration = DefaultMaxLoadDuration
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	var err error
	above := func(name string, v, ceiling any, over bool) {
		if over {
			err = errors.Join(err, fmt.Errorf("%s %v is above its ceiling %v", name, v, ceiling))
		}
	}
	above("--max-concurrency", o.MaxConcurrency, CeilingConcurrency, o.MaxConcurrency > CeilingConcurrency)
	above("--max-rate", o.MaxRate, CeilingRate, o.MaxRate > CeilingRate)
	above("--max-load-duration", o.MaxLoadDuration, CeilingLoadDuration, o.MaxLoadDuration > CeilingLoadDuration)
	above("--max-tasks", o.MaxTasks, CeilingTasks, o.MaxTasks > CeilingTasks)
	above("--max-workers", o.MaxWorkers, CeilingWorkers, o.MaxWorkers > CeilingWorkers)
	above("the body limit", o.MaxBodyBytes, CeilingBodyBytes, o.MaxBodyBytes > CeilingBodyBytes)
	if err == nil && o.MaxWorkers < o.MaxConcurrency {
		err = fmt.Errorf("--max-workers %d is below --max-concurrency %d: a run at the limit could never start", o.MaxWorkers, o.MaxConcurrency)
	}
	return o, err
}

// panicked logs and counts a panic recovered in a background goroutine; where says which.
func (s *Server) panicked(where string, v any, stack []byte) {
	s.metrics.panics.WithLabelValues(where).Inc()
	s.log.Error(fmt.Errorf("panic: %v", v), "recovered from a panic", "reason", where, "stack", string(stack))
}
