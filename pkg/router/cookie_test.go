package router_test

import (
	"regexp"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router"
)

// newCanary is a canary of podinfo rolling out revision 5d8f7c9b.
func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test", UID: types.UID("canary-uid")},
		Spec: siskinv1.CanarySpec{
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   siskinv1.CanaryService{Port: 9898},
			Analysis:  &siskinv1.CanaryAnalysis{Interval: "1m", StepWeight: 10},
		},
		Status: siskinv1.CanaryStatus{LastAppliedSpec: "5d8f7c9b"},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func withAffinity(c *siskinv1.Canary) {
	c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "c", PrimaryCookieName: "p"}
}

func TestSessionCookiesAreTheOnesThePlannerRecorded(t *testing.T) {
	recorded := func(c *siskinv1.Canary) {
		c.Status.SessionAffinityCookie, c.Status.PrimarySessionAffinityCookie = "c=1a2b", "p=3c4d"
	}
	if c, p := router.SessionCookies(newCanary(withAffinity, recorded)); c != "c=1a2b" || p != "p=3c4d" {
		t.Fatalf("cookies %q %q, want the recorded c=1a2b p=3c4d", c, p)
	}
	if c, p := router.SessionCookies(newCanary(withAffinity)); c != "" || p != "" {
		t.Fatalf("cookies %q %q with none recorded (weight 0), want none", c, p)
	}
	if c, p := router.SessionCookies(newCanary(recorded)); c != "" || p != "" {
		t.Fatalf("cookies without sessionAffinity: %q %q", c, p)
	}
	noName := newCanary(recorded, func(c *siskinv1.Canary) { c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{} })
	if c, p := router.SessionCookies(noName); c != "" || p != "" {
		t.Fatalf("cookies without a cookie name: %q %q", c, p)
	}
}

func TestPreviousCookie(t *testing.T) {
	tests := []struct {
		name     string
		affinity bool
		previous string
		want     string
	}{
		{name: "nothing recorded expires nothing", affinity: true},
		{name: "a recorded cookie of another rollout is expired", affinity: true, previous: "c=0b1d", want: "c=0b1d"},
		{name: "a bare recorded value gets the cookie name", affinity: true, previous: "0b1d", want: "c=0b1d"},
		{name: "the current cookie is not expired", affinity: true, previous: "c=current"},
		{name: "without session affinity nothing is expired", previous: "c=0b1d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCanary(func(c *siskinv1.Canary) { c.Status.PreviousSessionAffinityCookie = tt.previous })
			if tt.affinity {
				withAffinity(c)
			}
			if got := router.PreviousCookie(c, "c=current"); got != tt.want {
				t.Fatalf("PreviousCookie = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSetAndExpireCookie(t *testing.T) {
	tests := []struct {
		name        string
		sa          siskinv1.SessionAffinity
		set, expire string
	}{
		{
			name:   "a cookie without attributes lives a day",
			sa:     siskinv1.SessionAffinity{CookieName: "c"},
			set:    "c=v; Max-Age=86400",
			expire: "c=v; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
		},
		{
			name: "every attribute is kept when the cookie expires",
			sa: siskinv1.SessionAffinity{
				CookieName: "c", MaxAge: 60, Domain: "example.com", Path: "/", HTTPOnly: true, Secure: true, SameSite: "Lax", Partitioned: true,
			},
			set:    "c=v; Max-Age=60; Domain=example.com; Path=/; HttpOnly; Secure; SameSite=Lax; Partitioned",
			expire: "c=v; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=example.com; Path=/; HttpOnly; Secure; SameSite=Lax; Partitioned",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := router.SetCookie(&tt.sa, "c=v"); got != tt.set {
				t.Errorf("SetCookie = %q, want %q", got, tt.set)
			}
			if got := router.ExpireCookie(&tt.sa, "c=v"); got != tt.expire {
				t.Errorf("ExpireCookie = %q, want %q", got, tt.expire)
			}
		})
	}
}

func TestCookieMatch(t *testing.T) {
	m := router.CookieMatch("c=a.b")
	re := regexp.MustCompile(m.Headers["cookie"].Regex)
	for header, want := range map[string]bool{
		"c=a.b":             true,
		"x=1; c=a.b":        true,
		"x=1;c=a.b; y=2":    true,
		"c=a.b; y=2":        true,
		"c=aXb":             false, // the value is quoted, not a pattern
		"c=a.bc":            false,
		"xc=a.b":            false,
		"x=1; c=other; y=2": false,
	} {
		if got := re.MatchString(header); got != want {
			t.Errorf("cookie %q matched = %v, want %v", header, got, want)
		}
	}
}
