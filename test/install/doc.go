// Package install tests how Siskin is installed and how installers see it: the Helm chart
// (charts/siskin) rendered with several value sets, the kustomize install (config/default and
// config/overlays), both applied to a real API server with a server-side dry run, and the
// kstatus reading of a Canary that Flux (wait: true) relies on.
//
// The chart tests need bin/helm and bin/kubectl (make tools); the dry runs need etcd and
// kube-apiserver in bin/ as well.
package install
