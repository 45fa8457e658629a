package metrics

import (
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The built-in traefik queries select the canary Service behind the TraefikService by the name
// Traefik gives it, in its legacy naming and with safeNaming, weighted or mirrored, and nothing
// else: not the primary, another Service of a similar name, another namespace, or the services
// of Traefik's Gateway API provider.
func TestBuiltinTraefikQueriesSelectTheCanaryService(t *testing.T) {
	for _, metric := range []string{siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration, RequestCount} {
		checkBuiltinSelects(t, "traefik", metric, testVars, "service", []string{
			"test-podinfo-canary-9898@kubernetescrd",
			"test-podinfo-canary-80@kubernetescrd",
			"test_podinfo_wrr_1_test_podinfo-canary_9898@kubernetescrd",
			"test_podinfo_mirror_0_test_podinfo-canary_9898@kubernetescrd",
		}, []string{
			"test-podinfo-primary-9898@kubernetescrd",
			"test-podinfo-canary-extra-9898@kubernetescrd",
			"other-podinfo-canary-9898@kubernetescrd",
			"test-podinfo-canary-9898@kubernetesgateway",
			"test_podinfo_wrr_0_test_podinfo-primary_9898@kubernetescrd",
			"test-podinfo@kubernetescrd",
		})
	}
}

// Provider traefik counts no version apart from the other (no {{ workload }} in Traefik's
// service names): it has no compared counts.
func TestBuiltinTraefikHasNoComparedCounts(t *testing.T) {
	for _, metric := range []string{CompareRequests, CompareErrors, CompareBuckets} {
		if _, err := BuiltinQuery("traefik", metric); err == nil {
			t.Errorf("BuiltinQuery(traefik, %s) has a query", metric)
		}
	}
}
