// Package webhooks calls the webhooks of a Canary: gates (confirm-rollout,
// confirm-traffic-increase, confirm-promotion, rollback), checks (pre-rollout, rollout) and
// notifications (post-rollout, event).
//
// A call is an HTTP POST of a JSON Payload. Any 2xx answer is a success; everything else,
// including a redirect, is a failure. Headers come from the Secret a webhook's secretRef names,
// and a signing key (per webhook or controller-wide) adds an HMAC-SHA256 signature of the body
// in the X-Siskin-Signature header, so a receiver can tell Siskin's calls from anyone else's.
//
// The webhook's timeout bounds the whole call, retries and their backoff included, so a
// reconcile never waits on a webhook for longer than the largest timeout of the hooks it calls.
package webhooks
