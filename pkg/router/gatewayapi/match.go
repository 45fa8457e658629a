package gatewayapi

import (
	"fmt"
	"maps"
	"regexp"
	"slices"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// checkMatches fails on the conditions an HTTPRoute cannot express; field names the list in
// messages.
func checkMatches(field string, in []siskinv1.HTTPMatchRequest) error {
	for i, m := range in {
		var bad string
		switch {
		case m.Scheme != nil:
			bad = "scheme"
		case m.Authority != nil:
			bad = "authority"
		case m.Port != 0:
			bad = "port"
		case len(m.SourceLabels) > 0:
			bad = "sourceLabels"
		case m.SourceNamespace != "":
			bad = "sourceNamespace"
		case len(m.Gateways) > 0:
			bad = "gateways"
		case len(m.WithoutHeaders) > 0:
			bad = "withoutHeaders"
		case m.IgnoreURICase:
			bad = "ignoreUriCase"
		case m.Method != nil && m.Method.Exact == "":
			bad = "method (only exact)"
		}
		if bad != "" {
			return fmt.Errorf("%s[%d].%s cannot be expressed in a Gateway API HTTPRoute", field, i, bad)
		}
	}
	return nil
}

func httpMatches(in []siskinv1.HTTPMatchRequest) []gatewayv1.HTTPRouteMatch {
	if len(in) == 0 {
		return nil
	}
	out := make([]gatewayv1.HTTPRouteMatch, len(in))
	for i, m := range in {
		out[i] = gatewayv1.HTTPRouteMatch{Path: pathMatch(m.URI)}
		for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
			t, v := valueMatch(m.Headers[k])
			out[i].Headers = append(out[i].Headers, gatewayv1.HTTPHeaderMatch{
				Type: ptr.To(gatewayv1.HeaderMatchType(t)), Name: gatewayv1.HTTPHeaderName(k), Value: v,
			})
		}
		for _, k := range slices.Sorted(maps.Keys(m.QueryParams)) {
			t, v := valueMatch(m.QueryParams[k])
			out[i].QueryParams = append(out[i].QueryParams, gatewayv1.HTTPQueryParamMatch{
				Type: ptr.To(gatewayv1.QueryParamMatchType(t)), Name: gatewayv1.HTTPHeaderName(k), Value: v,
			})
		}
		if m.Method != nil {
			out[i].Method = ptr.To(gatewayv1.HTTPMethod(m.Method.Exact))
		}
	}
	return out
}

func pathMatch(s *siskinv1.StringMatch) *gatewayv1.HTTPPathMatch {
	switch {
	case s == nil:
		return nil
	case s.Exact != "":
		return &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchExact), Value: ptr.To(s.Exact)}
	case s.Prefix != "":
		return &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To(s.Prefix)}
	case s.Regex != "":
		return &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchRegularExpression), Value: ptr.To(s.Regex)}
	}
	return nil
}

// valueMatch is the Gateway API match type and value of a header or query parameter match. A
// prefix becomes a regular expression, the only way Gateway API can say it.
func valueMatch(s siskinv1.StringMatch) (matchType, value string) {
	switch {
	case s.Exact != "":
		return string(gatewayv1.HeaderMatchExact), s.Exact
	case s.Prefix != "":
		return string(gatewayv1.HeaderMatchRegularExpression), "^" + regexp.QuoteMeta(s.Prefix) + ".*"
	case s.Regex != "":
		return string(gatewayv1.HeaderMatchRegularExpression), s.Regex
	}
	return string(gatewayv1.HeaderMatchRegularExpression), ".*"
}
