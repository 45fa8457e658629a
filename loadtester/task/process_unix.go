//go:build unix

package task

import (
	"os/exec"
	"syscall"
)

// killProcessGroup runs the command in its own process group and makes cancellation kill the
// whole group, so that a shell's children die with it.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
