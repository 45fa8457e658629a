package webhooks

import (
	"cmp"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces secret values in the reply excerpts kept in results and messages.
const Redacted = "<redacted>"

// minFieldLen is the length from which one word of a multi-word secret value (the token of
// "Bearer <token>") is scrubbed on its own: shorter words are too common to be secret.
const minFieldLen = 8

var (
	// authValue matches an echoed Authorization field and its value, with or without scheme.
	authValue = regexp.MustCompile(`(?i)(\b(?:proxy-)?authorization"?\s*[:=]\s*"?)((?:bearer|basic|digest|token|negotiate)\s+)?[^\s",;}\]]+`)
	// schemeToken matches a credential after an HTTP authentication scheme.
	schemeToken = regexp.MustCompile(`(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9\-._~+/]+=*`)
	// jwt matches a JSON Web Token wherever it is.
	jwt = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
)

// scrubber removes from reply text the values a call sent from a Secret and anything that looks
// like a credential. A receiver may echo its request (many debugging endpoints do), and the
// excerpt of its answer goes to status, events and chat, where people who may not read the
// Secret can.
type scrubber struct {
	values []string // longest first, so that a value containing another is replaced whole
}

// newScrubber returns a scrubber of the given secret values, in the forms a reply is likely to
// echo them: as sent, JSON-escaped, URL-escaped and with whitespace runs collapsed.
func newScrubber(secrets []string) scrubber {
	var vals []string
	add := func(v string) {
		if v != "" && !slices.Contains(vals, v) {
			vals = append(vals, v)
		}
	}
	for _, s := range secrets {
		add(s)
		if b, err := json.Marshal(s); err == nil {
			add(string(b[1 : len(b)-1]))
		}
		add(url.QueryEscape(s))
		add(url.PathEscape(s))
		fields := strings.Fields(s)
		add(strings.Join(fields, " "))
		if len(fields) > 1 {
			for _, f := range fields {
				if len(f) >= minFieldLen {
					add(f)
				}
			}
		}
	}
	slices.SortStableFunc(vals, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return scrubber{values: vals}
}

// scrub returns text with every secret value and credential-looking token replaced by Redacted.
func (s scrubber) scrub(text string) string {
	for _, v := range s.values {
		text = strings.ReplaceAll(text, v, Redacted)
	}
	text = authValue.ReplaceAllString(text, "${1}${2}"+Redacted)
	text = schemeToken.ReplaceAllString(text, "${1}"+Redacted)
	return jwt.ReplaceAllString(text, Redacted)
}
