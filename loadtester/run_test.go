package loadtester

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"github.com/siskin-dev/siskin/loadtester/gate"
)

func TestConfigOptions(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("k3y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := Config{
		GateStore: GateStoreMemory, SignatureSecretFile: secret, RequireSignature: true,
		NamespaceRegexp: "test|staging", AllowCommands: []string{"kubectl get .*"},
	}.options(logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if string(opts.Secret) != "k3y" {
		t.Errorf("secret %q, want the trailing newline trimmed", opts.Secret)
	}
	if _, ok := opts.Gates.(*gate.Memory); !ok {
		t.Errorf("gates %T, want memory", opts.Gates)
	}
	if !opts.Namespaces.MatchString("staging") || opts.Namespaces.MatchString("staging2") {
		t.Errorf("namespace pattern %s is not anchored", opts.Namespaces)
	}
	if len(opts.Exec.Allow) != 1 {
		t.Errorf("allow-list %v", opts.Exec.Allow)
	}
}

func TestConfigOptionsRefusals(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
		says string
	}{
		{"unknown store", Config{GateStore: "etcd"}, "unknown gate store"},
		{"bad namespace pattern", Config{GateStore: GateStoreMemory, NamespaceRegexp: "("}, "--namespace-regexp"},
		{"bad command pattern", Config{GateStore: GateStoreMemory, AllowCommands: []string{"["}}, "allowed command pattern"},
		{"missing secret file", Config{GateStore: GateStoreMemory, SignatureSecretFile: "/nonexistent/secret"}, "signature secret"},
		{"empty secret file", Config{GateStore: GateStoreMemory, SignatureSecretFile: empty}, "is empty"},
	}
	if _, err := os.Stat(serviceAccountNamespaceFile); err != nil {
		cases = append(cases, struct {
			name string
			cfg  Config
			says string
		}{"configmap without a namespace", Config{GateStore: GateStoreConfigMap}, "namespace unknown"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.cfg.options(logr.Discard())
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.says)
			}
		})
	}
}
