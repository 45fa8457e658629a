package metrics

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
)

// MaxQueryBytes bounds a query template, its rendered output and every string a template
// function builds on the way. The built-in queries render to under 1 KiB; 64 KiB leaves room
// for any real query while a template that tries to expand (a "template bomb") stops long
// before it could hurt the controller, which renders the queries of every tenant's canaries.
const MaxQueryBytes = 64 << 10

// ErrQueryTooLarge is returned by Render when a query template's output, or a string built
// while rendering it, would exceed MaxQueryBytes.
var ErrQueryTooLarge = fmt.Errorf("query template output exceeds %d KiB", MaxQueryBytes>>10)

// ErrNotAllowed is returned by Render for a template construct that queries may not use because
// it could make rendering unbounded: define, template, block, range, break, continue and call.
var ErrNotAllowed = errors.New("not allowed in queries")

// allowedFuncs are the functions a query may call: the variables of Vars, and the built-ins
// whose result is no larger than their arguments or is bounded by boundedFuncs. The built-in
// call is left out: it would call whatever function value a template could reach.
var allowedFuncs = map[string]bool{
	"name": true, "namespace": true, "target": true, "service": true, "ingress": true, "interval": true, "workload": true, "variables": true,
	"canaryPods": true, "primaryPods": true, "underscored": true,
	"and": true, "or": true, "not": true, "eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"len": true, "index": true, "slice": true,
	"print": true, "printf": true, "println": true, "html": true, "js": true, "urlquery": true,
}

// notAllowed is the error of a refused construct.
func notAllowed(what string) error {
	return fmt.Errorf("query template uses %s, which is %w", what, ErrNotAllowed)
}

// checkTemplate refuses a parsed query that could render without bound. Without range and
// template invocations, execution visits each node of the tree at most once, so the work is
// bounded by the query's length and by what each function may build (see boundedFuncs).
func checkTemplate(t *template.Template) error {
	if len(t.Templates()) > 1 {
		return notAllowed("define or block")
	}
	var walk func(n parse.Node) error
	walkAll := func(ns ...parse.Node) error {
		for _, n := range ns {
			if err := walk(n); err != nil {
				return err
			}
		}
		return nil
	}
	walk = func(n parse.Node) error {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return nil
			}
			return walkAll(n.Nodes...)
		case *parse.PipeNode:
			if n == nil {
				return nil
			}
			for _, c := range n.Cmds {
				if err := walk(c); err != nil {
					return err
				}
			}
			return nil
		case *parse.ActionNode:
			return walk(n.Pipe)
		case *parse.CommandNode:
			return walkAll(n.Args...)
		case *parse.ChainNode:
			return walk(n.Node)
		case *parse.IdentifierNode:
			if !allowedFuncs[n.Ident] {
				return notAllowed(n.Ident)
			}
			return nil
		case *parse.IfNode:
			return walkAll(n.Pipe, n.List, n.ElseList)
		case *parse.WithNode:
			return walkAll(n.Pipe, n.List, n.ElseList)
		case *parse.TextNode, *parse.CommentNode, *parse.FieldNode, *parse.VariableNode, *parse.DotNode,
			*parse.NilNode, *parse.BoolNode, *parse.NumberNode, *parse.StringNode:
			return nil
		case *parse.RangeNode:
			return notAllowed("range")
		case *parse.TemplateNode:
			return notAllowed("template")
		case *parse.BreakNode:
			return notAllowed("break")
		case *parse.ContinueNode:
			return notAllowed("continue")
		}
		return notAllowed(fmt.Sprintf("a %T", n))
	}
	return walk(t.Root)
}

// boundedWriter keeps what a template writes up to limit bytes, and stops the execution past
// the limit or once ctx is done.
type boundedWriter struct {
	ctx   context.Context
	limit int
	b     strings.Builder
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if w.ctx.Err() != nil {
		return 0, context.Cause(w.ctx)
	}
	if w.b.Len()+len(p) > w.limit {
		return 0, ErrQueryTooLarge
	}
	return w.b.Write(p)
}

