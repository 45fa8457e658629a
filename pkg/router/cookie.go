package router

import (
	"fmt"
	"regexp"
	"strings"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// SetCookieHeader is the response header that stores and expires session-affinity cookies.
const SetCookieHeader = "Set-Cookie"

// defaultCookieMaxAge is the lifetime of a session-affinity cookie when the spec sets none.
const defaultCookieMaxAge = 86400

// SessionCookies returns the session-affinity cookies ("name=value") that the route hands out
// and pins during the current rollout of c: the one that pins a client to the canary and, with
// primaryCookieName, the one that pins it to the primary; "" when there is none. The planner
// records them in status while the canary takes traffic, derived from the revision under
// analysis, and moves a canary cookie that clients may hold to
// status.previousSessionAffinityCookie once it is no longer current, so routers read them from
// status and never derive a cookie of their own.
func SessionCookies(c *siskinv1.Canary) (canaryCookie, primaryCookie string) {
	if SessionAffinity(c) == nil {
		return "", ""
	}
	return c.Status.SessionAffinityCookie, c.Status.PrimarySessionAffinityCookie
}

// SessionAffinity returns the session-affinity settings of c, or nil when c pins no clients
// (no analysis.sessionAffinity, or one without a cookie name).
func SessionAffinity(c *siskinv1.Canary) *siskinv1.SessionAffinity {
	if c.Spec.Analysis == nil || c.Spec.Analysis.SessionAffinity == nil || c.Spec.Analysis.SessionAffinity.CookieName == "" {
		return nil
	}
	return c.Spec.Analysis.SessionAffinity
}

// PreviousCookie returns the cookie ("name=value") of the replaced rollout to expire on
// clients, or "" when there is none or it is current, the canary cookie of this rollout.
// A bare value in status.previousSessionAffinityCookie gets the current cookie name.
func PreviousCookie(c *siskinv1.Canary, current string) string {
	sa := SessionAffinity(c)
	prev := c.Status.PreviousSessionAffinityCookie
	if sa == nil || prev == "" {
		return ""
	}
	if !strings.Contains(prev, "=") {
		prev = sa.CookieName + "=" + prev
	}
	if prev == current {
		return ""
	}
	return prev
}

// SetCookie returns the Set-Cookie header value that stores cookie for sa.maxAge seconds (a
// day when unset), with the attributes of sa.
func SetCookie(sa *siskinv1.SessionAffinity, cookie string) string {
	maxAge := sa.MaxAge
	if maxAge <= 0 {
		maxAge = defaultCookieMaxAge
	}
	return cookie + fmt.Sprintf("; Max-Age=%d", maxAge) + cookieAttributes(sa)
}

// ExpireCookie returns the Set-Cookie header value that deletes cookie from the client: an
// Expires date in the past, the way RFC 6265 (sections 3.1 and 4.1.2) tells a server to remove
// a cookie. Its server grammar (4.1.1) allows only a Max-Age that starts with a non-zero digit,
// so neither Max-Age=0 nor the Flagger model's Max-Age=-1 is a value a server may send, even
// though user agents treat both as "delete" (5.2.2). The header carries the attributes of sa,
// since a browser only replaces a cookie of the same domain and path.
func ExpireCookie(sa *siskinv1.SessionAffinity, cookie string) string {
	return cookie + "; " + expiredAttribute + cookieAttributes(sa)
}

// expiredAttribute is an Expires attribute in the past, in the sane-cookie-date form of RFC
// 6265 (the IMF-fixdate of RFC 7231).
const expiredAttribute = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"

func cookieAttributes(sa *siskinv1.SessionAffinity) string {
	var b strings.Builder
	if sa.Domain != "" {
		b.WriteString("; Domain=" + sa.Domain)
	}
	if sa.Path != "" {
		b.WriteString("; Path=" + sa.Path)
	}
	if sa.HTTPOnly {
		b.WriteString("; HttpOnly")
	}
	if sa.Secure {
		b.WriteString("; Secure")
	}
	if sa.SameSite != "" {
		b.WriteString("; SameSite=" + sa.SameSite)
	}
	if sa.Partitioned {
		b.WriteString("; Partitioned")
	}
	return b.String()
}

// CookieMatch returns the match of requests whose Cookie header carries cookie ("name=value")
// among any others.
func CookieMatch(cookie string) siskinv1.HTTPMatchRequest {
	re := `^(.*?;\s*)?(` + regexp.QuoteMeta(cookie) + `)(;.*)?$`
	return siskinv1.HTTPMatchRequest{Headers: map[string]siskinv1.StringMatch{"cookie": {Regex: re}}}
}
