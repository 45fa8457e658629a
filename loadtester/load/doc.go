// Package load generates HTTP and gRPC traffic against one target, either at a fixed request
// rate or as fast as a fixed number of workers allow, for a duration or a request count, and
// summarises what it saw (error rate, latency percentiles, achieved rate).
//
// It is the engine behind the load tester's webhook tasks. It never shells out: hey and ghz
// command lines are translated into a Spec by the cmdline package.
package load
