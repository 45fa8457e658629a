// Package canary is Siskin's rollout state machine: pure functions from a Canary's spec, its
// status and what was observed this round to the next status and the actions that get there.
// Nothing here does I/O, reads a clock or logs.
//
// Phases, as users of the Flagger model know them:
//
//	""  ──► Initializing ──► Initialized ──► (Waiting) ──► Progressing ──► (WaitingPromotion)
//	                                                           │                  │
//	                                                           ▼                  ▼
//	                                     Failed ◄──────── Promoting ──► Finalising ──► Succeeded
//
// Failed is reached from Progressing, Waiting, WaitingPromotion and Promoting; a new revision
// leaves Initialized, Succeeded or Failed for Progressing (or Waiting behind a confirm-rollout
// gate). Terminating and Terminated belong to deletion with spec.revertOnDeletion.
package canary
