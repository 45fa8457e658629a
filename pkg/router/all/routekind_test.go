package all

import (
	"testing"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/siskin-dev/siskin/pkg/providers"
)

// The one scheme knows every route kind provider gatewayapi owns, at the version it owns it.
func TestTheSchemeKnowsGRPCAndTCPRoutes(t *testing.T) {
	s, err := Scheme()
	if err != nil {
		t.Fatal(err)
	}
	for _, gvk := range []struct{ got, want string }{
		{providers.GRPCRoute.String(), gatewayv1.GroupVersion.WithKind("GRPCRoute").String()},
		{providers.TCPRoute.String(), gatewayv1.GroupVersion.WithKind("TCPRoute").String()},
	} {
		if gvk.got != gvk.want {
			t.Errorf("providers names %s, want %s", gvk.got, gvk.want)
		}
	}
	if !s.Recognizes(providers.GRPCRoute) || !s.Recognizes(providers.TCPRoute) {
		t.Error("the scheme does not know gateway.networking.k8s.io/v1 GRPCRoute and TCPRoute")
	}
}
