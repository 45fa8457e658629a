// Package framework is the toolkit of Siskin's end-to-end scenarios and of `make demo`: it
// brings the local environment (e2e/localenv) up and down, starts and stops the controller
// against it, creates workloads and Canaries, drives traffic through the data plane, reads the
// Slack sink and the load tester's gates, and waits on conditions. A wait that times out
// explains itself: it prints the Canary's status, the namespace's events, the live route and the
// tail of the controller's log.
package framework
