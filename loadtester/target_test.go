package loadtester

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/siskin-dev/siskin/loadtester/load"
	"github.com/siskin-dev/siskin/loadtester/task"
)

// nowhere admits no host outside the canary's namespace.
var nowhere = regexp.MustCompile(`^$`)

func TestLoadMustTargetTheCanaryNamespace(t *testing.T) {
	s := newServer(t, Options{TargetHosts: nowhere, Namespaces: regexp.MustCompile(`^(?:test)$`)})
	cases := []struct {
		name string
		meta []string
		says string
	}{
		{"hey at another namespace", []string{"cmd", "hey -z 1m -c 1 http://podinfo-canary.other:9898/"}, `in namespace other, not in the canary's namespace test`},
		{"load at another namespace's FQDN", []string{"type", "load", "url", "http://db.other.svc.cluster.local/"}, "namespace other"},
		{"Host override to another namespace", []string{"cmd", "hey -z 1m -c 1 -host podinfo.other http://podinfo.test/"}, "namespace other"},
		{"Host header to another namespace", []string{"type", "load", "url", "http://podinfo.test/", "header.Host", "podinfo.other"}, "namespace other"},
		{"bare service name", []string{"type", "load", "url", "http://podinfo:9898/"}, "--allow-target-host"},
		{"IP address", []string{"type", "load", "url", "http://169.254.169.254/latest/meta-data/"}, "--allow-target-host"},
		{"grpc health elsewhere", []string{"type", "grpc-health", "address", "podinfo.other:9999"}, "namespace other"},
		{"ghz resolver URI", []string{"cmd", "ghz --insecure --call a.B/C -n 1 -c 1 unix:///var/run/secrets/x"}, "not a host name"},
		{"probe authority elsewhere", []string{"cmd", "ghz --insecure --call a.B/C -n 1 -c 1 --authority podinfo.other podinfo.test:9999"}, "namespace other"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(t, s, "/", payload(t, withMeta(podinfo, c.meta...)), nil)
			if code != http.StatusForbidden || !strings.Contains(body, c.says) {
				t.Fatalf("= %d %q, want 403 saying %q", code, body, c.says)
			}
		})
	}
}

func TestTargetsInTheCanaryNamespaceAreAccepted(t *testing.T) {
	s := newServer(t, Options{TargetHosts: regexp.MustCompile(`^(?:app\.example\.com)$`)})
	for _, h := range []string{
		"podinfo-canary.test:9898", "podinfo-canary.test", "podinfo.test.svc", "podinfo.test.svc.cluster.local:80",
		"PodInfo.Test.svc.cluster.local.", "pod-0.podinfo.test.svc.cluster.local", "app.example.com",
	} {
		spec := load.Spec{HTTP: &load.HTTPTarget{URL: "http://" + h + "/"}}
		if err := s.checkTarget(spec, "test"); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if err := s.checkTarget(load.Spec{HTTP: &load.HTTPTarget{URL: "http://app.example.com.evil/"}}, "test"); !errors.Is(err, ErrForeignTarget) {
		t.Errorf("--allow-target-host is not anchored: %v", err)
	}
}

func TestCommandsMustTargetTheCanaryNamespace(t *testing.T) {
	allow, err := task.CompileAllowList([]string{`kubectl .*`, `helm .*`})
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, Options{Exec: task.Policy{EnableKubectl: true, EnableHelm: true, Allow: allow, Programs: map[task.Kind]string{task.Kubectl: "true", task.Helm: "true"}}})
	cases := []struct {
		typ, cmd string
		code     int
		says     string
	}{
		{"kubectl", "get pods -n other", http.StatusForbidden, `namespace "other"`},
		{"kubectl", "get pods --namespace=test -n other", http.StatusForbidden, `namespace "other"`},
		{"kubectl", "get pods", http.StatusForbidden, "add -n test"},
		{"kubectl", "get pods -A", http.StatusForbidden, `"-A"`},
		{"helm", "test podinfo --namespace other", http.StatusForbidden, `namespace "other"`},
		{"kubectl", "get pods -ntest", http.StatusOK, ""},
		{"helm", "test podinfo -n test", http.StatusOK, ""},
	}
	for _, c := range cases {
		code, body := call(t, s, "/", payload(t, withMeta(podinfo, "type", c.typ, "cmd", c.cmd)), nil)
		if code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%s %s = %d %q, want %d saying %q", c.typ, c.cmd, code, body, c.code, c.says)
		}
	}
}

func TestKubectlAndHelmGlobalFlagsAreRefusedWhateverTheAllowList(t *testing.T) {
	allow, err := task.CompileAllowList([]string{`kubectl .*`, `helm .*`})
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, Options{Exec: task.Policy{EnableKubectl: true, EnableHelm: true, Allow: allow, Programs: map[task.Kind]string{task.Kubectl: "true", task.Helm: "true"}}})
	for _, c := range []struct{ typ, cmd, flag string }{
		{"kubectl", "get pods -n test -s https://evil:443", "-s"},
		{"kubectl", "get pods -n test --server=https://evil", "--server=https://evil"},
		{"kubectl", "get pods -n test --token abc", "--token"},
		{"kubectl", "kubectl -n test get --raw /api/v1/namespaces/test/secrets", "--raw"},
		{"kubectl", "get pods -n test --as=system:admin", "--as=system:admin"},
		{"helm", "upgrade x c -n test --kube-apiserver=https://evil", "--kube-apiserver=https://evil"},
		{"helm", "list -n test --kube-token t", "--kube-token"},
	} {
		code, body := call(t, s, "/", payload(t, withMeta(podinfo, "type", c.typ, "cmd", c.cmd)), nil)
		if code != http.StatusForbidden || !strings.Contains(body, `"`+c.flag+`"`) {
			t.Errorf("%s %s = %d %q, want 403 naming %q", c.typ, c.cmd, code, body, c.flag)
		}
	}
}

// A redirect must not take load where the target rules would not let it go: the allowed
// target answers with a redirect to a host outside them, and that host gets no request.
func TestRedirectsOutsideTheTargetRulesAreNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/latest/meta-data/", http.StatusFound)
	}))
	t.Cleanup(allowed.Close)
	s := newServer(t, Options{TargetHosts: regexp.MustCompile(`^(?:` + regexp.QuoteMeta(strings.TrimPrefix(allowed.URL, "http://")) + `)$`)})
	p := withMeta(podinfo, "type", "cmd", "cmd", "hey -n 4 -c 1 "+allowed.URL+"/", "blocking", "true")
	code, body := call(t, s, "/", payload(t, p), nil)
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the redirect took %d requests to a host outside the target rules", n)
	}
	if code != http.StatusInternalServerError || !strings.Contains(body, "redirect to") {
		t.Fatalf("= %d %s, want 500 with the refused redirects counted as errors", code, body)
	}
}
