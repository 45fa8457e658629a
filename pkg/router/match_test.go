package router_test

import (
	"reflect"
	"testing"

	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
)

func TestMergeMatches(t *testing.T) {
	api := siskinv1.HTTPMatchRequest{URI: &siskinv1.StringMatch{Prefix: "/api"}, Headers: map[string]siskinv1.StringMatch{"x-a": {Exact: "1"}}}
	health := siskinv1.HTTPMatchRequest{URI: &siskinv1.StringMatch{Exact: "/healthz"}}
	insider := siskinv1.HTTPMatchRequest{Name: "insider", Headers: map[string]siskinv1.StringMatch{"x-a": {Exact: "2"}, "x-b": {Exact: "3"}}}
	v2 := siskinv1.HTTPMatchRequest{URI: &siskinv1.StringMatch{Prefix: "/v2"}, Port: 8080, IgnoreURICase: true}
	tests := []struct {
		name        string
		base, extra []siskinv1.HTTPMatchRequest
		want        []siskinv1.HTTPMatchRequest
	}{
		{name: "an empty base takes the extra conditions", extra: []siskinv1.HTTPMatchRequest{insider}, want: []siskinv1.HTTPMatchRequest{insider}},
		{name: "empty extra conditions keep the base", base: []siskinv1.HTTPMatchRequest{api}, want: []siskinv1.HTTPMatchRequest{api}},
		{
			name:  "every base condition is combined with every extra one, the extra winning a shared key",
			base:  []siskinv1.HTTPMatchRequest{api, health},
			extra: []siskinv1.HTTPMatchRequest{insider, v2},
			want: []siskinv1.HTTPMatchRequest{
				{Name: "insider", URI: api.URI, Headers: map[string]siskinv1.StringMatch{"x-a": {Exact: "2"}, "x-b": {Exact: "3"}}},
				{URI: v2.URI, Headers: api.Headers, Port: 8080, IgnoreURICase: true},
				{Name: "insider", URI: health.URI, Headers: insider.Headers},
				{URI: v2.URI, Port: 8080, IgnoreURICase: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := router.MergeMatches(tt.base, tt.extra); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("MergeMatches =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
	if api.Headers["x-a"].Exact != "1" || len(api.Headers) != 1 {
		t.Fatalf("MergeMatches changed its input: %+v", api.Headers)
	}
}

// shape is a rule's name and backends, without its matches.
type shape struct {
	name     string
	backends []router.Backend
	mirror   int32
}

func TestHTTPRules(t *testing.T) {
	svcMatch := []siskinv1.HTTPMatchRequest{{URI: &siskinv1.StringMatch{Prefix: "/api"}}}
	affinity := func(c *siskinv1.Canary) {
		c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "c", PrimaryCookieName: "p", MaxAge: 60}
		c.Status.PreviousSessionAffinityCookie = "c=old"
		c.Status.SessionAffinityCookie, c.Status.PrimarySessionAffinityCookie = "c=now", "p=now"
	}
	pinned := newCanary(affinity)
	canaryCookie, primaryCookie := router.SessionCookies(pinned)
	sa := pinned.Spec.Analysis.SessionAffinity
	expired := router.Backend{Weight: 100, SetCookie: router.ExpireCookie(sa, "c=old")}
	tests := []struct {
		name   string
		canary func(*siskinv1.Canary)
		route  canary.DesiredRoute
		want   []shape
	}{
		{
			name:  "a weighted route has only the default rule",
			route: canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10},
			want:  []shape{{name: router.RuleDefault, backends: []router.Backend{{Weight: 90}, {Canary: true, Weight: 10}}}},
		},
		{
			name:  "a baseline with a weight is a third backend of the default rule",
			route: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 10, BaselineWeight: 10},
			want: []shape{{name: router.RuleDefault, backends: []router.Backend{
				{Weight: 80}, {Canary: true, Weight: 10}, {Baseline: true, Weight: 10},
			}}},
		},
		{
			name:   "session affinity pins the primary's and the canary's clients, not the baseline's, and its cookie rules have no baseline",
			canary: affinity,
			route:  canary.DesiredRoute{PrimaryWeight: 60, CanaryWeight: 20, BaselineWeight: 20},
			want: []shape{
				{name: router.RuleCanaryCookie, backends: []router.Backend{{Weight: 0}, {Canary: true, Weight: 100}}},
				{name: router.RulePrimaryCookie, backends: []router.Backend{{Weight: 100}, {Canary: true, Weight: 0}}},
				{name: router.RuleExpiredCookie, backends: []router.Backend{expired}},
				{name: router.RuleDefault, backends: []router.Backend{
					{Weight: 60, SetCookie: router.SetCookie(sa, primaryCookie)},
					{Canary: true, Weight: 20, SetCookie: router.SetCookie(sa, canaryCookie)},
					{Baseline: true, Weight: 20},
				}},
			},
		},
		{
			name:   "session affinity pins both cookies and expires the previous one while the canary has traffic",
			canary: affinity,
			route:  canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 20},
			want: []shape{
				{name: router.RuleCanaryCookie, backends: []router.Backend{{Weight: 0}, {Canary: true, Weight: 100}}},
				{name: router.RulePrimaryCookie, backends: []router.Backend{{Weight: 100}, {Canary: true, Weight: 0}}},
				{name: router.RuleExpiredCookie, backends: []router.Backend{expired}},
				{name: router.RuleDefault, backends: []router.Backend{
					{Weight: 80, SetCookie: router.SetCookie(sa, primaryCookie)},
					{Canary: true, Weight: 20, SetCookie: router.SetCookie(sa, canaryCookie)},
				}},
			},
		},
		{
			name: "session affinity pins nothing while the planner has recorded no cookie",
			canary: func(c *siskinv1.Canary) {
				affinity(c)
				c.Status.SessionAffinityCookie, c.Status.PrimarySessionAffinityCookie = "", ""
			},
			route: canary.DesiredRoute{PrimaryWeight: 80, CanaryWeight: 20},
			want: []shape{
				{name: router.RuleExpiredCookie, backends: []router.Backend{expired}},
				{name: router.RuleDefault, backends: []router.Backend{{Weight: 80}, {Canary: true, Weight: 20}}},
			},
		},
		{
			name:   "session affinity only expires the previous cookie when the canary has no traffic",
			canary: affinity,
			route:  canary.DesiredRoute{PrimaryWeight: 100},
			want: []shape{
				{name: router.RuleExpiredCookie, backends: []router.Backend{expired}},
				{name: router.RuleDefault, backends: []router.Backend{{Weight: 100}, {Canary: true}}},
			},
		},
		{
			name: "A/B testing weighs the matching requests and sends the others to the primary",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Iterations: 3, Match: []siskinv1.HTTPMatchRequest{{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "1"}}}}}
			},
			route: canary.DesiredRoute{CanaryWeight: 100},
			want: []shape{
				{name: router.RuleABTest, backends: []router.Backend{{Weight: 0}, {Canary: true, Weight: 100}}},
				{name: router.RuleDefault, backends: []router.Backend{{Weight: 100}}},
			},
		},
		{
			name: "a mirror copies analysis.mirrorWeight percent of the default rule",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Analysis = &siskinv1.CanaryAnalysis{Iterations: 3, Mirror: true, MirrorWeight: ptr.To[int32](25)}
			},
			route: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true},
			want:  []shape{{name: router.RuleDefault, backends: []router.Backend{{Weight: 100}, {Canary: true}}, mirror: 25}},
		},
		{
			name:  "a mirror without a weight copies every request",
			route: canary.DesiredRoute{PrimaryWeight: 100, Mirror: true},
			want:  []shape{{name: router.RuleDefault, backends: []router.Backend{{Weight: 100}, {Canary: true}}, mirror: 100}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCanary(func(c *siskinv1.Canary) { c.Spec.Service.Match = svcMatch })
			if tt.canary != nil {
				tt.canary(c)
			}
			rules := router.HTTPRules(c, tt.route)
			var got []shape
			for _, r := range rules {
				got = append(got, shape{name: r.Name, backends: r.Backends, mirror: r.MirrorPercent})
				if len(r.Match) == 0 || r.Match[0].URI == nil || r.Match[0].URI.Prefix != "/api" {
					t.Errorf("rule %s lost spec.service.match: %+v", r.Name, r.Match)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("HTTPRules =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
