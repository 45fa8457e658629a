package metrics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// ErrMissingVariable is returned by Render when the query uses {{ variables.NAME }} and the
// metric has no templateVariable NAME.
var ErrMissingVariable = errors.New("query uses template variables that are not set")

// ErrNoWorkload is returned by Render when a query that is not a compared metric's uses
// {{ workload }}: only a comparison counts one version's workload.
var ErrNoWorkload = errors.New("{{ workload }} is only set in the queries of compared metrics")

// ErrNoPods is returned by Render when a query uses {{ canaryPods }} or {{ primaryPods }} and
// the target's kind does not know its pods' names (a DaemonSet).
var ErrNoPods = errors.New("{{ canaryPods }} and {{ primaryPods }} are set for Deployment and StatefulSet targets only")

// DefaultInterval is the query window of a metric that names none.
const DefaultInterval = time.Minute

// Vars are the values a query template can use.
type Vars struct {
	// Name is the canary's name: {{ name }}.
	Name string
	// Namespace is the canary's namespace: {{ namespace }}.
	Namespace string
	// Target is spec.targetRef.name: {{ target }}.
	Target string
	// Service is spec.service.name, or the target's name: {{ service }}.
	Service string
	// Ingress is spec.ingressRef.name, or the target's name: {{ ingress }}, as in the Flagger
	// model, where templates written for its nginx provider use it.
	Ingress string
	// Interval is the metric's window as a PromQL duration: {{ interval }}.
	Interval string
	// Workload is the Deployment of the version a compared metric's query counts:
	// {{ workload }}. Only comparisons set it; elsewhere {{ workload }} is an error.
	Workload string
	// Variables are the metric's templateVariables: {{ variables.NAME }}.
	Variables map[string]string
	// CanaryPods and PrimaryPods are anchored regular expressions of the names of the
	// canary's and of the primary's pods now: {{ canaryPods }}, {{ primaryPods }} (for
	// PromQL's pod=~"..."). Empty, using them is ErrNoPods.
	CanaryPods, PrimaryPods string
}

func podsFunc(pods string) func() (string, error) {
	return func() (string, error) {
		if pods == "" {
			return "", ErrNoPods
		}
		return pods, nil
	}
}

// Render executes query as a Go text/template over vars and collapses its whitespace to single
// spaces. Templates use functions, as users of the Flagger model write them: {{ namespace }},
// {{ variables.NAME }}; a missing variable is an error that names it.
//
// A query is written by any Canary or MetricTemplate author and rendered inside the controller,
// so rendering is bounded (see checkTemplate and boundedFuncs): no define, template, block,
// range, break, continue or call; every string a function builds and the output stay within
// MaxQueryBytes (else an error wrapping ErrQueryTooLarge); and Render returns when ctx is done,
// its execution stopping at the next write or function call.
func Render(ctx context.Context, query string, vars Vars) (string, error) {
	if len(query) > MaxQueryBytes {
		return "", fmt.Errorf("query template is %d bytes, more than %d KiB", len(query), MaxQueryBytes>>10)
	}
	variables := vars.Variables
	if variables == nil {
		variables = map[string]string{}
	}
	funcs := boundedFuncs(ctx)
	funcs["name"] = func() string { return vars.Name }
	funcs["namespace"] = func() string { return vars.Namespace }
	funcs["target"] = func() string { return vars.Target }
	funcs["service"] = func() string { return vars.Service }
	funcs["ingress"] = func() string { return vars.Ingress }
	funcs["interval"] = func() string { return vars.Interval }
	funcs["workload"] = func() (string, error) {
		if vars.Workload == "" {
			return "", ErrNoWorkload
		}
		return vars.Workload, nil
	}
	funcs["canaryPods"] = podsFunc(vars.CanaryPods)
	funcs["primaryPods"] = podsFunc(vars.PrimaryPods)
	funcs["variables"] = func() map[string]string { return variables }
	funcs["underscored"] = underscored
	t, err := template.New("query").Funcs(funcs).Option("missingkey=error").Parse(query)
	if err != nil {
		return "", fmt.Errorf("parse query template: %w", err)
	}
	if err := checkTemplate(t); err != nil {
		return "", err
	}
	if missing := missingVariables(t.Root, variables); len(missing) > 0 {
		return "", fmt.Errorf("%w: %s (set them in the metric's templateVariables)", ErrMissingVariable, strings.Join(missing, ", "))
	}

	// Execution runs apart so that Render returns at once when ctx is done; the writer and every
	// function check ctx, so the execution ends soon after.
	out := &boundedWriter{ctx: ctx, limit: MaxQueryBytes}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		// missingkey=error still guards what the walk above cannot see, such as {{ .foo }}
		// inside {{ with variables }}.
		done <- t.Execute(out, nil)
	}()
	select {
	case err := <-done:
		if err != nil {
			return "", fmt.Errorf("render query template: %w", err)
		}
	case <-ctx.Done():
		return "", fmt.Errorf("render query template: %w", context.Cause(ctx))
	}
	return strings.Join(strings.Fields(out.b.String()), " "), nil
}

// underscored is s with every character other than an ASCII letter, digit or underscore
// replaced by an underscore, as Skipper writes names in the IDs of the routes it makes of an
// Ingress (kube_<namespace>__<ingress>__<host>__<path>__<service>): {{ underscored ingress }}.
func underscored(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// missingVariables returns the quoted names of each {{ variables.NAME }} in the tree that
// vars lacks, sorted.
func missingVariables(root parse.Node, vars map[string]string) []string {
	var missing []string
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.ChainNode:
			if id, ok := n.Node.(*parse.IdentifierNode); ok && id.Ident == "variables" && len(n.Field) > 0 {
				if _, ok := vars[n.Field[0]]; !ok {
					missing = append(missing, strconv.Quote(n.Field[0]))
				}
			}
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(root)
	slices.Sort(missing)
	return slices.Compact(missing)
}

// PromDuration formats d as a PromQL duration in its largest whole unit (1m, 90s, 1500ms), so
// that interval values such as 1.5m, valid for Kubernetes, still make valid PromQL.
func PromDuration(d time.Duration) (string, error) {
	if d < time.Millisecond || d%time.Millisecond != 0 {
		return "", fmt.Errorf("interval %s is not a positive whole number of milliseconds", d)
	}
	for _, u := range []struct {
		d      time.Duration
		suffix string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d%u.d == 0 {
			return fmt.Sprintf("%d%s", d/u.d, u.suffix), nil
		}
	}
	panic("unreachable: every whole number of milliseconds divides by 1ms")
}
