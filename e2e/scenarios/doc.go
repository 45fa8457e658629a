// Package scenarios holds Siskin's end-to-end scenarios. Each is written once, as a function
// taking an Input (the environment, the router, the names), and run for every router it
// applies to by scenarios_test.go. They need the build tag e2e (`make e2e`) and a local
// environment, which TestMain brings up once for the whole test binary.
package scenarios
