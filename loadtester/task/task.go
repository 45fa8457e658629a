// Package task runs the command tasks of the load tester (shell, bash, kubectl, helm) under a
// policy: each kind must be switched on, the command line must match an allow-list, it runs
// with a deadline, and only a bounded amount of its output is kept.
package task

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/siskin-dev/siskin/loadtester/cmdline"
)

// Kind is a kind of command task.
type Kind string

// The command task kinds, named as in webhook metadata.
const (
	Shell   Kind = "cmd"     // /bin/sh -c <line>
	Bash    Kind = "bash"    // bash -c <line>
	Kubectl Kind = "kubectl" // kubectl <args>, split without a shell
	Helm    Kind = "helm"    // helm <args>, split without a shell
)

// ErrRefused is wrapped by errors for commands that the policy does not allow.
var ErrRefused = errors.New("command refused")

// Policy says which commands may run and how.
type Policy struct {
	EnableShell   bool // cmd and bash tasks
	EnableKubectl bool
	EnableHelm    bool
	// Allow holds the patterns a command line must match as a whole (they are anchored). The
	// line matched is the one that would run, program name first: "kubectl get pods -n test";
	// for kubectl and helm it is re-quoted canonically ("helm test x --set 'a=b c'").
	Allow []*regexp.Regexp
	// Timeout bounds each command; zero means one hour.
	Timeout time.Duration
	// MaxOutput bounds the combined stdout and stderr kept; zero means 64 KiB.
	MaxOutput int
	// Programs overrides where each kind's program is found (for example a kubectl path).
	Programs map[Kind]string
}

// CompileAllowList compiles patterns into anchored regular expressions for Policy.Allow.
func CompileAllowList(patterns []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(patterns))
	for _, p := range patterns {
		re, err := regexp.Compile(`^(?:` + p + `)$`)
		if err != nil {
			return nil, fmt.Errorf("compile allowed command pattern %q: %w", p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// Command is a command that the policy allowed.
type Command struct {
	Kind Kind
	// Line is the command line the allow-list matched.
	Line string
	argv []string
	p    Policy
}

// Prepare checks line against the policy and returns the command to run. For kubectl and helm
// the program name may be given or left out ("get pods" and "kubectl get pods" are the same).
// Refusals wrap ErrRefused and say why.
func (p Policy) Prepare(kind Kind, line string) (*Command, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return nil, fmt.Errorf("%w: empty %s command", ErrRefused, kind)
	}
	c := &Command{Kind: kind, p: p}
	var enabled bool
	var flag string
	switch kind {
	case Shell, Bash:
		enabled, flag = p.EnableShell, "--enable-shell"
		shell := map[Kind]string{Shell: "/bin/sh", Bash: "bash"}[kind]
		c.Line, c.argv = line, []string{p.program(kind, shell), "-c", line}
	case Kubectl, Helm:
		enabled, flag = map[Kind]bool{Kubectl: p.EnableKubectl, Helm: p.EnableHelm}[kind], "--enable-"+string(kind)
		args, err := cmdline.Split(line)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRefused, err)
		}
		if len(args) > 0 && (args[0] == string(kind) || strings.HasSuffix(args[0], "/"+string(kind))) {
			args = args[1:]
		}
		quoted := make([]string, 0, len(args)+1)
		quoted = append(quoted, string(kind))
		for _, a := range args {
			quoted = append(quoted, quote(a))
		}
		c.Line = strings.Join(quoted, " ")
		c.argv = append([]string{p.program(kind, string(kind))}, args...)
		if flag, bad := refusedFlag(kind, args); bad {
			return nil, fmt.Errorf("%w: %w: %q chooses the API server, credentials or client configuration, or every namespace; it is refused whatever --allow-command says",
				ErrRefused, ErrGlobalFlag, flag)
		}
	default:
		return nil, fmt.Errorf("%w: unknown task kind %q", ErrRefused, kind)
	}
	if !enabled {
		return nil, fmt.Errorf("%w: %s tasks are disabled; start the load tester with %s", ErrRefused, kind, flag)
	}
	for _, re := range p.Allow {
		if re.MatchString(c.Line) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: %q matches no --allow-command pattern", ErrRefused, c.Line)
}

// quote renders an argument so that the matched line keeps argument boundaries: an allow-list
// pattern cannot be satisfied by joining or splitting arguments with quotes.
func quote(a string) string { return cmdline.Quote(a) }

func (p Policy) program(kind Kind, def string) string {
	if prog := p.Programs[kind]; prog != "" {
		return prog
	}
	return def
}

// Output is what a finished command printed, bounded.
type Output struct {
	Text      string
	Truncated bool
}

// Run runs the command until it exits, its timeout passes or ctx ends. A non-zero exit, a
// timeout or a missing program is an error; the output is returned in every case.
func (c *Command) Run(ctx context.Context) (Output, error) {
	timeout := c.p.Timeout
	if timeout <= 0 {
		timeout = time.Hour
	}
	limit := c.p.MaxOutput
	if limit <= 0 {
		limit = 64 << 10
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	out := &boundedBuffer{limit: limit}
	cmd.Stdout, cmd.Stderr = out, out
	// Children that inherit the output pipes must not keep Wait blocked after a kill.
	cmd.WaitDelay = 2 * time.Second
	killProcessGroup(cmd)
	err := cmd.Run()
	o := Output{Text: out.buf.String(), Truncated: out.dropped}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return o, fmt.Errorf("%s task timed out after %s: %w", c.Kind, timeout, err)
		}
		return o, fmt.Errorf("%s task failed: %w", c.Kind, err)
	}
	return o, nil
}

// boundedBuffer keeps the first limit bytes written to it and drops the rest, without ever
// failing the writer (a failing writer would make the command fail).
type boundedBuffer struct {
	buf     bytes.Buffer
	limit   int
	dropped bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	room := b.limit - b.buf.Len()
	if room < len(p) {
		b.dropped = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}
