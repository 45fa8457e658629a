package metrics

import (
	"net/url"
	"strings"
)

// redacted replaces a secret in an address.
const redacted = "xxxxx"

// publicQueryKeys are the query parameters of Prometheus' HTTP API, which name no secret and
// help to read an error; every other query value may be a credential (?token=, ?api_key=).
var publicQueryKeys = map[string]bool{
	"query": true, "time": true, "timeout": true, "start": true, "end": true, "step": true,
	"match[]": true, "limit": true,
}

// RedactURL returns address fit for a message, an event or a log line: its userinfo (user and
// password alike, as a user name may be a token), its fragment and the values of its query
// parameters other than Prometheus' own become xxxxx. An address that does not parse loses
// everything between its scheme and its last @, and its whole query.
func RedactURL(address string) string {
	u, err := url.Parse(address)
	if err != nil || u.Opaque != "" {
		// "user:pw@host" parses as the scheme user with the opaque part pw@host.
		return redactLoose(address)
	}
	if u.User != nil {
		u.User = url.User(redacted)
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = redacted, ""
	}
	if u.RawQuery != "" {
		u.RawQuery = redactQuery(u.RawQuery)
	}
	return u.String()
}

// redactQuery redacts the values of rawQuery, keeping its order and the values of
// publicQueryKeys.
func redactQuery(rawQuery string) string {
	parts := strings.Split(rawQuery, "&")
	for i, p := range parts {
		key, _, hasValue := strings.Cut(p, "=")
		if k, err := url.QueryUnescape(key); err == nil && publicQueryKeys[k] {
			continue
		}
		if hasValue || p != "" {
			parts[i] = key + "=" + redacted
		}
	}
	return strings.Join(parts, "&")
}

// redactLoose redacts an address RedactURL cannot take apart: it drops everything between the
// scheme and the last @, which may be in a password with unescaped delimiters, and the whole
// query and fragment.
func redactLoose(address string) string {
	scheme, rest := "", address
	if i := strings.Index(address, "://"); i >= 0 {
		scheme, rest = address[:i+3], address[i+3:]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = redacted + rest[i:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i+1] + redacted
	}
	return scheme + rest
}
