package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/siskin-dev/siskin/internal/testenv"
)

// siskinAPIVersion matches a document's own siskin.dev apiVersion line.
var siskinAPIVersion = regexp.MustCompile(`(?m)^apiVersion: siskin\.dev/v1beta1$`)

// TestConvertFlaggerCorpus turns each file of the Flagger corpus (test/compat) back into
// Flagger's API group and converts it forward again: the result is the corpus file, byte for
// byte; every "# expect:" refusal is warned about and makes convert exit 1; the warnings are
// kept in testdata/convert-corpus.golden.
func TestConvertFlaggerCorpus(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "test", "compat")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", dir, err)
	}
	var all strings.Builder
	for _, path := range files {
		name := filepath.Base(path)
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		flagger := siskinAPIVersion.ReplaceAllString(string(want), "apiVersion: "+flaggerAPIVersion)
		if flagger == string(want) {
			t.Fatalf("%s: no siskin.dev object to turn back into Flagger's", name)
		}
		in := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(in, []byte(flagger), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := run(t, time.Now, "convert", "-f", in)
		if stdout != string(want) {
			t.Errorf("%s: converted output differs from the corpus file:\n%s", name, stdout)
		}
		var expects []string
		for _, line := range strings.Split(string(want), "\n") {
			if e, ok := strings.CutPrefix(line, "# expect:"); ok {
				expects = append(expects, strings.TrimSpace(e))
			}
		}
		for _, e := range expects {
			if !strings.Contains(stderr, e) {
				t.Errorf("%s: no warning says %q:\n%s", name, e, stderr)
			}
		}
		if wantCode := map[bool]int{true: ExitError, false: ExitOK}[len(expects) > 0]; code != wantCode {
			t.Errorf("%s: exit %d, want %d", name, code, wantCode)
		}
		all.WriteString("== " + name + "\n" + strings.ReplaceAll(stderr, in, name))
	}
	golden(t, "convert-corpus", all.String())
}

func TestConvertLeavesOtherObjectsAndRewritesJSON(t *testing.T) {
	in := filepath.Join(t.TempDir(), "mixed.yaml")
	text := `# a comment kept as it is
apiVersion: v1
kind: ConfigMap
metadata:
  name: kept
---
{"apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider", "metadata": {"name": "on-call"}, "spec": {"type": "pagerduty"}}
---
apiVersion: flagger.app/v1beta2
kind: Something
metadata:
  name: future
`
	if err := os.WriteFile(in, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, time.Now, "convert", "-f", in)
	if code != ExitError {
		t.Errorf("exit %d, want %d: the pagerduty provider would be refused", code, ExitError)
	}
	for _, want := range []string{"# a comment kept as it is\napiVersion: v1\nkind: ConfigMap", "apiVersion: siskin.dev/v1beta1\nkind: AlertProvider", "apiVersion: flagger.app/v1beta2\nkind: Something"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for _, want := range []string{"spec.type pagerduty", "flagger.app/v1beta2 Something is not converted"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("warnings lack %q:\n%s", want, stderr)
		}
	}
}
