package install

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// kustomizations are the kustomize installs, with the --provider each one adds ("" for the
// binary's default).
var kustomizations = []struct {
	dir      string
	provider string
}{
	{"config/default", ""},
	{"config/overlays/istio", "istio"},
	{"config/overlays/gatewayapi", "gatewayapi"},
	{"config/overlays/kubernetes", "kubernetes"},
}

func TestKustomizeInstallsBuild(t *testing.T) {
	rules := generatedRules(t)
	for _, k := range kustomizations {
		t.Run(k.dir, func(t *testing.T) {
			objs := kustomize(t, k.dir)
			for _, o := range objs {
				namespaced := !slices.Contains([]string{"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}, o.GetKind())
				if namespaced && o.GetNamespace() != releaseNamespace {
					t.Errorf("%s %s is in namespace %q, want %s", o.GetKind(), o.GetName(), o.GetNamespace(), releaseNamespace)
				}
			}
			if got := len(find(objs, "CustomResourceDefinition", "*")); got != 3 {
				t.Errorf("%d CRDs, want 3 (Canary, MetricTemplate, AlertProvider)", got)
			}

			role := one[rbacv1.ClusterRole](t, objs, "ClusterRole", "")
			if !equality.Semantic.DeepEqual(role.Rules, rules) {
				t.Error("ClusterRole rules differ from config/rbac/role.yaml: run make chart-sync")
			}
			binding := one[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "")
			if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 ||
				binding.Subjects[0].Name != "siskin" || binding.Subjects[0].Namespace != releaseNamespace {
				t.Errorf("ClusterRoleBinding = %+v, want ClusterRole %s bound to %s/siskin", binding, role.Name, releaseNamespace)
			}
			leaderElectionRole(t, objs)

			dep := one[appsv1.Deployment](t, objs, "Deployment", releaseNamespace)
			if dep.Spec.Template.Spec.ServiceAccountName != "siskin" {
				t.Errorf("pods run as %q, want siskin", dep.Spec.Template.Spec.ServiceAccountName)
			}
			args := dep.Spec.Template.Spec.Containers[0].Args
			var providers []string
			for _, a := range args {
				if p, ok := strings.CutPrefix(a, "--provider="); ok {
					providers = append(providers, p)
				}
			}
			switch {
			case k.provider == "" && len(providers) != 0:
				t.Errorf("config/default sets --provider %v; the overlays choose it", providers)
			case k.provider != "" && !slices.Equal(providers, []string{k.provider}):
				t.Errorf("--provider %v, want exactly [%s]", providers, k.provider)
			}
			if !slices.Contains(args, "--leader-elect") || *dep.Spec.Replicas != 2 {
				t.Errorf("replicas %d, args %q: want 2 replicas with --leader-elect", *dep.Spec.Replicas, args)
			}
			if len(find(objs, "PodDisruptionBudget", releaseNamespace)) != 1 {
				t.Error("no PodDisruptionBudget for the two replicas")
			}
		})
	}
}

func TestKustomizeSamplesBuild(t *testing.T) {
	objs := kustomize(t, "config/samples")
	for _, kind := range []string{"Canary", "MetricTemplate", "AlertProvider"} {
		if len(find(objs, kind, "*")) != 1 {
			t.Errorf("want one %s in config/samples; objects: %v", kind, kinds(objs))
		}
	}
}
