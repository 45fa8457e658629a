package target

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

const ns = "test"

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := siskinv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// newAdapter returns an adapter whose reader and writer are the same fake client.
func newAdapter(t *testing.T, objs ...client.Object) (*Deployment, client.Client) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build()
	return NewDeployment(c, c, nil), c
}

// newFailingAdapter fails every Get of the named object with err.
func newFailingAdapter(t *testing.T, name string, failure error, objs ...client.Object) *Deployment {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithInterceptorFuncs(interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if key.Name == name {
					return failure
				}
				return c.Get(ctx, key, obj, opts...)
			},
		}).Build()
	return NewDeployment(c, c, nil)
}

func newCanary(mods ...func(*siskinv1.Canary)) *siskinv1.Canary {
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, UID: types.UID("canary-uid")},
		Spec: siskinv1.CanarySpec{
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   siskinv1.CanaryService{Port: 9898},
			Analysis:  &siskinv1.CanaryAnalysis{},
		},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func withHPA(min, max *int32) func(*siskinv1.Canary) {
	return func(c *siskinv1.Canary) {
		c.Spec.AutoscalerRef = &siskinv1.AutoscalerReference{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler", Name: "podinfo"}
		if min != nil || max != nil {
			c.Spec.AutoscalerRef.PrimaryScalerReplicas = &siskinv1.ScalerReplicas{MinReplicas: min, MaxReplicas: max}
		}
	}
}

// newTarget is a Deployment that reads a ConfigMap through a volume and a Secret through envFrom,
// and spreads its pods by its own selector label.
func newTarget(mods ...func(*appsv1.Deployment)) *appsv1.Deployment {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: "podinfo", Namespace: ns, Generation: 1,
			Labels: map[string]string{
				"team":                             "a",
				"kustomize.toolkit.fluxcd.io/name": "apps",
				"app.kubernetes.io/part-of":        "demo",
			},
			Annotations: map[string]string{
				"kubectl.kubernetes.io/last-applied-configuration": "{}",
				"toolkit.fluxcd.io/reconcile":                      "disabled",
				"owner":                                            "team-a",
			},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr.To[int32](3),
			Selector:                sel,
			MinReadySeconds:         5,
			RevisionHistoryLimit:    ptr.To[int32](4),
			ProgressDeadlineSeconds: ptr.To[int32](120),
			Strategy:                appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      map[string]string{"app": "podinfo", "version": "v1"},
					Annotations: map[string]string{"prometheus.io/scrape": "true"},
				},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:    "podinfo",
						Image:   "ghcr.io/stefanprodan/podinfo:6.0.0",
						Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}},
						EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-env"}}}},
					}},
					Volumes: []corev1.Volume{{
						Name:         "config",
						VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-config"}}},
					}},
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew:           1,
						TopologyKey:       "kubernetes.io/hostname",
						WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "podinfo"}},
					}},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
							Weight: 100,
							PodAffinityTerm: corev1.PodAffinityTerm{
								TopologyKey: "kubernetes.io/hostname",
								LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
									Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"podinfo", "other"},
								}}},
							},
						}},
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							TopologyKey:   "kubernetes.io/hostname",
							LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "database"}},
						}},
					}},
				},
			},
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3},
	}
	for _, m := range mods {
		m(d)
	}
	return d
}

func newConfigMap(name string, data map[string]string, binary map[string][]byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"team": "a"}},
		Data:       data,
		BinaryData: binary,
	}
}

func newSecret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// defaultConfigs are the configs newTarget reads.
func defaultConfigs() []client.Object {
	return []client.Object{
		newConfigMap("podinfo-config", map[string]string{"a": "1"}, map[string][]byte{"blob": {0, 1, 2}}),
		newSecret("podinfo-env", map[string][]byte{"TOKEN": []byte("s3cr3t")}),
	}
}

func newHPA(name, targetName string, min, max int32) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"team": "a"}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: targetName},
			MinReplicas:    ptr.To(min),
			MaxReplicas:    max,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)},
				},
			}},
		},
	}
}

func get[T client.Object](t *testing.T, c client.Client, name string, obj T) T {
	t.Helper()
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return obj
}

func objs(list ...[]client.Object) []client.Object {
	var out []client.Object
	for _, l := range list {
		out = append(out, l...)
	}
	return out
}
