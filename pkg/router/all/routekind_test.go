package all

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/siskin-dev/siskin/pkg/providers"
)

// The one scheme knows every route kind provider gatewayapi owns, at the version it owns it.
func TestTheSchemeKnowsGRPCAndTCPRoutes(t *testing.T) {
	s, err := Scheme()
	if err != nil {
		t.Fatal(err)
	}
	for _, gvk := range []struct{ got, want schema.GroupVersionKind }{
		{providers.GRPCRoute, schema.GroupVersionKind{Group: gatewayv1.GroupName, Version: "v1", Kind: "GRPCRoute"}},
		{providers.TCPRoute, schema.GroupVersionKind{Group: gatewayv1.GroupName, Version: "v1", Kind: "TCPRoute"}},
	} {
		if gvk.got != gvk.want {
			t.Errorf("providers names %s, want %s", gvk.got, gvk.want)
		}
	}
	if !s.Recognizes(providers.GRPCRoute) || !s.Recognizes(providers.TCPRoute) {
		t.Error("the scheme does not know gateway.networking.k8s.io/v1 GRPCRoute and TCPRoute")
	}
}
