//go:build !unix

package task

import "os/exec"

// killProcessGroup leaves the default cancellation (kill the process) in place.
func killProcessGroup(*exec.Cmd) {}
