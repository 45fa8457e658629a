package canary

import (
	"errors"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// skipper makes a Canary one of provider skipper behind the Ingress podinfo.
func skipper(c *siskinv1.Canary) {
	c.Spec.Provider = siskinv1.ProviderSkipper
	c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
}

func TestValidateAcceptsWhatSkipperBackendWeightsRoute(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *siskinv1.Canary)
	}{
		{"a weighted canary", func(*siskinv1.Canary) {}},
		{"blue/green", func(c *siskinv1.Canary) { c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5} }},
		{"a comparison with the primary", func(c *siskinv1.Canary) {
			comparing(c, func(cmp *siskinv1.CanaryComparison) { cmp.Control = siskinv1.ControlPrimary })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			skipper(c)
			tc.edit(c)
			if err := Validate(&c.Spec, ""); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// What Skipper's backend weights cannot carry is refused as Stalled by the provider's
// capabilities, with what to change; the controller's default provider counts as the Canary's
// own.
func TestValidateRefusesWhatSkipperBackendWeightsCannotRoute(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *siskinv1.Canary)
		want string
	}{
		{"no ingressRef", func(c *siskinv1.Canary) { c.Spec.IngressRef = nil },
			"provider skipper needs spec.ingressRef: the Ingress that routes to the apex Service"},
		{"an A/B test", func(c *siskinv1.Canary) {
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Match: []siskinv1.HTTPMatchRequest{
				{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}},
			}}
		}, "provider skipper cannot route by header or cookie (A/B testing): its Ingress matches no requests"},
		{"a mirror", func(c *siskinv1.Canary) { c.Spec.Analysis.Mirror = true }, "provider skipper cannot mirror traffic"},
		{"session affinity", func(c *siskinv1.Canary) {
			c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "flagger-cookie"}
		}, "provider skipper cannot pin sessions to the canary"},
		{"a baseline", func(c *siskinv1.Canary) {
			comparing(c, func(cmp *siskinv1.CanaryComparison) { cmp.Control = siskinv1.ControlBaseline })
		}, "provider skipper routes the primary and the canary: compare with control primary"},
	} {
		for _, byDefault := range []bool{false, true} {
			c := newCanary()
			skipper(c)
			def := ""
			if byDefault {
				c.Spec.Provider, def = "", siskinv1.ProviderSkipper
			}
			tc.edit(c)
			err := Validate(&c.Spec, def)
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s (default provider %v): Validate = %v, want %q", tc.name, byDefault, err, tc.want)
			}
		}
	}
}

// spec.ingressRef is read with provider skipper: no note says it is ignored.
func TestSkipperReadsTheIngressRef(t *testing.T) {
	c := newCanary()
	skipper(c)
	for _, n := range foreignRouterFields(&c.Spec, siskinv1.ProviderSkipper) {
		if strings.Contains(n, "spec.ingressRef") {
			t.Errorf("note %q", n)
		}
	}
	c.Spec.Provider = siskinv1.ProviderIstio
	notes := foreignRouterFields(&c.Spec, siskinv1.ProviderIstio)
	if len(notes) != 1 || !strings.Contains(notes[0], "spec.ingressRef is used only by Flagger's nginx or skipper provider") {
		t.Errorf("notes with provider istio = %q", notes)
	}
}
