package install

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/siskin-dev/siskin/pkg/providers"
)

// generatedRules are the rules controller-gen writes into config/rbac/role.yaml.
func generatedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.ClusterRole
	decodeFile(t, "config/rbac/role.yaml", &role)
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules: run make manifests")
	}
	return role.Rules
}

// manager returns the Deployment's container and the Deployment.
func manager(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	dep := one[appsv1.Deployment](t, objs, "Deployment", releaseNamespace)
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(dep.Spec.Template.Spec.Containers))
	}
	return dep, dep.Spec.Template.Spec.Containers[0]
}

func TestChartLints(t *testing.T) {
	helm := tool(t, "helm")
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			args := []string{"lint", "--strict", "charts/siskin", "--namespace", releaseNamespace}
			if vs.values != nil {
				args = append(args, "--values", writeValues(t, vs.values))
			}
			if out, err := run(t, helm, args...); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

func TestChartDefaultsRunTwoHardenedReplicasWithClusterRBAC(t *testing.T) {
	objs := render(t, nil)
	dep, c := manager(t, objs)

	if got := *dep.Spec.Replicas; got != 2 {
		t.Errorf("replicas = %d, want 2", got)
	}
	if dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("strategy = %s, want RollingUpdate", dep.Spec.Strategy.Type)
	}
	for _, want := range []string{
		"--leader-elect", "--leader-election-namespace=" + releaseNamespace, "--leader-election-id=siskin", "--provider=istio",
		"--metrics-server=http://prometheus:9090", "--metrics-bind-address=:8080",
		"--health-probe-bind-address=:8081", "--concurrent=4", "--kube-api-qps=50", "--kube-api-burst=100",
		"--selector-labels=app,name,app.kubernetes.io/name", "--log-level=info", "--log-encoding=json",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", c.Args, want)
		}
	}
	for _, absent := range []string{"--watch-namespaces", "--slack-", "--cluster-name", "--webhook-signing-key-file", "--max-concurrent-canaries"} {
		if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, absent) }) {
			t.Errorf("args %q hold %s, which the defaults leave out", c.Args, absent)
		}
	}

	pod := dep.Spec.Template.Spec.SecurityContext
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot ||
		pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v, want runAsNonRoot and seccomp RuntimeDefault", pod)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("container has no securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem is not true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Errorf("capabilities = %+v, want drop [ALL]", sc.Capabilities)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "health" {
		t.Errorf("liveness probe = %+v, want GET /healthz on port health", p)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "health" {
		t.Errorf("readiness probe = %+v, want GET /readyz on port health", p)
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "health" && p.ContainerPort == 8081 }) {
		t.Errorf("ports = %+v, want health 8081", c.Ports)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v, want CPU requests and a memory limit", c.Resources)
	}

	pdb := one[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", releaseNamespace)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PDB minAvailable = %v, want 1", pdb.Spec.MinAvailable)
	}

	role := one[rbacv1.ClusterRole](t, objs, "ClusterRole", "")
	if !equality.Semantic.DeepEqual(role.Rules, generatedRules(t)) {
		t.Errorf("ClusterRole rules differ from config/rbac/role.yaml:\n got %+v\nwant %+v", role.Rules, generatedRules(t))
	}
	binding := one[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", "")
	sa := one[corev1.ServiceAccount](t, objs, "ServiceAccount", releaseNamespace)
	if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 ||
		binding.Subjects[0].Name != sa.Name || binding.Subjects[0].Namespace != releaseNamespace {
		t.Errorf("ClusterRoleBinding %+v does not bind ClusterRole %s to ServiceAccount %s/%s", binding, role.Name, releaseNamespace, sa.Name)
	}
	if dep.Spec.Template.Spec.ServiceAccountName != sa.Name {
		t.Errorf("pods run as %q, want ServiceAccount %q", dep.Spec.Template.Spec.ServiceAccountName, sa.Name)
	}
	leaderElectionRole(t, objs)

	svc := one[corev1.Service](t, objs, "Service", releaseNamespace)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("metrics Service ports = %+v, want one targeting port metrics", svc.Spec.Ports)
	}
	for _, kind := range []string{"ServiceMonitor", "PodMonitor", "ConfigMap"} {
		if got := find(objs, kind, "*"); len(got) != 0 {
			t.Errorf("defaults render a %s", kind)
		}
	}
}

