// Package shard splits the Canaries among replicas of the controller.
//
// A Canary belongs to one of N shards: the one its siskin.dev/shard label names, or else the
// FNV-1a hash of namespace/name modulo N (Of). A coordination Lease per shard,
// <leader-election-id>-shard-<i>, says which replica owns it; a Manager runs one election per
// shard with client-go's leaderelection and keeps, per shard, the tenure that the reconciler
// consults:
//
//   - A shard is held from the first successful write of its Lease by this replica until the
//     renew deadline after the last one was sent. Another replica takes the Lease only a whole
//     lease duration after it saw that write, so the tenure ends before anyone else's can
//     begin, even when this replica's renewals stop silently (a partition, a stalled process).
//   - Work done for a shard happens inside Enter: a context that is cancelled when the tenure
//     ends. Handing a Lease over (at shutdown, or to the replica that prefers the shard) ends
//     the tenure, waits for that work to return, and only then releases the Lease.
//   - A replica prefers one shard (its --shard-index, by default the ordinal of a StatefulSet
//     pod's name) and contends for it at once; it contends for the others only after a lease
//     duration, so replicas that start together each get their own. Any replica takes over
//     the shard of one that died once its Lease expires. When the preferring replica comes
//     back, it marks the Lease with a claim (annotation siskin.dev/shard-claim); a holder
//     that does not prefer the shard then hands it over, and waits a lease duration before
//     it contends for it again.
package shard
