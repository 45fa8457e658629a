package metrics

import (
	"context"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// The built-in skipper queries select the routes Skipper makes of the canary Ingress for the
// -canary backend, by the IDs Skipper gives them, and nothing else: not the primary's backend,
// not the user's Ingress, not another namespace's or Ingress's routes, and not the HTTPS
// redirect routes Skipper adds beside them.
func TestBuiltinSkipperQueriesSelectTheCanaryBackendRoutes(t *testing.T) {
	vars := testVars
	vars.Namespace, vars.Ingress, vars.Service = "shop-prod", "web-ingress", "podinfo-api"
	for _, metric := range []string{siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration, RequestCount} {
		q := checkBuiltinSelects(t, siskinv1.ProviderSkipper, metric, vars, "route", []string{
			"kube_shop_prod__web_ingress_canary__app_example_com_____podinfo_api_canary",
			"kube_shop_prod__web_ingress_canary__app_example_com___api_v1__podinfo_api_canary",
			"kubeew_shop_prod__web_ingress_canary__web_ingress_canary_shop_prod_skipper_cluster_local_____podinfo_api_canary",
			"kube_shop_prod__web_ingress_canary______podinfo_api_canary",
		}, []string{
			"kube_shop_prod__web_ingress_canary__app_example_com_____podinfo_api_primary",
			"kube_shop_prod__web_ingress__app_example_com_____podinfo_api",
			"kube_shop_prod__web_ingress__app_example_com_____podinfo_api_canary",
			"kube_shop_staging__web_ingress_canary__app_example_com_____podinfo_api_canary",
			"kube_shop_prod__other_canary__app_example_com_____podinfo_api_canary",
			"kube_shop_prod__web_ingress_canary__app_example_com_____podinfo_api_canary_https_redirect",
			"kube_rg__shop_prod__web_ingress_canary__all__0_0",
		})
		if !strings.Contains(q, "skipper_serve_route_duration_seconds_") {
			t.Errorf("skipper %s reads no serve route metric: %s", metric, q)
		}
	}
}

// The success rate counts the responses that are not 5xx, by Skipper's code label.
func TestBuiltinSkipperSuccessRateCountsNon5xx(t *testing.T) {
	text, err := BuiltinQuery(siskinv1.ProviderSkipper, siskinv1.MetricRequestSuccessRate)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, `code!~"5.."`) {
		t.Errorf("success rate without code!~\"5..\": %s", text)
	}
}

// Provider skipper counts no version apart from the other (its copy routes both): it has no
// compared counts.
func TestBuiltinSkipperHasNoComparedCounts(t *testing.T) {
	for _, metric := range []string{CompareRequests, CompareErrors, CompareBuckets} {
		if _, err := BuiltinQuery(siskinv1.ProviderSkipper, metric); err == nil {
			t.Errorf("BuiltinQuery(skipper, %s) has a query", metric)
		}
	}
}

// {{ underscored X }} writes X as Skipper writes names in route IDs; it takes a string only.
func TestUnderscored(t *testing.T) {
	q, err := Render(context.Background(), `{{ underscored namespace }} {{ underscored "a.b-c_d/é" }}`, Vars{Namespace: "shop-prod"})
	if err != nil || q != "shop_prod a_b_c_d__" {
		t.Fatalf("Render = %q, %v", q, err)
	}
	if _, err := Render(context.Background(), `{{ underscored variables }}`, Vars{}); err == nil {
		t.Fatal("underscored of a map rendered")
	}
}
