package canary

import (
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func withSessionAffinity(c *siskinv1.Canary) {
	c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "c", PrimaryCookieName: "p"}
}

func TestSessionCookiesFollowTheWeight(t *testing.T) {
	// A round between two steps changes no weight, so the cookies are all it decides.
	between := t0.Add(10 * time.Second)
	analysed := newCanary()
	withSessionAffinity(analysed)
	progressingStatus(analysed, 10)
	current := Plan(analysed, obsFor(analysed, between)).Status

	tests := []struct {
		name                     string
		canary                   func() *siskinv1.Canary
		wantCurrent, wantPrimary string
		wantPrevious             string
	}{
		{
			name:        "a canary that takes traffic hands out the cookies of the analysed revision",
			canary:      func() *siskinv1.Canary { return analysed.DeepCopy() },
			wantCurrent: current.SessionAffinityCookie, wantPrimary: current.PrimarySessionAffinityCookie,
		},
		{
			name: "at weight 0 the cookie that was handed out becomes the one to expire",
			canary: func() *siskinv1.Canary {
				c := analysed.DeepCopy()
				restingStatus(c, siskinv1.PhaseSucceeded)
				c.Status.LastAppliedSpec, c.Status.LastPromotedSpec = revNew, revNew
				c.Status.SessionAffinityCookie, c.Status.PrimarySessionAffinityCookie = current.SessionAffinityCookie, current.PrimarySessionAffinityCookie
				c.Status.PreviousSessionAffinityCookie = "c=older"
				return c
			},
			wantPrevious: current.SessionAffinityCookie,
		},
		{
			name: "a cookie of a replaced revision becomes the one to expire",
			canary: func() *siskinv1.Canary {
				c := analysed.DeepCopy()
				c.Status.SessionAffinityCookie = "c=replaced"
				return c
			},
			wantCurrent: current.SessionAffinityCookie, wantPrimary: current.PrimarySessionAffinityCookie, wantPrevious: "c=replaced",
		},
		{
			name: "at weight 0 without a cookie handed out the previous one stays",
			canary: func() *siskinv1.Canary {
				c := analysed.DeepCopy()
				restingStatus(c, siskinv1.PhaseInitialized)
				c.Status.PreviousSessionAffinityCookie = "c=older"
				return c
			},
			wantPrevious: "c=older",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.canary()
			st := Plan(c, obsFor(c, between)).Status
			if st.SessionAffinityCookie != tt.wantCurrent || st.PrimarySessionAffinityCookie != tt.wantPrimary || st.PreviousSessionAffinityCookie != tt.wantPrevious {
				t.Fatalf("cookies current=%q primary=%q previous=%q, want %q %q %q", st.SessionAffinityCookie, st.PrimarySessionAffinityCookie,
					st.PreviousSessionAffinityCookie, tt.wantCurrent, tt.wantPrimary, tt.wantPrevious)
			}
		})
	}

	t.Run("the cookies are named, distinct, stable and new with every revision", func(t *testing.T) {
		again := Plan(analysed, obsFor(analysed, between)).Status
		other := analysed.DeepCopy()
		other.Status.LastAppliedSpec, other.Status.PreRolloutSpec = revNewer, revNewer
		newer := Plan(other, obsFor(other, between)).Status
		switch {
		case !strings.HasPrefix(current.SessionAffinityCookie, "c=") || !strings.HasPrefix(current.PrimarySessionAffinityCookie, "p="):
			t.Fatalf("cookies %q %q", current.SessionAffinityCookie, current.PrimarySessionAffinityCookie)
		case strings.TrimPrefix(current.SessionAffinityCookie, "c=") == strings.TrimPrefix(current.PrimarySessionAffinityCookie, "p="):
			t.Fatal("the canary and primary cookies share a value")
		case again.SessionAffinityCookie != current.SessionAffinityCookie:
			t.Fatal("the cookie changed between two rounds of one rollout")
		case newer.SessionAffinityCookie == current.SessionAffinityCookie:
			t.Fatal("a new revision keeps the cookie")
		}
	})
}
