package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"list", "--no-such-flag"},
		{"wait"},
		{"get", "canary", "a", "b"},
		{"list", "-o", "table"},
	} {
		if code, _, stderr := run(t, time.Now, args...); code != ExitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, stderr, ExitUsage)
		}
	}
}

func TestEveryCommandHasExamples(t *testing.T) {
	root := NewRoot(NewOptions())
	var walk func(prefix string, cmds []*cobra.Command)
	walk = func(prefix string, cmds []*cobra.Command) {
		for _, c := range cmds {
			if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
				continue
			}
			if c.Runnable() && c.Example == "" {
				t.Errorf("%s%s has no --help example", prefix, c.Name())
			}
			walk(prefix+c.Name()+" ", c.Commands())
		}
	}
	walk("", root.Commands())
}

func TestCompletionListsCanaries(t *testing.T) {
	s := cannedStates()[0]
	s.name = "complete"
	ns := writeState(t, s)
	code, stdout, stderr := run(t, time.Now, "__complete", "promote", "-n", ns, "")
	if code != ExitOK || !strings.Contains(stdout, "podinfo\n") {
		t.Errorf("exit %d, completions %q (%s), want podinfo", code, stdout, stderr)
	}
}
