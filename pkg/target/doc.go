// Package target adapts the workload a Canary rolls out: Deployments and DaemonSets, each
// through the Adapter interface (kind.go), chosen by spec.targetRef.kind.
//
// For a target Deployment <name> Siskin keeps a primary clone <name>-primary that serves
// production traffic, copies of the ConfigMaps and Secrets the target reads (<config>-primary)
// and, when the Canary names an autoscaler, <hpa>-primary aimed at the primary. The target
// itself is the canary: scaled up while a new revision is analysed and down to zero at rest.
//
// Reads go through a client.Reader that is expected to be the informer cache, so a Canary at
// rest costs no API calls; writes are patches computed against what was read, guarded by
// resourceVersion where a stale read would write a wrong value.
//
// A revision is identified by Fingerprint: canonical JSON of the pod template with empty values
// removed, plus the checksums of the tracked configs. Upgrading the Kubernetes libraries adds
// optional fields to the Go types but not to their canonical JSON, so the fingerprint of an
// unchanged Deployment stays the same and the fleet is not rolled out again.
package target
