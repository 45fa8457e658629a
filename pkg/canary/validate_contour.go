package canary

import (
	"fmt"
	"strings"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// validateContour refuses what an HTTPProxy route cannot express (provider contour): session
// cookies (its headers policy sets a response header and cannot add a Set-Cookie beside the
// application's), more than one port, static mirrors besides analysis.mirror, rewrites and CORS
// (the root HTTPProxy's business), a per-backend timeout, headers to add, and matches on
// anything but the path, headers and query parameters.
func validateContour(spec *siskinv1.CanarySpec) error {
	const p = siskinv1.ProviderContour
	s := spec.Service
	switch {
	case spec.Analysis != nil && spec.Analysis.SessionAffinity != nil:
		return fmt.Errorf("%w: provider %s cannot pin sessions to the canary: an HTTPProxy can only set a response header, not add one, so a session cookie would replace the application's own Set-Cookie headers; delete analysis.sessionAffinity", ErrInvalidSpec, p)
	case len(s.AdditionalPorts) > 0:
		return fmt.Errorf("%w: provider %s routes service.port only: delete service.additionalPorts", ErrInvalidSpec, p)
	case len(s.Mirror) > 0:
		return fmt.Errorf("%w: provider %s has one mirror per route, which analysis.mirror uses: delete service.mirror", ErrInvalidSpec, p)
	case s.Rewrite != nil && (s.Rewrite.URI != "" || s.Rewrite.Authority != ""):
		return fmt.Errorf("%w: provider %s does not rewrite requests: write the rewrite in the root HTTPProxy (pathRewritePolicy, requestHeadersPolicy) and delete service.rewrite", ErrInvalidSpec, p)
	case s.CorsPolicy != nil:
		return fmt.Errorf("%w: provider %s does not set CORS: Contour's corsPolicy belongs to the root HTTPProxy's virtualhost; delete service.corsPolicy", ErrInvalidSpec, p)
	case s.BackendTimeout != "":
		return fmt.Errorf("%w: provider %s has no per-backend timeout: use service.retries.perTryTimeout and delete service.backendTimeout", ErrInvalidSpec, p)
	}
	if h := s.Headers; h != nil && ((h.Request != nil && len(h.Request.Add) > 0) || (h.Response != nil && len(h.Response.Add) > 0)) {
		return fmt.Errorf("%w: provider %s sets and removes headers but cannot add one: use service.headers.*.set", ErrInvalidSpec, p)
	}
	for field, matches := range map[string][]siskinv1.HTTPMatchRequest{"service.match": s.Match, "analysis.match": analysisMatch(spec)} {
		for i, m := range matches {
			if msg := contourMatchRefusal(m); msg != "" {
				return fmt.Errorf("%w: %s[%d]: provider %s %s", ErrInvalidSpec, field, i, p, msg)
			}
		}
	}
	return nil
}

func analysisMatch(spec *siskinv1.CanarySpec) []siskinv1.HTTPMatchRequest {
	if spec.Analysis == nil {
		return nil
	}
	return spec.Analysis.Match
}

// contourMatchRefusal says why an HTTPProxy cannot route the match m, "" when it can.
func contourMatchRefusal(m siskinv1.HTTPMatchRequest) string {
	switch {
	case m.Scheme != nil || m.Method != nil || m.Authority != nil || m.Port != 0:
		return "matches the path, headers and query parameters only, not the scheme, method, authority or port"
	case len(m.SourceLabels) > 0 || m.SourceNamespace != "" || len(m.Gateways) > 0:
		return "cannot match the source workload, namespace or gateway of a request"
	case m.IgnoreURICase:
		return "matches paths case-sensitively: delete ignoreUriCase"
	}
	var without []string
	for name, v := range m.WithoutHeaders {
		if v.Exact == "" {
			without = append(without, name)
		}
	}
	if len(without) > 0 {
		return "excludes a header by its exact value only (withoutHeaders " + strings.Join(without, ", ") + ")"
	}
	return ""
}
