package task

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/siskin-dev/siskin/loadtester/cmdline"
)

// globalLong lists, independently of refusedLong, the long flags that must never reach kubectl
// or helm, as they would read them.
var globalLong = []string{
	"server", "as", "as-group", "as-uid", "token", "kubeconfig", "raw", "certificate-authority", "client-certificate",
	"client-key", "username", "password", "cluster", "context", "user", "insecure-skip-tls-verify", "tls-server-name",
	"kube-apiserver", "kube-token", "kube-as-user", "kube-as-group", "kube-context", "kube-ca-file",
	"kube-tls-server-name", "kube-insecure-skip-tls-verify", "registry-config", "repository-config",
}

// carriesGlobalFlag reports whether an argument, read the way pflag reads it, sets a global
// flag: a long flag by name, or kubectl's -s as the first letter of a group of one-letter flags
// or after letters that are booleans everywhere in kubectl.
func carriesGlobalFlag(kind Kind, args []string) (string, bool) {
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if slices.Contains(globalLong, strings.ReplaceAll(name, "_", "-")) {
				return a, true
			}
			continue
		}
		if kind == Kubectl && len(a) > 1 && a[0] == '-' {
			group := strings.TrimLeft(a[1:], "iwtqAhpPW") // booleans of kubectl commands
			if strings.HasPrefix(group, "s") {
				return a, true
			}
		}
	}
	return "", false
}

var prepareSeeds = []string{
	"get pods -n test", "kubectl get pods -n test -o json", "helm test podinfo -n test --set 'a=b c'",
	"get pods -n test -s https://evil", "get pods -n test -ws https://evil", "get pods --server=x -n test",
	"get pods -n test --as_group=x", "kubectl --token=abc -n test get pods", "get pods -n test -- --token x",
	"list -n test --kube-apiserver=https://evil", `get pods -n test '--server=https://evil'`,
	"get pods -ntest", "exec -itn test pod -- sh -c 'echo hi'", "get pods -A", "get -n", "'unterminated",
	"get pods -n test \xff", "x\\\ny -n test",
}

// FuzzPrepare: Prepare never panics; an allowed kubectl or helm command's matched line splits
// back to exactly its program and arguments, carries no global flag, and CheckNamespace
// decides without panicking.
func FuzzPrepare(f *testing.F) {
	for _, s := range prepareSeeds {
		f.Add(false, s)
		f.Add(true, s)
	}
	p := mustAllowF(f, `kubectl .*`, `helm .*`)
	p.EnableKubectl, p.EnableHelm = true, true
	f.Fuzz(func(t *testing.T, helm bool, line string) {
		kind := Kubectl
		if helm {
			kind = Helm
		}
		c, err := p.Prepare(kind, line)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Prepare(%q) error %v does not wrap ErrRefused", line, err)
			}
			return
		}
		args := c.Args()
		resplit, err := cmdline.Split(c.Line)
		if err != nil || !slices.Equal(resplit, append([]string{string(kind)}, args...)) {
			t.Fatalf("Prepare(%q): line %q splits to %q (%v), argv is %q", line, c.Line, resplit, err, args)
		}
		if flag, bad := carriesGlobalFlag(kind, args); bad {
			t.Fatalf("Prepare(%q) let global flag %q through: %q", line, flag, args)
		}
		if err := c.CheckNamespace("test"); err == nil {
			for _, ns := range namespaces(kind, args) {
				if ns != "test" {
					t.Fatalf("Prepare(%q): CheckNamespace accepted namespace %q", line, ns)
				}
			}
		} else if !errors.Is(err, ErrNamespace) {
			t.Fatalf("CheckNamespace error %v does not wrap ErrNamespace", err)
		}
	})
}

func mustAllowF(f *testing.F, patterns ...string) Policy {
	allow, err := CompileAllowList(patterns)
	if err != nil {
		f.Fatal(err)
	}
	return Policy{Allow: allow}
}
