package all

import (
	"testing"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router/contour"
	"github.com/siskin-dev/siskin/pkg/router/kubernetes"
	"github.com/siskin-dev/siskin/pkg/target"
)

// Provider contour is routed by the HTTPProxy router, and the one scheme knows HTTPProxy.
func TestContourHasTheHTTPProxyRouter(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	routers := New(c, c, kubernetes.New(c, c, nil), target.NewKinds(c, c, nil, nil))
	if _, ok := routers[siskinv1.ProviderContour].(*contour.Router); !ok {
		t.Errorf("provider contour has router %T", routers[siskinv1.ProviderContour])
	}
	s, err := Scheme()
	if err != nil {
		t.Fatal(err)
	}
	if !s.Recognizes(contourv1.GroupVersion.WithKind("HTTPProxy")) {
		t.Error("the scheme does not know projectcontour.io/v1 HTTPProxy")
	}
}