// leaderElectionRole checks the Role and RoleBinding that let the controller hold its Lease
// in the release namespace, and that no other role grants Leases.
func leaderElectionRole(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	grantsLeases := func(rules []rbacv1.PolicyRule) bool {
		return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.APIGroups, "coordination.k8s.io")
		})
	}
	for _, r := range find(objs, "ClusterRole", "*") {
		if role := convert[rbacv1.ClusterRole](t, r); grantsLeases(role.Rules) {
			t.Errorf("ClusterRole %s grants Leases in every namespace; only the release namespace's are needed", role.Name)
		}
	}
	for _, r := range find(objs, "Role", "*") {
		if role := convert[rbacv1.Role](t, r); grantsLeases(role.Rules) &&
			(role.Namespace != releaseNamespace || !strings.HasSuffix(role.Name, "-leader-election")) {
			t.Errorf("Role %s/%s grants Leases; only the leader-election Role in %s may", role.Namespace, role.Name, releaseNamespace)
		}
	}
	var found bool
	for _, r := range find(objs, "Role", releaseNamespace) {
		role := convert[rbacv1.Role](t, r)
		if !strings.HasSuffix(role.Name, "-leader-election") {
			continue
		}
		found = true
		if !slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.APIGroups, "coordination.k8s.io") && slices.Contains(r.Resources, "leases") &&
				slices.Contains(r.Verbs, "create") && slices.Contains(r.Verbs, "update")
		}) {
			t.Errorf("leader-election Role rules %+v do not allow creating and updating Leases", role.Rules)
		}
	}
	if !found {
		t.Errorf("no leader-election Role in %s; objects: %v", releaseNamespace, kinds(objs))
	}
}

func TestChartPassesTheRolloutLimit(t *testing.T) {
	_, c := manager(t, render(t, map[string]any{"maxConcurrentCanaries": 25}))
	if !slices.Contains(c.Args, "--max-concurrent-canaries=25") {
		t.Errorf("args %q lack --max-concurrent-canaries=25", c.Args)
	}
}

func TestChartPassesTheStepLatenessTarget(t *testing.T) {
	_, c := manager(t, render(t, nil))
	if !slices.Contains(c.Args, "--step-lateness-target=2s") {
		t.Errorf("args %q lack the default --step-lateness-target=2s", c.Args)
	}
	_, c = manager(t, render(t, map[string]any{"stepLatenessTarget": "0s"}))
	if !slices.Contains(c.Args, "--step-lateness-target=0s") {
		t.Errorf("args %q lack --step-lateness-target=0s", c.Args)
	}
}

// TestChartSchemaAcceptsEveryDefaultProvider holds the values schema's provider enum to the
// providers the controller accepts as its default (--provider): every registered provider
// marked Default, its aliases and its implementations.
func TestChartSchemaAcceptsEveryDefaultProvider(t *testing.T) {
	var schema struct {
		Properties struct {
			Provider struct {
				Enum []string `json:"enum"`
			} `json:"provider"`
		} `json:"properties"`
	}
	data, err := os.ReadFile(filepath.Join(root, "charts/siskin/values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range providers.All {
		if !p.Default {
			continue
		}
		want = append(want, p.Name)
		want = append(want, p.Aliases...)
		for _, i := range p.Implementations {
			want = append(want, i.Name)
		}
	}
	got := slices.Clone(schema.Properties.Provider.Enum)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("values.schema.json provider enum = %q, want the default providers %q", got, want)
	}
}

func TestChartWatchNamespacesGrantsRolesOnlyThere(t *testing.T) {
	objs := render(t, map[string]any{"watchNamespaces": []string{"team-a", "team-b"}})
	_, c := manager(t, objs)
	if !slices.Contains(c.Args, "--watch-namespaces=team-a,team-b") {
		t.Errorf("args %q lack --watch-namespaces=team-a,team-b", c.Args)
	}
	if got := find(objs, "ClusterRole", "*"); len(got) != 0 {
		t.Errorf("namespaced install renders %d ClusterRoles", len(got))
	}
	if got := find(objs, "ClusterRoleBinding", "*"); len(got) != 0 {
		t.Errorf("namespaced install renders %d ClusterRoleBindings", len(got))
	}
	want := generatedRules(t)
	for _, ns := range []string{"team-a", "team-b"} {
		role := one[rbacv1.Role](t, objs, "Role", ns)
		if !equality.Semantic.DeepEqual(role.Rules, want) {
			t.Errorf("Role rules in %s differ from config/rbac/role.yaml", ns)
		}
		rb := one[rbacv1.RoleBinding](t, objs, "RoleBinding", ns)
		if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name ||
			len(rb.Subjects) != 1 || rb.Subjects[0].Namespace != releaseNamespace {
			t.Errorf("RoleBinding in %s = %+v, want Role %s bound to the ServiceAccount in %s", ns, rb, role.Name, releaseNamespace)
		}
	}
	leaderElectionRole(t, objs)
}

