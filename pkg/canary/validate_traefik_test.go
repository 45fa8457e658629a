package canary

import (
	"errors"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func traefik(c *siskinv1.Canary) { c.Spec.Provider = siskinv1.ProviderTraefik }

func TestValidateAcceptsWhatATraefikServiceRoutes(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *siskinv1.Canary)
	}{
		{"a weighted canary", func(*siskinv1.Canary) {}},
		{"a weighted canary with a mirror step", func(c *siskinv1.Canary) { c.Spec.Analysis.Mirror = true }},
		{"blue/green with mirroring", func(c *siskinv1.Canary) {
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Mirror: true}
		}},
		{"a comparison with the primary", func(c *siskinv1.Canary) {
			comparing(c, func(cmp *siskinv1.CanaryComparison) { cmp.Control = siskinv1.ControlPrimary })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			traefik(c)
			tc.edit(c)
			if err := Validate(&c.Spec, ""); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// What a TraefikService cannot carry is refused as Stalled, with what to change; the controller's
// default provider counts as the Canary's own.
func TestValidateRefusesWhatATraefikServiceCannotRoute(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *siskinv1.Canary)
		want string
	}{
		{"an A/B test", func(c *siskinv1.Canary) {
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Match: []siskinv1.HTTPMatchRequest{
				{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}},
			}}
		}, "provider traefik cannot route by header or cookie (A/B testing): its TraefikService matches no requests"},
		{"session affinity", func(c *siskinv1.Canary) {
			c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "flagger-cookie"}
		}, "provider traefik cannot pin sessions to the canary"},
		{"a baseline", func(c *siskinv1.Canary) {
			comparing(c, func(cmp *siskinv1.CanaryComparison) { cmp.Control = siskinv1.ControlBaseline })
		}, "provider traefik routes the primary and the canary: compare with control primary"},
	} {
		for _, byDefault := range []bool{false, true} {
			c := newCanary()
			def := ""
			if byDefault {
				c.Spec.Provider, def = "", siskinv1.ProviderTraefik
			} else {
				traefik(c)
			}
			tc.edit(c)
			err := Validate(&c.Spec, def)
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s (default provider %v): Validate = %v, want %q", tc.name, byDefault, err, tc.want)
			}
		}
	}
}
