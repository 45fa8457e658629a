package task

import (
	"errors"
	"slices"
	"testing"
)

func TestPrepareRefusesGlobalFlagsWhateverTheAllowList(t *testing.T) {
	p := mustAllow(t, `kubectl .*`, `helm .*`)
	p.EnableKubectl, p.EnableHelm = true, true
	for _, c := range []struct {
		kind Kind
		line string
	}{
		{Kubectl, "get pods -n test -s https://evil"},
		{Kubectl, "get pods -n test -shttps://evil"},
		{Kubectl, "get pods -n test -s=https://evil"},
		{Kubectl, "get pods -n test -ws https://evil"}, // -w is a boolean: -s follows in the same group
		{Kubectl, "get pods -n test --server https://evil"},
		{Kubectl, "get pods -n test --server=https://evil"},
		{Kubectl, "kubectl --token=abc -n test get pods"},
		{Kubectl, "get pods -n test --as admin"},
		{Kubectl, "get pods -n test --as-group=system:masters"},
		{Kubectl, "get pods -n test --as-uid 0"},
		{Kubectl, "get pods -n test --kubeconfig /tmp/k"},
		{Kubectl, "get --raw /api -n test"},
		{Kubectl, "get pods -n test --certificate-authority=/x"},
		{Kubectl, "get pods -n test --client-certificate /x"},
		{Kubectl, "get pods -n test --client-key /x"},
		{Kubectl, "get pods -n test --username u"},
		{Kubectl, "get pods -n test --password p"},
		{Kubectl, "get pods -n test --cluster c"},
		{Kubectl, "get pods -n test --context c"},
		{Kubectl, "get pods -n test --user u"},
		{Kubectl, "get pods -n test --insecure-skip-tls-verify"},
		{Kubectl, "get pods -n test --insecure_skip_tls_verify=true"}, // kubectl reads _ as -
		{Kubectl, "get pods -n test --tls-server-name x"},
		{Kubectl, "get pods -n test -- --token x"},
		{Kubectl, "get pods -A"},
		{Kubectl, "get pods --all-namespaces"},
		{Kubectl, `get pods -n test '--server=https://evil'`},
		{Helm, "list -n test --kube-apiserver https://evil"},
		{Helm, "list -n test --kube-token=t"},
		{Helm, "list -n test --kube-as-user u"},
		{Helm, "list -n test --kube-as-group g"},
		{Helm, "list -n test --kubeconfig /x"},
		{Helm, "list -n test --kube-context c"},
		{Helm, "list -n test --kube-ca-file /x"},
		{Helm, "list -n test --kube-tls-server-name x"},
		{Helm, "list -n test --kube-insecure-skip-tls-verify"},
		{Helm, "list -n test --registry-config /x"},
		{Helm, "list -n test --repository-config /x"},
		{Helm, "list -n test --repository-cache /x"},
		{Helm, "list -A"},
	} {
		_, err := p.Prepare(c.kind, c.line)
		if !errors.Is(err, ErrGlobalFlag) || !errors.Is(err, ErrRefused) {
			t.Errorf("%s %q: err = %v, want ErrGlobalFlag", c.kind, c.line, err)
		}
	}
	// Flags that only look alike, and values that hold the letters, are fine.
	for _, line := range []string{"get pods -n test -o json", "get pods -n test -ojsonpath={.items[*].status}", "get pods -n test --server-side"} {
		if _, err := p.Prepare(Kubectl, line); err != nil {
			t.Errorf("%q: %v", line, err)
		}
	}
}

func TestNamespacesOfACommand(t *testing.T) {
	for _, c := range []struct {
		kind Kind
		args []string
		want []string
	}{
		{Kubectl, []string{"get", "pods", "-n", "a"}, []string{"a"}},
		{Kubectl, []string{"get", "pods", "-na"}, []string{"a"}},
		{Kubectl, []string{"get", "pods", "-n=a"}, []string{"a"}},
		{Kubectl, []string{"exec", "-itn", "a", "pod"}, []string{"a"}},
		{Kubectl, []string{"--namespace", "a", "get", "--namespace=b"}, []string{"a", "b"}},
		{Kubectl, []string{"get", "-ojson", "pods"}, nil},
		{Kubectl, []string{"exec", "pod", "--", "sh", "-n", "b"}, nil},
		{Helm, []string{"test", "x", "--namespace=a"}, []string{"a"}},
		{Kubectl, []string{"get", "-n"}, []string{""}},
	} {
		if got := namespaces(c.kind, c.args); !slices.Equal(got, c.want) {
			t.Errorf("namespaces(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
