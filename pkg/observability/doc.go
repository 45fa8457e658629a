// Package observability holds Siskin's own Prometheus metrics, registered on
// controller-runtime's registry and served on the manager's metrics endpoint.
//
// Every series carries the Canary's name and namespace. Unlike the Flagger model, the weight
// carries the canary name, the duration histogram measures whole rollouts rather than one
// analysis tick, and a deleted Canary's series are deleted with it (Recorder.Forget).
package observability
