// Package loadtester is the Siskin load tester: an HTTP server that Canary webhooks call to
// generate load (and fail a step when the load's error rate or latency is out of bounds),
// to hold promotions and rollbacks behind manual gates whose state survives restarts, and to
// run a small, allow-listed set of commands.
//
// Endpoints: /healthz and /metrics; the gates /gate/approve, /gate/halt, /gate/check,
// /gate/open, /gate/close and /rollback/check, /rollback/open, /rollback/close; and / for
// tasks, chosen by the webhook metadata's "type" (cmd, load, grpc-health, bash, kubectl, helm).
// docs/loadtester.md describes the metadata each task takes.
package loadtester
