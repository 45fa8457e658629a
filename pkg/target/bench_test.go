package target

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// benchTemplate is a production-sized pod template as the API server returns it, defaults
// included: an app container and a log sidecar, an init container, probes, resources, a
// security context, and the configs it reads through volumes, env and envFrom.
func benchTemplate() corev1.PodTemplateSpec {
	probe := func(path string, delay int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
			InitialDelaySeconds: delay, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
		}
	}
	resources := func(cpu, mem string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(mem)},
		}
	}
	secure := &corev1.SecurityContext{
		RunAsNonRoot: ptr.To(true), ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	common := func(c corev1.Container) corev1.Container {
		c.TerminationMessagePath, c.TerminationMessagePolicy = "/dev/termination-log", corev1.TerminationMessageReadFile
		c.ImagePullPolicy, c.SecurityContext = corev1.PullIfNotPresent, secure
		return c
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels: map[string]string{"app": "podinfo", "app.kubernetes.io/name": "podinfo", "app.kubernetes.io/part-of": "shop", "version": "6.0.0"},
			Annotations: map[string]string{
				"prometheus.io/scrape": "true", "prometheus.io/port": "9797",
				"kubectl.kubernetes.io/restartedAt": "2026-11-25T10:00:00Z",
			},
		},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{common(corev1.Container{
				Name: "migrate", Image: "ghcr.io/example/podinfo-migrate:6.0.0",
				Command:      []string{"/migrate", "--to=latest"},
				EnvFrom:      []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-db"}}}},
				Resources:    resources("50m", "32Mi"),
				VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
			})},
			Containers: []corev1.Container{
				common(corev1.Container{
					Name: "podinfod", Image: "ghcr.io/stefanprodan/podinfo:6.0.0",
					Command: []string{"./podinfo", "--port=9898", "--port-metrics=9797", "--level=info", "--config-path=/etc/podinfo"},
					Ports: []corev1.ContainerPort{
						{Name: "http", ContainerPort: 9898, Protocol: corev1.ProtocolTCP},
						{Name: "http-metrics", ContainerPort: 9797, Protocol: corev1.ProtocolTCP},
						{Name: "grpc", ContainerPort: 9999, Protocol: corev1.ProtocolTCP},
					},
					Env: []corev1.EnvVar{
						{Name: "PODINFO_UI_COLOR", Value: "#34577c"},
						{Name: "PODINFO_UI_MESSAGE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-config"}, Key: "message"}}},
						{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-db"}, Key: "password"}}},
						{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
					},
					Resources:      resources("100m", "64Mi"),
					ReadinessProbe: probe("/readyz", 1),
					LivenessProbe:  probe("/healthz", 5),
					VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/podinfo", ReadOnly: true}, {Name: "tls", MountPath: "/etc/tls", ReadOnly: true}, {Name: "tmp", MountPath: "/tmp"}},
				}),
				common(corev1.Container{
					Name: "log-shipper", Image: "fluent/fluent-bit:3.2",
					Args:         []string{"-c", "/fluent-bit/etc/fluent-bit.conf"},
					Resources:    resources("20m", "32Mi"),
					VolumeMounts: []corev1.VolumeMount{{Name: "fluent-bit", MountPath: "/fluent-bit/etc", ReadOnly: true}},
				}),
			},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-config"}, DefaultMode: ptr.To[int32](0o644)}}},
				{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "podinfo-tls", DefaultMode: ptr.To[int32](0o644)}}},
				{Name: "fluent-bit", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "fluent-bit"}, DefaultMode: ptr.To[int32](0o644)}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			DNSPolicy:                     corev1.DNSClusterFirst,
			ServiceAccountName:            "podinfo",
			SecurityContext:               &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), FSGroup: ptr.To[int64](2000), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			SchedulerName:                 corev1.DefaultSchedulerName,
			Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight:          100,
				PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}}},
			}}}},
			TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
			}},
		},
	}
}

// BenchmarkFingerprint identifies a revision of a production-sized pod template with the
// checksums of the four configs it reads: what a round pays when the target changed.
func BenchmarkFingerprint(b *testing.B) {
	tmpl := benchTemplate()
	configs := map[string]string{
		"configmap/podinfo-config": "0123456789abcdef", "configmap/fluent-bit": "1111222233334444",
		"secret/podinfo-db": "fedcba9876543210", "secret/podinfo-tls": "5555666677778888",
	}
	want, err := Fingerprint(tmpl, configs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if got, _ := Fingerprint(tmpl, configs); got != want {
			b.Fatalf("fingerprint changed between calls: %s, then %s", want, got)
		}
	}
}

// BenchmarkFingerprintMemoized is what every other round pays: the target and its configs are
// at the version the memo last saw.
func BenchmarkFingerprintMemoized(b *testing.B) {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "podinfo", UID: "6f1c", Generation: 42}}
	dep.Spec.Template = benchTemplate()
	configs := map[string]string{
		"configmap/podinfo-config": "0123456789abcdef", "configmap/fluent-bit": "1111222233334444",
		"secret/podinfo-db": "fedcba9876543210", "secret/podinfo-tls": "5555666677778888",
	}
	var m memo
	want, err := m.fingerprint(dep, configs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if got, _ := m.fingerprint(dep, configs); got != want {
			b.Fatalf("fingerprint changed between calls: %s, then %s", want, got)
		}
	}
}
