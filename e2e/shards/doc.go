// Package shards holds the sharding scenario: three controller replicas share 300 Canaries
// over three shards on the local environment, one is killed in the middle of a fleet-wide
// change, and every rollout must still complete exactly once. It is built with the e2eshards
// tag only (make e2e-shards), apart from make e2e.
package shards
