// Package all builds the router of every provider in providers.All: the one place, beside the
// provider's entry there and its own package, where a router is added.
package all

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/router/contour"
	"github.com/siskin-dev/siskin/pkg/router/gatewayapi"
	"github.com/siskin-dev/siskin/pkg/router/istio"
	"github.com/siskin-dev/siskin/pkg/router/kubernetes"
	"github.com/siskin-dev/siskin/pkg/router/nginx"
	"github.com/siskin-dev/siskin/pkg/router/replicas"
	"github.com/siskin-dev/siskin/pkg/router/skipper"
	"github.com/siskin-dev/siskin/pkg/router/traefik"
	"github.com/siskin-dev/siskin/pkg/target"
)

// New returns the router of each provider by its canonical name, reading through reader (the
// informer cache) and writing through c. services is the router of the generated Services,
// which is provider kubernetes's router; pods shares pods for provider replicas.
func New(reader client.Reader, c client.Client, services *kubernetes.Router, pods target.Sharer) map[string]router.Router {
	return map[string]router.Router{
		siskinv1.ProviderIstio:      istio.New(reader, c),
		siskinv1.ProviderGatewayAPI: gatewayapi.New(reader, c),
		siskinv1.ProviderLinkerd:    gatewayapi.NewMesh(reader, c),
		siskinv1.ProviderNginx:      nginx.New(reader, c),
		siskinv1.ProviderContour:    contour.New(reader, c),
		siskinv1.ProviderTraefik:    traefik.New(reader, c),
		siskinv1.ProviderSkipper:    skipper.New(reader, c),
		siskinv1.ProviderKubernetes: services,
		siskinv1.ProviderReplicas:   replicas.New(pods),
	}
}
