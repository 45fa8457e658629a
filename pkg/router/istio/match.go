package istio

import (
	istioapi "istio.io/api/networking/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func httpMatches(in []siskinv1.HTTPMatchRequest) []*istioapi.HTTPMatchRequest {
	if len(in) == 0 {
		return nil
	}
	out := make([]*istioapi.HTTPMatchRequest, len(in))
	for i, m := range in {
		out[i] = &istioapi.HTTPMatchRequest{
			Name:            m.Name,
			Uri:             stringMatch(m.URI),
			Scheme:          stringMatch(m.Scheme),
			Method:          stringMatch(m.Method),
			Authority:       stringMatch(m.Authority),
			Headers:         stringMatches(m.Headers),
			Port:            uint32(max(m.Port, 0)),
			SourceLabels:    m.SourceLabels,
			SourceNamespace: m.SourceNamespace,
			Gateways:        m.Gateways,
			QueryParams:     stringMatches(m.QueryParams),
			IgnoreUriCase:   m.IgnoreURICase,
			WithoutHeaders:  stringMatches(m.WithoutHeaders),
		}
	}
	return out
}

func stringMatches(in map[string]siskinv1.StringMatch) map[string]*istioapi.StringMatch {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]*istioapi.StringMatch, len(in))
	for k, v := range in {
		if out[k] = stringMatch(&v); out[k] == nil {
			out[k] = &istioapi.StringMatch{} // the header is present, whatever its value
		}
	}
	return out
}

func stringMatch(s *siskinv1.StringMatch) *istioapi.StringMatch {
	switch {
	case s == nil:
		return nil
	case s.Exact != "":
		return &istioapi.StringMatch{MatchType: &istioapi.StringMatch_Exact{Exact: s.Exact}}
	case s.Prefix != "":
		return &istioapi.StringMatch{MatchType: &istioapi.StringMatch_Prefix{Prefix: s.Prefix}}
	case s.Regex != "":
		return &istioapi.StringMatch{MatchType: &istioapi.StringMatch_Regex{Regex: s.Regex}}
	}
	return nil
}
