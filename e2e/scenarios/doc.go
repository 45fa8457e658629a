// Package scenarios holds Siskin's end-to-end scenarios. Each is written once, as a function
// taking an Input (the environment, the router, the names), and run for every router it
// applies to by scenarios_test.go. They need the build tag e2e (`make e2e`) and a local
// environment, which TestMain brings up once for the whole test binary.
//
// A router is described once, by its kit (routerKit, routers.go): what the user writes for it
// before the Canary (an Ingress, a root HTTPProxy, a MetricTemplate), what its Canary changes,
// whether the load test goes through its host, the metric a bad release is rolled back on,
// how its route looks at rest, the data plane's statistics its built-in metrics read, and which
// common scenarios (promotion, rollback-errors, ab-testing) it runs. The common scenarios ask
// the rig for the kit of their router and run for every router whose kit names them, as
// TestScenarios/<scenario>/<provider>.
//
// Adding a router's scenarios takes, beside the data plane's support for its objects:
//   - in e2e/framework, its Router (Mesh or Gateway when it is one) and, when its route is
//     neither a VirtualService nor an HTTPRoute, a reader of its live route in routeReaders;
//   - here, its kit in a file of its own and a line in routerKits.
package scenarios
