// Package router declares what the engine needs from a traffic router, and holds one
// subpackage per provider (kubernetes, istio, gatewayapi).
//
// A router converges and reports: Apply writes the routing objects for the weights the planner
// decided, Observe reads back what is live so that the planner scales nothing down before a
// weight has taken effect, and Finalize hands traffic back to the user's objects when a Canary
// is deleted. Routers decide nothing.
package router
