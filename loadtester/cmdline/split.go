package cmdline

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSyntax is wrapped by errors about malformed command lines.
var ErrSyntax = errors.New("command line syntax")

// Split breaks s into arguments the way a POSIX shell would for a simple command, without
// expanding anything: blanks separate arguments, single quotes keep everything literally,
// double quotes keep everything but \" \\ \$ and \` escapes, and a backslash outside quotes
// escapes the next character. Pipes, redirections and variables are not interpreted; they
// end up as literal arguments.
func Split(s string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inArg   bool
		quote   rune // 0, '\'' or '"'
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
			if r == '\n' {
				continue // line continuation
			}
			if quote == '"' && !strings.ContainsRune("\"\\$`", r) {
				cur.WriteRune('\\')
			}
			cur.WriteRune(r)
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inArg = true, true
		case r == '\'' || r == '"':
			quote, inArg = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	switch {
	case escaped:
		return nil, fmt.Errorf("%w: trailing backslash", ErrSyntax)
	case quote != 0:
		return nil, fmt.Errorf("%w: unterminated %c quote", ErrSyntax, quote)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}
