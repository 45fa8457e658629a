package canary

import (
	"slices"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestAdjustments(t *testing.T) {
	cases := []struct {
		name            string
		spec            func(*siskinv1.Canary)
		defaultProvider string
		want            []string
	}{
		{name: "a spec read as written has none"},
		{
			name: "a short interval is raised to the minimum",
			spec: func(c *siskinv1.Canary) { c.Spec.Analysis.Interval = "5s" },
			want: []string{"analysis.interval 5s is below 10s"},
		},
		{
			name:            "the controller's default provider kubernetes makes the weights blue/green",
			spec:            func(c *siskinv1.Canary) { c.Spec.Provider = "" },
			defaultProvider: siskinv1.ProviderKubernetes,
			want:            []string{"provider kubernetes cannot split traffic"},
		},
		{
			name: "no analysis promotes without one",
			spec: func(c *siskinv1.Canary) { c.Spec.Analysis = nil },
			want: []string{"spec.analysis is absent"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			if tc.spec != nil {
				tc.spec(c)
			}
			before := c.DeepCopy()
			got := Adjustments(&c.Spec, tc.defaultProvider)
			if len(got) != len(tc.want) {
				t.Fatalf("notes %q, want %d containing %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("note %d %q, want it to contain %q", i, got[i], w)
				}
			}
			if !slices.Equal(got, Adjustments(&c.Spec, tc.defaultProvider)) || c.Spec.Analysis != nil && before.Spec.Analysis.Interval != c.Spec.Analysis.Interval {
				t.Error("Adjustments is not pure")
			}
		})
	}
}
