// Package metrics runs the metric checks of a canary's analysis step.
//
// A check renders its query (a built-in query of the canary's router provider, a MetricTemplate
// or a deprecated inline query) as a Go text/template over {{ name }}, {{ namespace }},
// {{ target }}, {{ service }}, {{ interval }} and {{ variables.NAME }}, runs it on a Provider
// and compares the value with the metric's thresholdRange. The Analyzer runs every metric of a
// step at once under one deadline and returns one siskinv1.CheckResult per metric.
//
// "No data" is never a number. A metric that declares a minimum sample waits (verdict NoData)
// while the sample is below it, and only the engine's progress deadline turns waiting into a
// failure. A metric without that declaration fails on no data, as in the Flagger model.
//
// Every Canary and MetricTemplate author is a tenant of one controller, so a check can hurt
// neither the controller nor another namespace: Render refuses the template constructs that
// could expand without bound and caps the output at MaxQueryBytes; credentials are only ever
// sent to the address written in the same object as their secretRef; a templateRef into
// another namespace needs AnalyzerOptions.AllowCrossNamespaceRefs; addresses reach messages
// through RedactURL. NaN and ±Inf are no data, never a value that a bound could pass.
//
// Built-in queries are data: queries/<router>/<metric>.promql, embedded in the binary and
// listed in docs/metrics.md. Subpackage prometheus implements Provider.
package metrics
