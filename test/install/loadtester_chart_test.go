package install

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// loadtesterSigned is the smallest install of the load tester chart that its defaults accept.
var loadtesterSigned = map[string]any{"signature": map[string]any{"existingSecret": "siskin-webhook-key"}}

// helmTemplateLoadtester renders charts/loadtester with values, returning the error helm
// reports.
func helmTemplateLoadtester(t *testing.T, values map[string]any) ([]*unstructured.Unstructured, error) {
	t.Helper()
	args := []string{"template", "siskin-loadtester", "charts/loadtester", "--namespace", "test"}
	if values != nil {
		args = append(args, "--values", writeValues(t, values))
	}
	out, err := run(t, tool(t, "helm"), args...)
	if err != nil {
		return nil, err
	}
	return decode(t, out), nil
}

func loadtesterArgs(t *testing.T, values map[string]any) []string {
	t.Helper()
	objs, err := helmTemplateLoadtester(t, values)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	dep := one[appsv1.Deployment](t, objs, "Deployment", "test")
	return dep.Spec.Template.Spec.Containers[0].Args
}

func TestLoadtesterChartLints(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"signed":   loadtesterSigned,
		"unsigned": {"signature": map[string]any{"required": false}},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := run(t, tool(t, "helm"), "lint", "--strict", "charts/loadtester", "--namespace", "test", "--values", writeValues(t, values))
			if err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

func TestLoadtesterChartRequiresASignatureKeyByDefault(t *testing.T) {
	_, err := helmTemplateLoadtester(t, nil)
	if err == nil || !strings.Contains(err.Error(), "signature.existingSecret is empty") || !strings.Contains(err.Error(), "signature.required=false") {
		t.Fatalf("installing with the defaults: err = %v, want a failure naming signature.existingSecret and signature.required=false", err)
	}
	args := loadtesterArgs(t, loadtesterSigned)
	for _, want := range []string{"--require-signature", "--signature-secret-file=/etc/siskin-loadtester/signature/secret"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
}

func TestLoadtesterChartAcceptsUnsignedCallsOnlyWhenAskedTo(t *testing.T) {
	args := loadtesterArgs(t, map[string]any{"signature": map[string]any{"required": false}})
	if slices.ContainsFunc(args, func(a string) bool {
		return strings.HasPrefix(a, "--require-signature") || strings.HasPrefix(a, "--signature-secret-file")
	}) {
		t.Errorf("signature.required=false still passes signature flags: %q", args)
	}
}

func TestLoadtesterChartPassesLimits(t *testing.T) {
	args := loadtesterArgs(t, map[string]any{
		"signature":       loadtesterSigned["signature"],
		"load":            map[string]any{"maxConcurrency": 200, "maxRate": 500, "maxWorkers": 400, "maxTasks": 8, "maxDuration": "30m"},
		"gates":           map[string]any{"ttl": "12h"},
		"allowTargetHost": `app\.example\.com`,
	})
	for _, want := range []string{
		"--max-concurrency=200", "--max-rate=500", "--max-workers=400", "--max-tasks=8", "--max-load-duration=30m",
		"--gate-ttl=12h", `--allow-target-host=app\.example\.com`,
	} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	if _, err := helmTemplateLoadtester(t, map[string]any{
		"signature": loadtesterSigned["signature"], "load": map[string]any{"maxConcurrency": 100000},
	}); err == nil || !strings.Contains(err.Error(), "maxConcurrency") {
		t.Errorf("a concurrency above the ceiling: err = %v, want the schema to refuse load.maxConcurrency", err)
	}
}