func TestChartMonitoringAndDashboard(t *testing.T) {
	objs := render(t, map[string]any{
		"monitoring": map[string]any{
			"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
			"podMonitor":     map[string]any{"enabled": true},
		},
		"dashboard": map[string]any{"enabled": true},
	})
	sm := find(objs, "ServiceMonitor", releaseNamespace)
	if len(sm) != 1 || sm[0].GetAPIVersion() != "monitoring.coreos.com/v1" || sm[0].GetLabels()["release"] != "prometheus" {
		t.Fatalf("want one monitoring.coreos.com/v1 ServiceMonitor labelled release=prometheus; objects: %v", kinds(objs))
	}
	// The ServiceMonitor must select the metrics Service and name its port.
	svc := one[corev1.Service](t, objs, "Service", releaseNamespace)
	sel, _, _ := unstructured.NestedStringMap(sm[0].Object, "spec", "selector", "matchLabels")
	for k, v := range sel {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, which the metrics Service lacks (labels %v)", k, v, svc.Labels)
		}
	}
	endpoints, _, _ := unstructured.NestedSlice(sm[0].Object, "spec", "endpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["port"] != svc.Spec.Ports[0].Name {
		t.Errorf("ServiceMonitor endpoints %v do not name the Service port %q", endpoints, svc.Spec.Ports[0].Name)
	}
	if pm := find(objs, "PodMonitor", releaseNamespace); len(pm) != 1 {
		t.Errorf("want one PodMonitor, got %d", len(pm))
	}

	cm := one[corev1.ConfigMap](t, objs, "ConfigMap", releaseNamespace)
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels = %v, want grafana_dashboard: \"1\"", cm.Labels)
	}
	var dash map[string]any
	if err := json.Unmarshal([]byte(cm.Data["siskin.json"]), &dash); err != nil {
		t.Fatalf("dashboard in the ConfigMap is not JSON: %v", err)
	}
	if dash["uid"] != "siskin-canaries" {
		t.Errorf("dashboard uid = %v", dash["uid"])
	}
}

func TestChartWithoutLeaderElectionRunsOneReplicaRecreated(t *testing.T) {
	objs := render(t, map[string]any{"replicaCount": 1, "leaderElection": map[string]any{"enabled": false}})
	dep, c := manager(t, objs)
	if *dep.Spec.Replicas != 1 {
		t.Errorf("replicas = %d, want 1", *dep.Spec.Replicas)
	}
	if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy = %s, want Recreate: two pods without leader election would both reconcile", dep.Spec.Strategy.Type)
	}
	if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--leader-elect") }) {
		t.Errorf("args %q hold a leader-election flag", c.Args)
	}
	if got := find(objs, "PodDisruptionBudget", "*"); len(got) != 0 {
		t.Error("a single replica renders a PodDisruptionBudget, which would block every node drain")
	}
	if got := find(objs, "Role", "*"); len(got) != 0 {
		t.Errorf("without leader election, want no Role; got %v", kinds(got))
	}
}

func TestChartPassesNotifierSecretsAsEnvAndSettingsAsFlags(t *testing.T) {
	objs := render(t, map[string]any{
		"clusterName": "prod-eu",
		"notifications": map[string]any{
			"existingSecret": "siskin-notifiers",
			"slack":          map[string]any{"channel": "deployments", "user": "siskin", "proxyURL": "http://proxy:3128"},
		},
		"webhookSigning": map[string]any{"existingSecret": "siskin-webhook-key"},
	})
	dep, c := manager(t, objs)
	for _, want := range []string{
		"--cluster-name=prod-eu", "--slack-channel=deployments", "--slack-user=siskin",
		"--slack-proxy-url=http://proxy:3128", "--webhook-signing-key-file=/etc/siskin/webhook-signing/signing-key",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", c.Args, want)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for name, key := range map[string]string{
		"SISKIN_SLACK_URL": "slack-url", "SISKIN_SLACK_TOKEN": "slack-token", "SISKIN_MSTEAMS_URL": "msteams-url",
	} {
		e, ok := env[name]
		if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env %s is not read from a Secret: %+v", name, e)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name != "siskin-notifiers" || ref.Key != key || ref.Optional == nil || !*ref.Optional {
			t.Errorf("env %s reads %+v, want optional key %s of Secret siskin-notifiers", name, ref, key)
		}
	}
	if slices.ContainsFunc(c.Args, func(a string) bool {
		return strings.HasPrefix(a, "--slack-url") || strings.HasPrefix(a, "--slack-token") || strings.HasPrefix(a, "--msteams-url")
	}) {
		t.Errorf("args %q carry a notifier secret", c.Args)
	}
	if !slices.ContainsFunc(dep.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Secret != nil && v.Secret.SecretName == "siskin-webhook-key"
	}) {
		t.Error("the webhook signing Secret is not mounted")
	}
}

