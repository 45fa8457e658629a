// Package replicas is the router of provider replicas, which routes nothing: the canary's share
// of the work is its share of the pods. It is the router of every StatefulSet target, whose
// partition is moved so that the new revision runs on a share of its pods, and of worker
// Deployments (queue consumers and the like, with no inbound traffic to split), whose canary
// runs a share of the primary's replicas beside it.
//
// The weights are turned into pods by the target's adapter (target.Sharer); this package only
// gives the engine a router made of them. There is nothing to finalize: when the Canary is
// deleted the target adapter gives the target back its pods.
package replicas
