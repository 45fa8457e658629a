package metrics

import (
	"errors"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func routedBy(kind string) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec:       siskinv1.CanarySpec{Service: siskinv1.CanaryService{Port: 9898, RouteKind: kind}},
	}
}

// With GRPCRoutes on Istio's series, a call counts as failed by its gRPC status too: a failed
// gRPC call is answered with HTTP 200. The other queries are those of HTTPRoutes.
func TestGRPCRoutesCountFailedCallsByTheirGRPCStatus(t *testing.T) {
	c := routedBy(siskinv1.RouteKindGRPCRoute)
	for _, metric := range []string{siskinv1.MetricRequestSuccessRate, CompareErrors} {
		q, err := builtinFor(c, siskinv1.ProviderGatewayAPI, metric)
		if err != nil {
			t.Fatal(err)
		}
		if want := `grpc_response_status!~"` + grpcFailures + `"`; !strings.Contains(q, want) || !strings.Contains(q, `response_code!~"5.*"`) {
			t.Errorf("%s for a GRPCRoute does not count failed calls by %s and 5xx:\n%s", metric, want, q)
		}
		http, _ := BuiltinQuery(siskinv1.ProviderGatewayAPI, metric)
		if q == http {
			t.Errorf("%s for a GRPCRoute is the HTTPRoute's query", metric)
		}
	}
	for _, metric := range []string{siskinv1.MetricRequestDuration, RequestCount, CompareRequests, CompareBuckets} {
		q, err := builtinFor(c, siskinv1.ProviderGatewayAPIV1, metric)
		http, _ := BuiltinQuery(siskinv1.ProviderGatewayAPIV1, metric)
		if err != nil || q != http {
			t.Errorf("%s for a GRPCRoute: %v, want the HTTPRoute's query", metric, err)
		}
	}
	// Linkerd's response_total classifies a gRPC call by its status already.
	q, err := builtinFor(c, siskinv1.ProviderGatewayAPILinkerd, siskinv1.MetricRequestSuccessRate)
	linkerd, _ := BuiltinQuery(siskinv1.ProviderGatewayAPILinkerd, siskinv1.MetricRequestSuccessRate)
	if err != nil || q != linkerd {
		t.Errorf("gatewayapi:linkerd success rate for a GRPCRoute: %v, want Linkerd's query", err)
	}
}

func TestGRPCRoutesRefuseSuccessRatesThatCountHTTPStatusesOnly(t *testing.T) {
	c := routedBy(siskinv1.RouteKindGRPCRoute)
	_, err := builtinFor(c, siskinv1.ProviderGatewayAPIContour, siskinv1.MetricRequestSuccessRate)
	if !errors.Is(err, ErrUnknownBuiltin) || !strings.Contains(err.Error(), "which are 200 for failed gRPC calls") {
		t.Fatalf("gatewayapi:contour success rate for a GRPCRoute: %v", err)
	}
	if _, err := builtinFor(c, siskinv1.ProviderGatewayAPIContour, siskinv1.MetricRequestDuration); err != nil {
		t.Fatalf("gatewayapi:contour duration for a GRPCRoute: %v", err)
	}
}

func TestTCPRoutesHaveNoBuiltinQueries(t *testing.T) {
	c := routedBy(siskinv1.RouteKindTCPRoute)
	for _, metric := range []string{siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration, RequestCount, CompareRequests} {
		_, err := builtinFor(c, siskinv1.ProviderGatewayAPI, metric)
		if !errors.Is(err, ErrUnknownBuiltin) || !strings.Contains(err.Error(), "TCPRoute routes connections") {
			t.Errorf("%s for a TCPRoute: %v, want ErrUnknownBuiltin", metric, err)
		}
	}
	q, err := builtinFor(routedBy(""), siskinv1.ProviderGatewayAPI, siskinv1.MetricRequestSuccessRate)
	http, _ := BuiltinQuery(siskinv1.ProviderGatewayAPI, siskinv1.MetricRequestSuccessRate)
	if err != nil || q != http {
		t.Errorf("an HTTPRoute's success rate: %v", err)
	}
}

// The documentation shows the success rate of GRPCRoutes as it is.
func TestDocsShowTheGRPCSuccessRate(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	q, err := readBuiltin(grpcQueries, siskinv1.MetricRequestSuccessRate)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), strings.TrimSpace(q)) {
		t.Errorf("docs/metrics.md does not show the GRPCRoute success rate:\n%s", q)
	}
}
