package all

import (
	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// schemes add the kinds of every router's objects; a router whose objects are typed adds its
// API's AddToScheme here.
var schemes = []func(*runtime.Scheme) error{networkingv1.AddToScheme, gatewayv1.Install, contourv1.AddToScheme}

// Scheme returns a scheme with Kubernetes' built-in kinds, Siskin's and those of every router:
// the one the controller, kubectl siskin and the tests read and write through.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range append([]func(*runtime.Scheme) error{clientgoscheme.AddToScheme, siskinv1.AddToScheme}, schemes...) {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}
