package task

import (
	"errors"
	"fmt"
	"strings"
)

// ErrGlobalFlag is wrapped by refusals of a kubectl or helm flag that chooses the API server,
// the credentials or the client configuration. Such a flag could send the pod's token to
// another server or act as someone else, so it is refused whatever the allow-list says.
var ErrGlobalFlag = errors.New("flag not allowed in load tester commands")

// ErrNamespace is wrapped by refusals of a kubectl or helm command whose namespace is not the
// canary's.
var ErrNamespace = errors.New("command namespace is not the canary's")

// refusedLong are the refused long flags, without dashes and with "_" spelled "-" (kubectl
// accepts both spellings). Both programs refuse both lists: a name one program lacks is
// harmless to refuse, and a plugin of the other might read it.
var refusedLong = set(
	// kubectl
	"server", "as", "as-group", "as-uid", "token", "kubeconfig", "raw", "certificate-authority",
	"client-certificate", "client-key", "username", "password", "cluster", "context", "user",
	"insecure-skip-tls-verify", "tls-server-name", "all-namespaces",
	// helm
	"kube-apiserver", "kube-token", "kube-as-user", "kube-as-group", "kube-context", "kube-ca-file",
	"kube-tls-server-name", "kube-insecure-skip-tls-verify", "registry-config", "repository-config",
	"repository-cache",
)

// refusedShort are the refused one-letter flags: kubectl's -s (--server), and -A
// (--all-namespaces) of both, which would reach beyond the canary's namespace.
var refusedShort = map[Kind]string{Kubectl: "sA", Helm: "A"}

// valueShort are the one-letter flags that take a value in every command of the program, so
// that the rest of "-ojson" is a value and not more flags. Any other letter is read as a
// boolean flag followed by more flags, which can only refuse more than the program would do.
var valueShort = map[Kind]string{Kubectl: "ov", Helm: ""}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// refusedFlag returns the first argument that is, or holds, a refused flag of kind. Every
// argument is looked at, "--" and what follows included, and so are arguments that may be
// the value of a flag before them: this refuses a few lines the program would accept, never
// one it would read as a refused flag.
func refusedFlag(kind Kind, args []string) (string, bool) {
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			name = strings.ToLower(strings.ReplaceAll(name, "_", "-"))
			if refusedLong[name] {
				return a, true
			}
			continue
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		for _, r := range a[1:] {
			if strings.ContainsRune(refusedShort[kind], r) {
				return a, true
			}
			if strings.ContainsRune(valueShort[kind], r) || r == 'n' || r == '=' {
				break // the rest is a value
			}
		}
	}
	return "", false
}

// namespaces returns every namespace that args set with -n or --namespace, in the spellings
// the programs accept ("-n ns", "-nns", "-n=ns", "--namespace ns", "--namespace=ns", and "n"
// last in a group of one-letter flags). Flags end at "--".
func namespaces(kind Kind, args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, value, hasValue := strings.Cut(name, "=")
			if strings.ReplaceAll(name, "_", "-") != "namespace" {
				continue
			}
			if !hasValue {
				value = next()
			}
			out = append(out, value)
			continue
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		for j, r := range a[1:] {
			if strings.ContainsRune(valueShort[kind], r) {
				break
			}
			if r == 'n' {
				value := strings.TrimPrefix(a[2+j:], "=")
				if value == "" {
					value = next()
				}
				out = append(out, value)
				break
			}
		}
	}
	return out
}

// CheckNamespace refuses a kubectl or helm command that does not name namespace ns, or names
// any other: with no -n the program would act in the load tester's own namespace. Shell and
// bash commands are not looked into; they run whatever the allow-list admits.
func (c *Command) CheckNamespace(ns string) error {
	if c.Kind != Kubectl && c.Kind != Helm {
		return nil
	}
	found := namespaces(c.Kind, c.argv[1:])
	if len(found) == 0 {
		return fmt.Errorf("%w: %s command has no -n/--namespace; add -n %s", ErrNamespace, c.Kind, ns)
	}
	for _, got := range found {
		if got != ns {
			return fmt.Errorf("%w: %s command targets namespace %q, the canary is in %q", ErrNamespace, c.Kind, got, ns)
		}
	}
	return nil
}

// Args returns the arguments the program will get, without the program itself.
func (c *Command) Args() []string { return append([]string(nil), c.argv[1:]...) }
