// Package webhooks calls the webhooks of a Canary: gates (confirm-rollout,
// confirm-traffic-increase, confirm-promotion, rollback), checks (pre-rollout, rollout) and
// notifications (post-rollout, event).
//
// A call is an HTTP POST of a JSON Payload. Any 2xx answer is a success; everything else,
// including a redirect, is a failure: redirects are never followed, so the Secret's headers
// never go to another address. Headers come from the Secret a webhook's secretRef names.
//
// Every Canary author chooses webhook URLs, so the client treats them as hostile:
//
//   - An OutboundPolicy, checked on the IP address dialled after DNS resolution, refuses
//     link-local, cloud metadata and unspecified addresses unless the cluster allows them.
//   - The excerpt of an answer kept in results and messages is scrubbed of the values sent
//     from the Secret and of credential-looking tokens, since it reaches status, events and chat.
//   - A webhook's timeout bounds the whole call, retries and their backoff included, and is at
//     most MaxTimeout, so a reconcile never waits on a webhook for longer.
//   - Event webhooks go through NotifyAsync: a fixed pool of workers and a bounded queue that
//     drops, and counts, what does not fit.
//
// A signing key (per webhook or controller-wide) adds SignatureV2Header, an HMAC-SHA256 over
// the time, method, request target and body, so a receiver can tell Siskin's calls from anyone
// else's, and refuse replays (Verifier, with a replay window). NormalizeKey is the one way both
// sides read a key. The legacy body-only SignatureHeader is sent only with WithLegacySignature.
package webhooks
