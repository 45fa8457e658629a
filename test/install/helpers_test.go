package install

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/siskin-dev/siskin/internal/testenv"
)

const releaseNamespace = "siskin-system"

var root = testenv.RepoRoot()

// tool returns the path of bin/<name>, failing the test when it is missing.
func tool(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(root, "bin", name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s not found: run make tools (it builds helm and kubectl into bin/)", path)
	}
	return path
}

// run runs a command in the repository root and returns its standard output; a failure
// returns the standard error in the error.
func run(t *testing.T, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(strings.TrimSpace(stderr.String()) + " (" + err.Error() + ")")
	}
	return stdout.String(), nil
}

// valueSet is one way of installing the chart.
type valueSet struct {
	name   string
	values map[string]any
}

// valueSets are the chart installs every chart test renders.
var valueSets = []valueSet{
	{"defaults", nil},
	{"watch-namespaces", map[string]any{"watchNamespaces": []string{"team-a", "team-b"}}},
	{"monitoring", map[string]any{
		"monitoring": map[string]any{
			"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
			"podMonitor":     map[string]any{"enabled": true},
		},
		"dashboard": map[string]any{"enabled": true, "annotations": map[string]any{"grafana_folder": "Siskin"}},
	}},
	{"single-replica", map[string]any{"replicaCount": 1, "leaderElection": map[string]any{"enabled": false}}},
	{"notifications", map[string]any{
		"provider":      "gatewayapi",
		"metricsServer": "http://prometheus.monitoring:9090",
		"clusterName":   "prod-eu",
		"notifications": map[string]any{
			"existingSecret": "siskin-notifiers",
			"slack":          map[string]any{"channel": "deployments", "user": "siskin"},
		},
		"webhookSigning": map[string]any{"existingSecret": "siskin-webhook-key"},
	}},
}

// writeValues writes values to a file for helm -f.
func writeValues(t *testing.T, values map[string]any) string {
	t.Helper()
	data, err := yaml.Marshal(values)
	if err != nil {
		t.Fatalf("marshal values: %v", err)
	}
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// helmTemplate renders the chart with values, returning the error helm reports.
func helmTemplate(t *testing.T, values map[string]any) ([]*unstructured.Unstructured, error) {
	t.Helper()
	helm := tool(t, "helm")
	args := []string{"template", "siskin", "charts/siskin", "--namespace", releaseNamespace}
	if values != nil {
		args = append(args, "--values", writeValues(t, values))
	}
	out, err := run(t, helm, args...)
	if err != nil {
		return nil, err
	}
	return decode(t, out), nil
}

// render renders the chart with values and fails the test if helm refuses them.
func render(t *testing.T, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	objs, err := helmTemplate(t, values)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return objs
}

// kustomize builds a kustomization with bin/kubectl.
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, err := run(t, tool(t, "kubectl"), "kustomize", dir)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	return decode(t, out)
}

// decode splits a multi-document YAML stream into objects, skipping empty documents.
func decode(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var objs []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decode rendered manifests: %v", err)
		}
		if len(obj) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: obj})
	}
}

// decodeFile reads a YAML file into a typed object.
func decodeFile(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
}

// find returns the objects of a kind, in a namespace when ns is not "*".
func find(objs []*unstructured.Unstructured, kind, ns string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && (ns == "*" || o.GetNamespace() == ns) {
			out = append(out, o)
		}
	}
	return out
}

// one returns the only object of a kind in a namespace, converted to a typed object.
func one[T any](t *testing.T, objs []*unstructured.Unstructured, kind, ns string) *T {
	t.Helper()
	found := find(objs, kind, ns)
	if len(found) != 1 {
		t.Fatalf("want one %s in namespace %q, found %d", kind, ns, len(found))
	}
	return convert[T](t, found[0])
}

// convert turns an unstructured object into a typed one.
func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var out T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &out); err != nil {
		t.Fatalf("convert %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return &out
}

// kinds lists "Kind namespace/name" of every object, for failure messages.
func kinds(objs []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}
