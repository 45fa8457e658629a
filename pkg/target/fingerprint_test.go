package target

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// goldenFingerprint is the fingerprint of goldenTemplate with goldenConfigs. If this test
// fails, every Canary in every cluster would see a new revision after the upgrade: change the
// canonical form only on purpose. (The value was cross-checked with an independent
// implementation of the canonical form.)
const goldenFingerprint = "ef8128d040c7fc68"

// goldenTemplate is a pod template as an API server stores it, defaults included.
const goldenTemplate = `{
  "metadata": {"creationTimestamp": null, "labels": {"app": "podinfo"}, "annotations": {"prometheus.io/scrape": "true"}},
  "spec": {
    "containers": [{
      "name": "podinfo",
      "image": "ghcr.io/stefanprodan/podinfo:6.0.0",
      "command": ["./podinfo", "--port=9898"],
      "ports": [{"name": "http", "containerPort": 9898, "protocol": "TCP"}],
      "env": [{"name": "LOG", "value": "info"}],
      "resources": {"limits": {"cpu": "1", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
      "readinessProbe": {"httpGet": {"path": "/readyz", "port": 9898, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
      "terminationMessagePath": "/dev/termination-log",
      "terminationMessagePolicy": "File",
      "imagePullPolicy": "IfNotPresent"
    }],
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "securityContext": {},
    "schedulerName": "default-scheduler"
  }
}`

var goldenConfigs = map[string]string{"configmap/podinfo-config": "0123456789abcdef", "secret/podinfo-env": "fedcba9876543210"}

func TestFingerprintMatchesTheGoldenValue(t *testing.T) {
	var tmpl corev1.PodTemplateSpec
	if err := json.Unmarshal([]byte(goldenTemplate), &tmpl); err != nil {
		t.Fatal(err)
	}
	got, err := Fingerprint(tmpl, goldenConfigs)
	if err != nil {
		t.Fatal(err)
	}
	if got != goldenFingerprint {
		t.Fatalf("fingerprint = %s, want %s", got, goldenFingerprint)
	}
}

func TestFingerprint(t *testing.T) {
	base := newTarget().Spec.Template
	tests := []struct {
		name    string
		mutate  func(*corev1.PodTemplateSpec)
		configs map[string]string
		same    bool
	}{
		{
			name:   "an empty pod security context that a newer library emits keeps the fingerprint",
			mutate: func(p *corev1.PodTemplateSpec) { p.Spec.SecurityContext = &corev1.PodSecurityContext{} },
			same:   true,
		},
		{
			name: "empty lists and maps keep the fingerprint",
			mutate: func(p *corev1.PodTemplateSpec) {
				p.Spec.NodeSelector = map[string]string{}
				p.Spec.Tolerations = []corev1.Toleration{}
			},
			same: true,
		},
		{
			name:    "the same configs in another map order keep the fingerprint",
			mutate:  func(*corev1.PodTemplateSpec) {},
			configs: map[string]string{"secret/podinfo-env": "fedcba9876543210", "configmap/podinfo-config": "0123456789abcdef"},
			same:    true,
		},
		{
			name:   "a new image changes the fingerprint",
			mutate: func(p *corev1.PodTemplateSpec) { p.Spec.Containers[0].Image = "ghcr.io/stefanprodan/podinfo:6.0.1" },
		},
		{
			name: "a new env var changes the fingerprint",
			mutate: func(p *corev1.PodTemplateSpec) {
				p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "LOG", Value: "debug"})
			},
		},
		{
			name:    "a changed config checksum changes the fingerprint",
			mutate:  func(*corev1.PodTemplateSpec) {},
			configs: map[string]string{"configmap/podinfo-config": "0000000000000000", "secret/podinfo-env": "fedcba9876543210"},
		},
		{
			name:    "an untracked config changes the fingerprint",
			mutate:  func(*corev1.PodTemplateSpec) {},
			configs: map[string]string{"configmap/podinfo-config": "0123456789abcdef"},
		},
		{
			name: "an explicit zero is not the same as no value",
			mutate: func(p *corev1.PodTemplateSpec) {
				p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)}
			},
		},
		{
			name:   "an empty argument is kept in its list",
			mutate: func(p *corev1.PodTemplateSpec) { p.Spec.Containers[0].Args = []string{"", "serve"} },
		},
	}
	want, err := Fingerprint(base, goldenConfigs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := *base.DeepCopy()
			tt.mutate(&tmpl)
			configs := tt.configs
			if configs == nil {
				configs = goldenConfigs
			}
			got, err := Fingerprint(tmpl, configs)
			if err != nil {
				t.Fatal(err)
			}
			if (got == want) != tt.same {
				t.Fatalf("fingerprint %s, base %s, want same=%t", got, want, tt.same)
			}
		})
	}
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{
			name: "reordered fields are the same document",
			a:    `{"spec":{"containers":[{"name":"a","image":"x"}],"hostNetwork":false},"metadata":{"labels":{"b":"2","a":"1"}}}`,
			b:    `{"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"hostNetwork":false,"containers":[{"image":"x","name":"a"}]}}`,
			same: true,
		},
		{
			name: "new null, empty string, empty object and empty list fields are ignored at any depth",
			a:    `{"spec":{"containers":[{"name":"a"}]}}`,
			b:    `{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"name":"a","resizePolicy":[],"newField":"","newObject":{"inner":{}}}],"newList":[]}}`,
			same: true,
		},
		{
			name: "large integers are kept exactly",
			a:    `{"n":9007199254740993}`,
			b:    `{"n":9007199254740992}`,
		},
		{
			name: "a reordered list is a different document",
			a:    `{"args":["a","b"]}`,
			b:    `{"args":["b","a"]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := canonicalJSON([]byte(tt.a))
			if err != nil {
				t.Fatal(err)
			}
			b, err := canonicalJSON([]byte(tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if (string(a) == string(b)) != tt.same {
				t.Fatalf("canonical forms %s and %s, want same=%t", a, b, tt.same)
			}
		})
	}
}

func TestConfigChecksums(t *testing.T) {
	base := newConfigMap("c", map[string]string{"a": "1"}, map[string][]byte{"b": {1}})
	tests := []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		same   bool
	}{
		{name: "labels do not change the checksum", mutate: func(cm *corev1.ConfigMap) { cm.Labels = map[string]string{"x": "y"} }, same: true},
		{name: "a data change changes the checksum", mutate: func(cm *corev1.ConfigMap) { cm.Data["a"] = "2" }},
		{name: "a binaryData change changes the checksum", mutate: func(cm *corev1.ConfigMap) { cm.BinaryData["b"] = []byte{2} }},
		{name: "moving a key from data to binaryData changes the checksum", mutate: func(cm *corev1.ConfigMap) {
			cm.Data = nil
			cm.BinaryData["a"] = []byte("1")
		}},
	}
	want, err := configMapChecksum(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := base.DeepCopy()
			tt.mutate(cm)
			got, err := configMapChecksum(cm)
			if err != nil {
				t.Fatal(err)
			}
			if (got == want) != tt.same {
				t.Fatalf("checksum %s, base %s, want same=%t", got, want, tt.same)
			}
		})
	}
}
