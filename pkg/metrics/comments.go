package metrics

import "strings"

// LineComment returns the first of markers (a line comment's opening, such as "//") found in
// query outside a string literal opened by one of quotes, a backslash escaping the character
// after it. Render collapses a query's lines into one, so a line comment would swallow the rest
// of the query: a backend whose language has line comments refuses a query that has one.
func LineComment(query, quotes string, markers ...string) (string, bool) {
	var open byte // the quote of the literal being read, 0 outside one
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case open != 0 && c == '\\':
			i++ // the escaped character
		case open != 0 && c == open:
			open = 0
		case open != 0:
		case strings.IndexByte(quotes, c) >= 0:
			open = c
		default:
			for _, m := range markers {
				if strings.HasPrefix(query[i:], m) {
					return m, true
				}
			}
		}
	}
	return "", false
}
