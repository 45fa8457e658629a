package canary

import (
	"crypto/sha256"
	"encoding/hex"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// sessionCookies decides the session-affinity cookies of the next status, once its weight is
// decided. While the route sends the canary traffic (canaryWeight > 0), the routers hand out
// status.sessionAffinityCookie in Set-Cookie on canary responses and pin the requests that
// carry it, so it holds the cookie of the revision under analysis (and the primary cookie, with
// primaryCookieName). A cookie that was handed out and is no longer current, because the
// weight went back to 0 (promotion, rollback) or another revision replaced the analysed one,
// moves to status.previousSessionAffinityCookie, which the routers expire on the clients that
// hold it. At weight 0 no cookie is current, as in the Flagger model.
func (p *planner) sessionCookies() {
	a := p.c.Spec.Analysis
	if a == nil || a.SessionAffinity == nil || a.SessionAffinity.CookieName == "" {
		return
	}
	sa, st := a.SessionAffinity, &p.st
	var current, primary string
	if st.CanaryWeight > 0 {
		current = sa.CookieName + "=" + cookieValue(p.c, st.LastAppliedSpec, "canary")
		if sa.PrimaryCookieName != "" {
			primary = sa.PrimaryCookieName + "=" + cookieValue(p.c, st.LastAppliedSpec, "primary")
		}
	}
	if handedOut := st.SessionAffinityCookie; handedOut != "" && handedOut != current {
		st.PreviousSessionAffinityCookie = handedOut
	}
	st.SessionAffinityCookie, st.PrimarySessionAffinityCookie = current, primary
}

// cookieValue is a short digest of the Canary's identity, the role and the revision: stable for
// a rollout, so that a restart hands out the same cookie, and new with every revision.
func cookieValue(c *siskinv1.Canary, revision, role string) string {
	sum := sha256.Sum256([]byte(role + "\x00" + c.Namespace + "/" + c.Name + "\x00" + revision))
	return hex.EncodeToString(sum[:10])
}
