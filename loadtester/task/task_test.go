package task

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func mustAllow(t *testing.T, patterns ...string) Policy {
	t.Helper()
	allow, err := CompileAllowList(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return Policy{EnableShell: true, EnableKubectl: true, EnableHelm: true, Allow: allow}
}

func TestPrepareRefusesWithAReason(t *testing.T) {
	all := mustAllow(t, `kubectl get .*`, `helm test \S+ -n test`, `echo [a-z]+`)
	cases := []struct {
		name   string
		policy Policy
		kind   Kind
		line   string
		reason string
	}{
		{"shell disabled", Policy{Allow: all.Allow}, Bash, "echo hi", "--enable-shell"},
		{"kubectl disabled", Policy{EnableShell: true, Allow: all.Allow}, Kubectl, "get pods", "--enable-kubectl"},
		{"helm disabled", Policy{EnableShell: true, Allow: all.Allow}, Helm, "test x -n test", "--enable-helm"},
		{"no allow-list", Policy{EnableShell: true}, Shell, "echo hi", "matches no --allow-command"},
		{"not allowed", all, Kubectl, "delete ns test", "matches no --allow-command"},
		{"patterns are anchored", all, Bash, "echo hi; rm -rf /", "matches no --allow-command"},
		{"helm in another namespace", all, Helm, "test x -n prod", "matches no --allow-command"},
		{"unbalanced quotes", all, Kubectl, "get 'pods", "unterminated"},
		{"quotes cannot merge arguments", mustAllow(t, `kubectl get pods -n test`), Kubectl, "get 'pods -n test'", "matches no"},
		{"empty", all, Bash, "  ", "empty"},
		{"unknown kind", all, Kind("python"), "print()", "unknown task kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.policy.Prepare(c.kind, c.line)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("err = %v, want ErrRefused mentioning %q", err, c.reason)
			}
		})
	}
}

func TestPrepareNormalisesKubectlAndHelmLines(t *testing.T) {
	p := mustAllow(t, `kubectl get pods -n test`, `helm test podinfo --set 'a=b c'`)
	for _, c := range []struct {
		kind Kind
		line string
		argv []string
	}{
		{Kubectl, "get pods -n test", []string{"kubectl", "get", "pods", "-n", "test"}},
		{Kubectl, "kubectl  get pods  -n test", []string{"kubectl", "get", "pods", "-n", "test"}},
		{Helm, "test podinfo --set 'a=b c'", []string{"helm", "test", "podinfo", "--set", "a=b c"}},
	} {
		cmd, err := p.Prepare(c.kind, c.line)
		if err != nil {
			t.Fatalf("%q: %v", c.line, err)
		}
		if strings.Join(cmd.argv, "|") != strings.Join(c.argv, "|") {
			t.Errorf("%q: argv %q, want %q", c.line, cmd.argv, c.argv)
		}
	}
}

func TestRunCapturesBoundedOutputAndExitStatus(t *testing.T) {
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	p := mustAllow(t, `.*`)
	p.MaxOutput = 10
	cmd, err := p.Prepare(Shell, "echo 0123456789abcdef; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.Run(t.Context())
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("err = %v, want exit status 3", err)
	}
	if out.Text != "0123456789" || !out.Truncated {
		t.Errorf("output %q truncated=%v", out.Text, out.Truncated)
	}
}

func TestRunKillsOnTimeout(t *testing.T) {
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	p := mustAllow(t, `.*`)
	p.Timeout = 100 * time.Millisecond
	cmd, err := p.Prepare(Shell, "sleep 30 & sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = cmd.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("command outlived its timeout")
	}
}
