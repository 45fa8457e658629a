package install

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/siskin-dev/siskin/internal/testenv"
)

// samplesNamespace is where config/samples are dry-run applied.
const samplesNamespace = "samples"

// TestInstallsApplyToAPIServer applies every chart value set, every kustomize install and the
// samples to a real API server with a server-side dry run, so schema, CEL and RBAC validation
// run on exactly what users apply. Each controller pod template is also dry-run created as a
// Pod in a namespace that enforces the "restricted" Pod Security Standard.
func TestInstallsApplyToAPIServer(t *testing.T) {
	// Render first: a missing bin/helm or bin/kubectl fails before an API server starts.
	sources := map[string][]*unstructured.Unstructured{}
	var order []string
	for _, vs := range valueSets {
		name := "chart/" + vs.name
		sources[name] = render(t, vs.values)
		order = append(order, name)
	}
	for _, k := range kustomizations {
		sources[k.dir] = kustomize(t, k.dir)
		order = append(order, k.dir)
	}
	samples := kustomize(t, "config/samples")
	for _, o := range samples {
		o.SetNamespace(samplesNamespace)
	}
	sources["config/samples"] = samples
	order = append(order, "config/samples")

	env, err := testenv.Start()
	if errors.Is(err, testenv.ErrNoAssets) {
		t.Fatalf("%v", err)
	}
	if err != nil {
		t.Fatalf("start API server: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	// A stand-in for the Prometheus Operator's CRDs, so ServiceMonitor and PodMonitor apply.
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{
		CRDs: []*apiextensionsv1.CustomResourceDefinition{monitoringCRD("ServiceMonitor", "servicemonitors"), monitoringCRD("PodMonitor", "podmonitors")},
	}); err != nil {
		t.Fatalf("install monitoring CRDs: %v", err)
	}
	// Created after the CRDs, so its REST mapper knows them.
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	restricted := map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}
	for _, ns := range []string{releaseNamespace, "team-a", "team-b", samplesNamespace} {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if ns == releaseNamespace {
			obj.Labels = restricted
		}
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
	}
	podSecurityIsEnforced(ctx, t, c)

	for _, name := range order {
		t.Run(name, func(t *testing.T) {
			for _, obj := range sources[name] {
				err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj.DeepCopy()),
					client.DryRunAll, client.ForceOwnership, client.FieldOwner("test"))
				if err != nil {
					t.Errorf("apply %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
				}
			}
			for _, obj := range find(sources[name], "Deployment", releaseNamespace) {
				dryRunPod(ctx, t, c, convert[appsv1.Deployment](t, obj))
			}
		})
	}
}

// dryRunPod creates the Deployment's pod template as a Pod with a dry run, in the release
// namespace that enforces the restricted Pod Security Standard.
func dryRunPod(ctx context.Context, t *testing.T, c client.Client, dep *appsv1.Deployment) {
	t.Helper()
	// The ServiceAccount admission plugin needs the pod's ServiceAccount to exist.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: dep.Spec.Template.Spec.ServiceAccountName, Namespace: releaseNamespace}}
	if err := c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create ServiceAccount %s: %v", sa.Name, err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: dep.Name + "-", Namespace: releaseNamespace, Labels: dep.Spec.Template.Labels},
		Spec:       dep.Spec.Template.Spec,
	}
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("the pod of Deployment %s is refused where the restricted Pod Security Standard is enforced: %v", dep.Name, err)
	}
}

// podSecurityIsEnforced proves that the API server enforces Pod Security in the release
// namespace, so that dryRunPod passing means something.
func podSecurityIsEnforced(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: releaseNamespace}}
	if err := c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	root := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "root", Namespace: releaseNamespace},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "example", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
		}}},
	}
	if err := c.Create(ctx, root, client.DryRunAll); !apierrors.IsForbidden(err) {
		t.Fatalf("a privileged pod in a restricted namespace: err = %v, want Forbidden (is PodSecurity admission off?)", err)
	}
}

// monitoringCRD is a minimal monitoring.coreos.com/v1 CRD that accepts any spec.
func monitoringCRD(kind, plural string) *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + ".monitoring.coreos.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "monitoring.coreos.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, ListKind: kind + "List", Plural: plural},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", XPreserveUnknownFields: ptr.To(true)},
					},
				}},
			}},
		},
	}
}