func TestChartRefusesValuesThatCannotWork(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"two replicas without leader election",
			map[string]any{"leaderElection": map[string]any{"enabled": false}}, "needs leaderElection.enabled=true"},
		{"a misspelt key", map[string]any{"watchNamespace": []string{"a"}}, "watchNamespace"},
		{"an unknown provider", map[string]any{"provider": "kuma"}, "provider"},
		{"a negative rollout limit", map[string]any{"maxConcurrentCanaries": -1}, "maxConcurrentCanaries"},
		{"a namespace that is not a DNS label", map[string]any{"watchNamespaces": []string{"Team_A"}}, "watchNamespaces"},
		{"a PDB that blocks every drain",
			map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": 2}}, "minAvailable must be below replicaCount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := helmTemplate(t, tt.values)
			if err == nil {
				t.Fatal("helm template accepted the values")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestChartCopiesMatchGeneratedFiles fails when hack/chart-sync.sh was not run after
// make manifests: the chart and config/default carry copies of the generated CRDs and rules.
func TestChartCopiesMatchGeneratedFiles(t *testing.T) {
	var copied []rbacv1.PolicyRule
	decodeFile(t, "charts/siskin/files/rbac-rules.yaml", &copied)
	if !equality.Semantic.DeepEqual(copied, generatedRules(t)) {
		t.Error("charts/siskin/files/rbac-rules.yaml differs from config/rbac/role.yaml: run make chart-sync")
	}
	same(t, "config/rbac/role.yaml", "config/default/generated/rbac/role.yaml")

	bases, err := filepath.Glob(filepath.Join(root, "config/crd/bases/*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases (%v): run make manifests", err)
	}
	for _, dir := range []string{"charts/siskin/crds", "config/default/generated/crds"} {
		copies, _ := filepath.Glob(filepath.Join(root, dir, "*.yaml"))
		if len(copies) != len(bases) {
			t.Errorf("%s holds %d CRDs, config/crd/bases %d: run make chart-sync", dir, len(copies), len(bases))
		}
		for _, b := range bases {
			same(t, "config/crd/bases/"+filepath.Base(b), dir+"/"+filepath.Base(b))
		}
	}
}

func same(t *testing.T, src, dst string) {
	t.Helper()
	a, err := os.ReadFile(filepath.Join(root, src))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, dst))
	if err != nil {
		t.Errorf("%s: %v: run make chart-sync", dst, err)
		return
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from %s: run make chart-sync", dst, src)
	}
}

// siskinMetrics are the series Siskin and controller-runtime export that the dashboard may
// query (histograms by their _bucket series).
var siskinMetrics = []string{
	"siskin_canary_status", "siskin_canary_weight", "siskin_canary_rollout_duration_seconds_bucket",
	"siskin_canary_promotions_total", "siskin_canary_rollbacks_total", "siskin_canary_analysis_value",
	"siskin_canary_analysis_min", "siskin_canary_analysis_max", "siskin_canary_analysis_checks_total",
	"siskin_notifications_failed_total", "controller_runtime_reconcile_total",
}

// TestDashboardQueriesKnownMetrics checks the dashboard's JSON and that every query names
// only metrics Siskin exports and variables the dashboard defines, so a renamed metric
// fails here instead of leaving an empty panel.
func TestDashboardQueriesKnownMetrics(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "charts/siskin/dashboards/siskin.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			GridPos struct{ X, W int }
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	vars := map[string]bool{"__rate_interval": true, "__range": true, "__interval": true}
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
	}
	metricName := regexp.MustCompile(`\b(siskin_[a-z_]+|controller_runtime_[a-z_]+)\b`)
	variable := regexp.MustCompile(`\$\{?([A-Za-z_]+)`)
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q is wider than the grid", p.Title)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				if !slices.Contains(siskinMetrics, m) {
					t.Errorf("panel %q queries %s, which Siskin does not export", p.Title, m)
				}
				used[m] = true
			}
			for _, v := range variable.FindAllStringSubmatch(tg.Expr, -1) {
				if !vars[v[1]] {
					t.Errorf("panel %q uses undefined variable $%s", p.Title, v[1])
				}
			}
		}
	}
	for _, m := range siskinMetrics {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}
