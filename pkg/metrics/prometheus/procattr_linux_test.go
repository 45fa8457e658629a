package prometheus_test

import "syscall"

// childProcAttr kills the Prometheus server if the test binary dies without cleaning up.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
