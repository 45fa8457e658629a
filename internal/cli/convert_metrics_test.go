package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConvertKeepsMetricTemplatesOfEveryBackend converts Flagger MetricTemplates of the
// backends Siskin has as they are, and refuses one of a backend it lacks, naming those it has.
func TestConvertKeepsMetricTemplatesOfEveryBackend(t *testing.T) {
	in := filepath.Join(t.TempDir(), "templates.yaml")
	text := `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: requests
spec:
  provider:
    type: stackdriver
    secretRef:
      name: gcloud-sa
  query: fetch k8s_container | within 5m
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: errors
spec:
  provider:
    type: splunk
    address: https://api.us1.signalfx.com
    secretRef:
      name: splunk
  query: data('errors').sum().publish()
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: slo
spec:
  provider:
    type: keptn
  query: analysis/test/slo/5m/workload=podinfo
`
	if err := os.WriteFile(in, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, time.Now, "convert", "-f", in)
	if code != 0 || strings.Contains(stderr, "refused") {
		t.Errorf("exit %d, want 0 with nothing refused:\n%s", code, stderr)
	}
	for _, typ := range []string{"stackdriver", "splunk", "keptn"} {
		if !strings.Contains(stdout, "type: "+typ) {
			t.Errorf("output lacks the %s template:\n%s", typ, stdout)
		}
	}
	if n := strings.Count(stdout, "apiVersion: siskin.dev/v1beta1"); n != 3 {
		t.Errorf("%d siskin.dev documents, want 3:\n%s", n, stdout)
	}

	if err := os.WriteFile(in, []byte(strings.Replace(text, "type: keptn", "type: appdynamicscloud", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, time.Now, "convert", "-f", in)
	if code != ExitError || !strings.Contains(stderr, "spec.provider.type appdynamicscloud") || !strings.Contains(stderr, "stackdriver, splunk, keptn") {
		t.Errorf("exit %d, want %d with a refusal naming the backends:\n%s", code, ExitError, stderr)
	}
}
