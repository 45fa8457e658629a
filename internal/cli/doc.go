// Package cli holds the commands of kubectl-siskin, the kubectl plugin for Siskin Canaries.
//
// Every command talks to the API server with the user's own kubeconfig, as kubectl does. The
// actions (promote, abort, retry, pause, resume) act only through the manual-control
// annotations the controller already honours, and then wait for the controller to record the
// request in status.manualRequests; what the controller did with it is read from its events.
// Long waits (wait, get -w, the actions) follow watch events, never a polling loop.
//
// Exit codes are part of the interface, so CI scripts can branch on them; see ExitCode and
// docs/cli.md.
package cli
