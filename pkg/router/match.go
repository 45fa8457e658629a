package router

import (
	"maps"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// Names of the HTTP rules of a weighted route, in the order they are matched.
const (
	RuleCanaryCookie  = "canary-cookie"
	RulePrimaryCookie = "primary-cookie"
	RuleExpiredCookie = "expired-cookie"
	RuleABTest        = "ab-test"
	RuleDefault       = "default"
)

// fullWeight is all the traffic, in percent.
const fullWeight = 100

// Rule is one HTTP rule of a Canary's weighted route, before a router converts it to its own
// API: the requests it takes and where it sends them.
type Rule struct {
	// Name is the rule's role, one of the Rule* constants.
	Name string
	// Match is the requests the rule takes (service.match included); empty takes all.
	Match []siskinv1.HTTPMatchRequest
	// Backends are the primary, the canary and, when it has a weight, the baseline; or the
	// primary alone.
	Backends []Backend
	// MirrorPercent is the percent of the rule's requests copied to the canary; 0 copies none.
	MirrorPercent int32
}

// Backend is a destination of a Rule.
type Backend struct {
	// Canary is true for the -canary Service, Baseline for the -baseline one; neither for the
	// -primary one.
	Canary   bool
	Baseline bool
	// Weight is the percent of the rule's requests it takes.
	Weight int32
	// SetCookie is a Set-Cookie header value to add to its responses, "" for none.
	SetCookie string
}

// HTTPRules returns the HTTP rules that route c as d asks, in the order they must be matched:
// while the canary takes traffic and c pins sessions, the rules of this rollout's canary and
// primary cookies; the rule that expires the previous rollout's cookie; with A/B testing, the
// rule of analysis.match, which carries the weights; and the default rule, which carries the
// weights otherwise, the Set-Cookie headers that pin new clients and the mirror. Every rule
// includes spec.service.match.
func HTTPRules(c *siskinv1.Canary, d canary.DesiredRoute) []Rule {
	svcMatch := c.Spec.Service.Match
	sa := SessionAffinity(c)
	canaryCookie, primaryCookie := SessionCookies(c)
	pinned := sa != nil && d.CanaryWeight > 0 && canaryCookie != ""
	cookieRule := func(name, cookie string, b ...Backend) Rule {
		return Rule{Name: name, Match: MergeMatches(svcMatch, []siskinv1.HTTPMatchRequest{CookieMatch(cookie)}), Backends: b}
	}

	var rules []Rule
	if pinned {
		rules = append(rules, cookieRule(RuleCanaryCookie, canaryCookie, weighted(canary.DesiredRoute{CanaryWeight: fullWeight})...))
		if primaryCookie != "" {
			rules = append(rules, cookieRule(RulePrimaryCookie, primaryCookie, weighted(canary.DesiredRoute{PrimaryWeight: fullWeight})...))
		}
	}
	if prev := PreviousCookie(c, canaryCookie); prev != "" {
		rules = append(rules, cookieRule(RuleExpiredCookie, prev, Backend{Weight: fullWeight, SetCookie: ExpireCookie(sa, prev)}))
	}

	main := Rule{Name: RuleDefault, Match: svcMatch}
	if IsABTest(c) {
		rules = append(rules, Rule{Name: RuleABTest, Match: MergeMatches(svcMatch, c.Spec.Analysis.Match), Backends: weighted(d)})
		main.Backends = []Backend{{Weight: fullWeight}}
	} else {
		main.Backends = weighted(d)
		if pinned {
			main.Backends[1].SetCookie = SetCookie(sa, canaryCookie)
			if primaryCookie != "" {
				main.Backends[0].SetCookie = SetCookie(sa, primaryCookie)
			}
		}
	}
	if d.Mirror {
		main.MirrorPercent = MirrorWeight(c, d)
	}
	return append(rules, main)
}

// weighted is the primary and canary backends with the weights of d, in that order, then the
// baseline when d gives it a weight. Without one the baseline is no backend at all, so a
// route without a baseline is what it was before baselines existed.
func weighted(d canary.DesiredRoute) []Backend {
	bs := []Backend{{Weight: d.PrimaryWeight}, {Canary: true, Weight: d.CanaryWeight}}
	if d.BaselineWeight > 0 {
		bs = append(bs, Backend{Baseline: true, Weight: d.BaselineWeight})
	}
	return bs
}

// IsABTest reports whether the analysis of c is A/B testing: requests that meet analysis.match
// take the weights, every other request goes to the primary.
func IsABTest(c *siskinv1.Canary) bool {
	a := c.Spec.Analysis
	return a != nil && a.Iterations > 0 && len(a.Match) > 0
}

// MirrorWeight is the percent of requests mirrored for d: d.MirrorWeight, else
// analysis.mirrorWeight, else all.
func MirrorWeight(c *siskinv1.Canary, d canary.DesiredRoute) int32 {
	if d.MirrorWeight > 0 {
		return min(d.MirrorWeight, fullWeight)
	}
	if a := c.Spec.Analysis; a != nil && a.MirrorWeight != nil && *a.MirrorWeight > 0 {
		return min(*a.MirrorWeight, fullWeight)
	}
	return fullWeight
}

// MergeMatches returns every condition of base combined (AND) with every condition of extra: a
// request matches when it meets one of base and one of extra. An empty side matches everything.
// Where both constrain the same field or key, extra wins.
func MergeMatches(base, extra []siskinv1.HTTPMatchRequest) []siskinv1.HTTPMatchRequest {
	if len(base) == 0 {
		return extra
	}
	if len(extra) == 0 {
		return base
	}
	out := make([]siskinv1.HTTPMatchRequest, 0, len(base)*len(extra))
	for _, b := range base {
		for _, e := range extra {
			out = append(out, mergeMatch(b, e))
		}
	}
	return out
}

// mergeMatch is b AND e; where both constrain the same field or key, e wins.
func mergeMatch(b, e siskinv1.HTTPMatchRequest) siskinv1.HTTPMatchRequest {
	m := b
	if e.Name != "" {
		m.Name = e.Name
	}
	m.URI = pick(e.URI, b.URI)
	m.Scheme = pick(e.Scheme, b.Scheme)
	m.Method = pick(e.Method, b.Method)
	m.Authority = pick(e.Authority, b.Authority)
	m.Headers = union(b.Headers, e.Headers)
	m.QueryParams = union(b.QueryParams, e.QueryParams)
	m.WithoutHeaders = union(b.WithoutHeaders, e.WithoutHeaders)
	m.SourceLabels = union(b.SourceLabels, e.SourceLabels)
	if e.Port != 0 {
		m.Port = e.Port
	}
	if e.SourceNamespace != "" {
		m.SourceNamespace = e.SourceNamespace
	}
	if len(e.Gateways) > 0 {
		m.Gateways = e.Gateways
	}
	m.IgnoreURICase = b.IgnoreURICase || e.IgnoreURICase
	return m
}

func pick[T any](first, second *T) *T {
	if first != nil {
		return first
	}
	return second
}

// union is a new map with the entries of a and b; b wins on a shared key.
func union[V any](a, b map[string]V) map[string]V {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := make(map[string]V, len(a)+len(b))
	maps.Copy(out, a)
	maps.Copy(out, b)
	return out
}