// boundedFuncs replaces the built-ins that build strings (print, printf, println, html, js,
// urlquery) with versions that refuse to build more than MaxQueryBytes, take only strings,
// numbers and booleans, and stop once ctx is done. Without them, {{ with }} and variables
// could double a string at every step of a short query.
func boundedFuncs(ctx context.Context) template.FuncMap {
	// guard checks ctx and that args are scalars that together stay within extra plus
	// MaxQueryBytes after growing by factor.
	guard := func(fn string, factor, extra int, args []any) error {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		total := extra
		for _, a := range args {
			n, err := scalarSize(fn, a)
			if err != nil {
				return err
			}
			total += factor * (n + 1)
		}
		if total > MaxQueryBytes {
			return ErrQueryTooLarge
		}
		return nil
	}
	capped := func(s string) (string, error) {
		if len(s) > MaxQueryBytes {
			return "", ErrQueryTooLarge
		}
		return s, nil
	}
	escaper := func(name string, esc func(...any) string) func(...any) (string, error) {
		return func(args ...any) (string, error) {
			// The escapers write each byte as at most six.
			if err := guard(name, 6, 0, args); err != nil {
				return "", err
			}
			return capped(esc(args...))
		}
	}
	return template.FuncMap{
		"print": func(args ...any) (string, error) {
			if err := guard("print", 1, 0, args); err != nil {
				return "", err
			}
			return capped(fmt.Sprint(args...))
		},
		"println": func(args ...any) (string, error) {
			if err := guard("println", 1, 1, args); err != nil {
				return "", err
			}
			return capped(fmt.Sprintln(args...))
		},
		"printf": func(format string, args ...any) (string, error) {
			// printfBound counts the arguments; guard only checks their types.
			if err := guard("printf", 0, printfBound(format, args), args); err != nil {
				return "", err
			}
			return capped(fmt.Sprintf(format, args...))
		},
		"html":     escaper("html", template.HTMLEscaper),
		"js":       escaper("js", template.JSEscaper),
		"urlquery": escaper("urlquery", template.URLQueryEscaper),
	}
}

// scalarSize returns an upper bound of the formatted length of a, which must be a string, a
// number, a boolean or nil: the string functions refuse maps, whose elements fmt would pad one
// by one.
func scalarSize(fn string, a any) (int, error) {
	if a == nil {
		return len("<nil>"), nil
	}
	v := reflect.ValueOf(a)
	switch v.Kind() {
	case reflect.String:
		return v.Len(), nil
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return 64, nil
	}
	return 0, fmt.Errorf("%s takes strings, numbers and booleans in queries, not %s", fn, v.Type())
}

// printfBound returns an upper bound of the length of fmt.Sprintf(format, args...) before
// padding is applied, so that printf refuses "%1000000d%1000000d..." before fmt allocates it.
// Each verb writes at most its width and precision (fmt ignores either above 10^6, and * takes
// one from an argument) plus six bytes per byte of its argument (% #x) plus the digits of a
// float; complex numbers print two. Arguments no verb uses are appended as %!(EXTRA type=value).
func printfBound(format string, args []any) int {
	total, maxArg := len(format), 0
	for _, a := range args {
		n, err := scalarSize("printf", a)
		if err != nil {
			continue // guard refuses it
		}
		maxArg = max(maxArg, n)
		total += n + 32
	}
	const perVerb = 2 * (350 + 64) // the digits, sign and exponent of two float64s, and the %!verb(type=) wrapping
	const fmtMax = 1_000_000
	number := 0
	for i := 0; i < len(format); i++ {
		switch c := format[i]; {
		case c >= '0' && c <= '9':
			number = min(number*10+int(c-'0'), fmtMax)
			continue
		case c == '%':
			total += perVerb + 6*maxArg
		case c == '*':
			total += 2 * fmtMax
		}
		total += 2 * number
		number = 0
		if total > MaxQueryBytes {
			return total // enough to refuse
		}
	}
	return total + 2*number
}
