// Package observability holds Siskin's own Prometheus metrics, registered on
// controller-runtime's registry and served on the manager's metrics endpoint.
//
// Every series carries the Canary's name and namespace. Unlike the Flagger model, the weight
// carries the canary name, the duration histogram measures whole rollouts rather than one
// analysis tick, and a deleted Canary's series are deleted with it (Recorder.Forget).
//
// WithFlaggerNames adds Flagger's series (flagger_info, flagger_canary_*), with Flagger's names,
// labels and values, for dashboards and alerts written for Flagger. They are fed by the same
// Recorder calls and deleted with their Canary too; FlaggerStatus says how each phase maps to
// Flagger's 0 (running), 1 (successful) and 2 (failed).
package observability
