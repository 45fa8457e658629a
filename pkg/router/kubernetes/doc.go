// Package kubernetes is the router for provider kubernetes: plain Services, no traffic split.
//
// For a Canary whose apex Service is <svc> it keeps <svc>-primary selecting the primary's pods,
// <svc>-canary selecting the target's pods, and <svc> itself selecting the primary's pods (and,
// while analysis.comparison compares with a baseline, <svc>-baseline selecting its pods). It
// cannot weight traffic, so it serves blue/green rollouts: the canary is tested through
// <svc>-canary while every user request goes to the primary.
//
// An apex Service that exists before the Canary (applied by the user or a GitOps tool) is
// adopted, not replaced: it gets no owner reference, so deleting the Canary never deletes it;
// its ports stay as they are; and its selector is switched only once the primary is ready,
// with the original kept in an annotation for Finalize to restore.
package kubernetes
