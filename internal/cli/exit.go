package cli

import (
	"errors"
	"fmt"
)

// Exit codes of kubectl-siskin. They are documented in docs/cli.md; never renumber them.
const (
	// ExitOK: the command did what was asked (wait: the revision was promoted).
	ExitOK = 0
	// ExitError: something failed (API error, object not found, bad input file).
	ExitError = 1
	// ExitUsage: the command line is wrong (unknown flag, missing argument).
	ExitUsage = 2
	// ExitRefused: the controller acknowledged a request and refused it (ManualRequestIgnored).
	ExitRefused = 3
	// ExitTimeout: the timeout passed before the controller acknowledged the request, or before
	// the rollout ended.
	ExitTimeout = 4
	// ExitRolledBack: wait: the revision was rolled back (phase Failed).
	ExitRolledBack = 5
	// ExitStalled: wait: the Canary is Stalled (a spec or target the controller cannot act on).
	ExitStalled = 6
	// ExitSuperseded: wait: the target moved on to another revision before this one finished.
	ExitSuperseded = 7
)

// CodedError is an error with the exit code the process should end with.
type CodedError struct {
	Code int
	Err  error
}

func (e *CodedError) Error() string { return e.Err.Error() }

func (e *CodedError) Unwrap() error { return e.Err }

// exitf returns an ExitError with code and a formatted message.
func exitf(code int, format string, args ...any) error {
	return &CodedError{Code: code, Err: fmt.Errorf(format, args...)}
}

// ExitCode is the exit code for the error a command returned: ExitOK for nil, the code of a
// CodedError, ExitError otherwise.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *CodedError
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitError
}
