// Package canary is Siskin's rollout state machine: pure functions from a Canary's spec, its
// status and what was observed this round to the next status and the actions that get there.
// Nothing here does I/O, reads a clock or logs.
//
// Each round the controller calls, in this order:
//
//	needs := canary.NeedsFor(c, obs)   // obs read from caches: which gates, is a step due
//	obs.Gates, obs.Checks = ...        // call those gates; run the step's webhooks and queries
//	d := canary.Plan(c, obs)
//	// execute d.Actions in order; on the first error stop, write nothing, retry with backoff
//	// write d.Status once; emit d.Events; requeue after d.RequeueAfter (0: watch events only)
//
// Phases, as users of the Flagger model know them:
//
//	""  ──► Initializing ──► Initialized ─┐
//	                                      │ new revision (also from Succeeded and Failed,
//	                                      ▼ and from Failed on siskin.dev/retry)
//	                 (Waiting) ──► Progressing ──► (WaitingPromotion) ──► Promoting
//	                     │           │     ▲                │               │    │
//	                     │           │     └─ new revision ─┘               │    ▼
//	                     │           │        restarts the analysis         │  (Finalising) ──► Succeeded
//	                     ▼           ▼                ▼                     ▼
//	                   Failed ◄── rollback ◄──────────┘           Failed (primary not ready)
//
// Waiting is a closed confirm-rollout gate; WaitingPromotion a closed confirm-promotion gate,
// during which the analysis keeps running. A rollback (failed checks at the threshold, the
// progress deadline, a rollback webhook, a gate timeout, siskin.dev/abort) is Failed at once;
// the canary is scaled down in that round or a later one, once the router confirms all traffic
// on the primary. Finalising likewise lasts until the router confirms. A target put back to the
// promoted revision cancels a rollout through Finalising. Terminating and Terminated belong to
// deletion with spec.revertOnDeletion and are not planned here.
//
// Two clocks live in status: lastStepTime schedules analysis steps, gate polls and promotion
// steps (next = lastStepTime + interval; a late step runs once, never twice to catch up), and
// waitingSince dates the current wait, whose kind the Reconciling condition's reason names;
// the progress deadline and gate timeouts count from it. Pause (siskin.dev/pause) stops both.
package canary
