package install

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// sharded are the values of three replicas with three shards.
var sharded = map[string]any{"sharding": map[string]any{"shards": 3, "leaseDuration": "20s"}}

func TestChartShardsRunAStatefulSetOfOnePodPerShard(t *testing.T) {
	objs := render(t, sharded)
	if got := find(objs, "Deployment", "*"); len(got) != 0 {
		t.Errorf("sharded install renders %d Deployments besides the StatefulSet", len(got))
	}
	sts := one[appsv1.StatefulSet](t, objs, "StatefulSet", releaseNamespace)
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want one per shard (3)", sts.Spec.Replicas)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy = %q, want Parallel: a pod does not wait for the one before it to take its shard", sts.Spec.PodManagementPolicy)
	}
	c := sts.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"--shards=3", "--shard-lease-duration=20s", "--leader-election-namespace=" + releaseNamespace, "--leader-election-id=siskin"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--shard-index") }) {
		t.Errorf("args %q name a shard index: each pod takes its own from the ordinal of its name", c.Args)
	}
	leaderElectionRole(t, objs)
	role := one[rbacv1.Role](t, objs, "Role", releaseNamespace)
	if !slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.Resources, "leases") && slices.Contains(r.Verbs, "patch")
	}) {
		t.Errorf("leader-election Role rules %+v do not allow patching Leases (a replica's claim on its shard)", role.Rules)
	}
}

func TestChartShardsWithoutLeaderElectionStillGetTheirLeases(t *testing.T) {
	objs := render(t, map[string]any{
		"sharding": map[string]any{"shards": 2}, "leaderElection": map[string]any{"enabled": false},
	})
	leaderElectionRole(t, objs)
	sts := one[appsv1.StatefulSet](t, objs, "StatefulSet", releaseNamespace)
	c := sts.Spec.Template.Spec.Containers[0]
	if slices.Contains(c.Args, "--leader-elect") {
		t.Errorf("args %q elect a leader though leaderElection.enabled is false", c.Args)
	}
	if !slices.Contains(c.Args, "--leader-election-namespace="+releaseNamespace) {
		t.Errorf("args %q do not place the shards' Leases in the release namespace", c.Args)
	}
}

func TestChartShardsLintAndRefuseABadLeaseDuration(t *testing.T) {
	helm := tool(t, "helm")
	if out, err := run(t, helm, "lint", "--strict", "charts/siskin", "--namespace", releaseNamespace, "--values", writeValues(t, sharded)); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	_, err := helmTemplate(t, map[string]any{"sharding": map[string]any{"shards": 3, "leaseDuration": "fifteen"}})
	if err == nil || !strings.Contains(err.Error(), "leaseDuration") {
		t.Errorf("leaseDuration fifteen: error %v, want one naming leaseDuration", err)
	}
}

func TestChartUnshardedIsADeployment(t *testing.T) {
	objs := render(t, map[string]any{"sharding": map[string]any{"shards": 1}})
	if got := find(objs, "StatefulSet", "*"); len(got) != 0 {
		t.Errorf("shards 1 renders a StatefulSet")
	}
	_, c := manager(t, objs)
	if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--shards") }) {
		t.Errorf("args %q shard with shards 1", c.Args)
	}
}
