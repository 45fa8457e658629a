// Package cmdline turns the command lines that Flagger users put in webhook metadata into
// something the load tester can run without a shell: Split breaks a line into arguments
// honouring quotes, and Parse translates hey, ghz and grpc_health_probe invocations into a
// load.Spec for the built-in generator.
package cmdline
