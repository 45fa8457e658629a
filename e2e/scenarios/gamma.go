package scenarios

import "github.com/siskin-dev/siskin/e2e/framework"

// withLinkerd adds provider linkerd to routers: its scenarios are the generic ones, run on an
// HTTPRoute whose parent is the apex Service and judged by Linkerd's built-in metrics.
func withLinkerd(routers []framework.Router) []framework.Router {
	return append(append([]framework.Router(nil), routers...), framework.Linkerd)
}
