// Package notify announces a Canary's events to chat and webhook destinations: the AlertProviders
// that the Canary's analysis.alerts name (slack, msteams, discord, rocket, gchat, generic), or, for
// a Canary with no alerts, the controller-wide senders configured by flags.
//
// Notify never blocks the reconcile. It copies what a message needs and puts it on a bounded
// intake queue; Start runs the goroutines that resolve alerts to providers (from the informer
// cache) and deliver. Each provider has its own bounded queue served by its own goroutine while
// it has work, so one rollout's messages arrive in order, and a failing or hanging provider
// delays no other provider and no Canary. A full queue drops its oldest message, and says so.
//
// Delivery retries network errors, 5xx and 429 answers (honouring Retry-After) with exponential
// backoff, and gives up after a bounded number of attempts; a message that is given up or dropped
// is counted through Options.OnFailure. Health reports, per AlertProvider, whether its last
// message was delivered and why not, for the AlertProvider's Ready condition.
//
// Webhook URLs, tokens and proxy credentials never appear in logs, errors or health: a
// destination is named by the scheme and host of its URL only.
//
// With a Slack bot token, one rollout is one thread: the first message about a Canary's revision
// starts a thread and later messages about that revision reply in it. Thread timestamps are kept
// in memory only, so after a restart the next message starts a new thread.
package notify
