package controller

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv"
)

// forbiddenCounter records every request the API server refused with 403.
type forbiddenCounter struct {
	mu  sync.Mutex
	log []string
}

func (f *forbiddenCounter) wrap(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil && resp.StatusCode == http.StatusForbidden {
				f.mu.Lock()
				f.log = append(f.log, req.Method+" "+req.URL.String())
				f.mu.Unlock()
			}
			return resp, err
		})
	})
}

// TestChartRBACIsEnoughForARollout runs the controller as a ServiceAccount bound to exactly
// the rules the Helm chart grants (charts/siskin/files/rbac-rules.yaml), through a full
// rollout on the Istio router, and fails on any request the API server forbids.
func TestChartRBACIsEnoughForARollout(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "charts", "siskin", "files", "rbac-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatalf("chart rules: %v", err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "siskin-" + ns}, Rules: rules}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "siskin-" + ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "siskin", Namespace: ns}},
	}
	if err := k8sClient.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k8sClient.Delete(context.Background(), binding)
		_ = k8sClient.Delete(context.Background(), role)
	})

	forbidden := &forbiddenCounter{}
	startController(t, ns, controllerOptions{provider: siskinv1.ProviderIstio, wrapConfig: func(cfg *rest.Config) {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":siskin"}
		forbidden.wrap(cfg)
	}})
	runKubelet(t, ns)
	url, _, _ := hookServer(t)
	c := blueGreen(ns, 1, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	c.Spec.Provider = siskinv1.ProviderIstio
	c.Spec.Analysis.Iterations = 0
	c.Spec.Analysis.StepWeight = 50
	c.Spec.Analysis.MaxWeight = ptrTo[int32](50)
	setupRollout(t, ns, c)
	release(t, ns, "podinfo:6.1.0")
	waitForWithin(t, keyOf(c), "Succeeded", 5*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})

	forbidden.mu.Lock()
	defer forbidden.mu.Unlock()
	if len(forbidden.log) > 0 {
		t.Errorf("the chart's RBAC forbade %d request(s):\n%s", len(forbidden.log), strings.Join(forbidden.log, "\n"))
	}
}

func ptrTo[T any](v T) *T { return &v }
