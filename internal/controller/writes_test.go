package controller

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// writesPerRolloutLimit is the most API writes the controller may make for a rollout of four
// weight steps and a promotion, from the new revision to Succeeded, events included: a status
// write for each phase or weight it records (start, four weights, Promoting, Finalising,
// Succeeded: 8), the writes that converge the world to them (the canary scaled up, four
// weights, the primary promoted, the route handed back, the canary scaled down: 8), and an
// event for each (new revision, four steps, promotion started and completed: 7). Waits that
// end within the settle moment after a change are not written, and no round plans from a
// cache that has not seen the last actions' writes (it would ask for the route again).
const writesPerRolloutLimit = 23

// The writes of a whole rollout on Istio, counted at the controller's API client: four weight
// steps (25, 50, 75, 100) and a promotion. Each write is listed by method and resource, so a
// change that adds one shows where.
func TestAPIWritesPerRollout(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	rc := &requestCounter{}
	startController(t, ns, controllerOptions{provider: siskinv1.ProviderIstio, wrapConfig: rc.wrap})
	runKubelet(t, ns)
	c := weightedCanary(ns, routerCase{provider: siskinv1.ProviderIstio, spec: func(*siskinv1.Canary) {}})
	c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight, c.Spec.Analysis.Threshold = 25, ptr.To[int32](100), 5
	setupRollout(t, ns, c)
	time.Sleep(time.Second)
	rc.take()

	release(t, ns, "podinfo:6.1.0")
	waitForWithin(t, keyOf(c), "Succeeded", 7*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded
	})
	time.Sleep(2 * time.Second) // the actions of the last round follow its status write
	_, writes, log := rc.take()
	byResource := map[string]int{}
	for _, l := range log {
		method, path, _ := strings.Cut(l, " ")
		if method == "GET" {
			continue
		}
		byResource[method+" "+resourceOf(path)]++
	}
	lines := make([]string, 0, len(byResource))
	for k, n := range byResource {
		lines = append(lines, k+" ×"+strconv.Itoa(n))
	}
	sort.Strings(lines)
	t.Logf("a rollout of four steps and a promotion: %d writes\n%s", writes, strings.Join(lines, "\n"))
	if writes > writesPerRolloutLimit {
		t.Errorf("%d writes for a rollout of four steps and a promotion, want at most %d:\n%s", writes, writesPerRolloutLimit, strings.Join(log, "\n"))
	}
}

// resourceOf is the resource (and subresource) of an API path, without namespace and name:
// /apis/apps/v1/namespaces/x/deployments/podinfo/scale is apps/deployments/scale.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	group := ""
	if parts[0] == "apis" && len(parts) > 2 {
		group = parts[1] + "/"
		parts = parts[3:]
	} else if len(parts) > 1 {
		parts = parts[2:]
	}
	if len(parts) >= 2 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	switch len(parts) {
	case 0:
		return group
	case 1, 2:
		return group + parts[0]
	default:
		return group + parts[0] + "/" + parts[2]
	}
}
