package cmdline

import (
	"regexp"
	"strings"
)

var plainArg = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// Quote renders an argument so that Split reads it back as that one argument: plain words as
// they are, anything else in single quotes.
func Quote(a string) string {
	if plainArg.MatchString(a) {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// Join quotes args and joins them with spaces; Split(Join(args)) is args for arguments that
// Split can produce (valid UTF-8).
func Join(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = Quote(a)
	}
	return strings.Join(quoted, " ")
}
