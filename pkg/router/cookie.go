package router

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// SetCookieHeader is the response header that stores and expires session-affinity cookies.
const SetCookieHeader = "Set-Cookie"

// defaultCookieMaxAge is the lifetime of a session-affinity cookie when the spec sets none.
const defaultCookieMaxAge = 86400

// SessionCookies returns the session-affinity cookies ("name=value") of the current rollout of
// c: the one that pins a client to the canary and, with primaryCookieName, the one that pins it
// to the primary; "" when c has no such cookie. The values are derived from the revision being
// rolled out (status.lastAppliedSpec), so they are stable for a rollout, survive restarts and
// change with every new revision. The controller records them in status.sessionAffinityCookie
// and status.primarySessionAffinityCookie, and moves the canary cookie of a replaced rollout to
// status.previousSessionAffinityCookie, which the routers then expire on clients.
func SessionCookies(c *siskinv1.Canary) (canaryCookie, primaryCookie string) {
	sa := SessionAffinity(c)
	if sa == nil {
		return "", ""
	}
	canaryCookie = sa.CookieName + "=" + cookieValue(c, "canary")
	if sa.PrimaryCookieName != "" {
		primaryCookie = sa.PrimaryCookieName + "=" + cookieValue(c, "primary")
	}
	return canaryCookie, primaryCookie
}

// SessionAffinity returns the session-affinity settings of c, or nil when c pins no clients
// (no analysis.sessionAffinity, or one without a cookie name).
func SessionAffinity(c *siskinv1.Canary) *siskinv1.SessionAffinity {
	if c.Spec.Analysis == nil || c.Spec.Analysis.SessionAffinity == nil || c.Spec.Analysis.SessionAffinity.CookieName == "" {
		return nil
	}
	return c.Spec.Analysis.SessionAffinity
}

// cookieValue is a short digest of the Canary's identity, the role and the revision.
func cookieValue(c *siskinv1.Canary, role string) string {
	sum := sha256.Sum256([]byte(role + "\x00" + c.Namespace + "/" + c.Name + "\x00" + c.Status.LastAppliedSpec))
	return hex.EncodeToString(sum[:10])
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

// ExpireCookie returns the Set-Cookie header value that deletes cookie from the client. It
// carries the attributes of sa, since a browser only replaces a cookie of the same domain and
// path.
func ExpireCookie(sa *siskinv1.SessionAffinity, cookie string) string {
	return cookie + "; Max-Age=0" + cookieAttributes(sa)
}

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
