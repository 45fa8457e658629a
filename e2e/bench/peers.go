package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/siskin-dev/siskin/e2e/localenv/envfile"
)

// Controllers the bench can compare, in the order a comparison runs them.
const (
	ctlSiskin  = "siskin"
	ctlFlagger = "flagger"
	ctlArgo    = "argo"
)

var knownControllers = []string{ctlSiskin, ctlFlagger, ctlArgo}

// parseControllers reads -controllers: known names, each once; they run in the order of
// knownControllers, Siskin first, so that the peers' ratios to it print as they come.
func parseControllers(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(knownControllers, f) {
			return nil, fmt.Errorf("-controllers %q: unknown controller %q (want some of %s)", s, f, strings.Join(knownControllers, ","))
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("-controllers %q: %s twice", s, f)
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b string) int { return slices.Index(knownControllers, a) - slices.Index(knownControllers, b) })
	return out, nil
}

// state is where a controller's object stands, the same for every controller.
type state int

const (
	stateNone   state = iota // not initialized yet
	stateRest                // nothing to do: Initialized or Succeeded, or Healthy
	stateActive              // a rollout is under way
	stateFailed              // the last rollout failed
)

// peerObs is what the bench reads from a controller's object at one watch event.
type peerObs struct {
	at    time.Time
	state state
	// applied is the controller's name of the revision it acts on, promoted of the one it last
	// promoted; they are compared with each other only, never across controllers.
	applied, promoted string
	// weight is the canary's traffic weight in percent.
	weight int64
}

func (o peerObs) same(p peerObs) bool {
	return o.state == p.state && o.applied == p.applied && o.promoted == p.promoted && o.weight == p.weight
}

// driver is what the bench knows of one controller: the object it watches, what it creates
// for each Deployment, and how the controller is started.
type driver struct {
	name string
	// gvk is the kind of the object the bench watches, one per Deployment.
	gvk schema.GroupVersionKind
	bin string
	// crds is a file of CustomResourceDefinitions to install first ("" for none).
	crds string
	// objects are what the bench creates for the Deployment name, before the controller starts.
	objects func(ns, name string) []client.Object
	// args are the controller's flags; ports are free loopback ports for its listeners.
	args    func(env *envfile.Env, kubeconfig, ns string, ports []int) []string
	observe func(u *unstructured.Unstructured) peerObs
}

func newDriver(name string, cfg *config) *driver {
	switch name {
	case ctlFlagger:
		return flaggerDriver(cfg)
	case ctlArgo:
		return argoDriver(cfg)
	default:
		return siskinDriver(cfg)
	}
}

func siskinDriver(cfg *config) *driver {
	return &driver{
		name: ctlSiskin,
		gvk:  schema.GroupVersionKind{Group: "siskin.dev", Version: "v1beta1", Kind: "Canary"},
		bin:  cfg.siskin,
		objects: func(ns, name string) []client.Object {
			return []client.Object{canaryFor(ns, name, cfg)}
		},
		args: func(env *envfile.Env, kubeconfig, ns string, ports []int) []string {
			return append([]string{
				"--kubeconfig=" + kubeconfig,
				fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[0]),
				fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[1]),
				"--watch-namespaces=" + ns,
				"--provider=" + cfg.provider,
				"--metrics-server=" + env.Prometheus,
				"--concurrent=" + strconv.Itoa(cfg.concurrent),
				"--kube-api-qps=" + strconv.Itoa(cfg.qps),
				"--kube-api-burst=" + strconv.Itoa(cfg.burst),
			}, cfg.siskinArgs...)
		},
		observe: observeFlaggerLike,
	}
}

// flaggerDriver runs Flagger on the same Canaries under flagger.app/v1beta1, with Istio as
// the mesh and the same client limits and workers as Siskin.
func flaggerDriver(cfg *config) *driver {
	return &driver{
		name: ctlFlagger,
		gvk:  schema.GroupVersionKind{Group: "flagger.app", Version: "v1beta1", Kind: "Canary"},
		bin:  cfg.peersDir + "/flagger",
		crds: cfg.peersDir + "/crds/flagger.yaml",
		objects: func(ns, name string) []client.Object {
			return []client.Object{flaggerCanary(ns, name, cfg)}
		},
		args: func(env *envfile.Env, kubeconfig, ns string, ports []int) []string {
			return []string{
				"-kubeconfig=" + kubeconfig,
				"-namespace=" + ns,
				"-mesh-provider=istio",
				"-metrics-server=" + env.Prometheus,
				"-port=" + strconv.Itoa(ports[0]),
				"-threadiness=" + strconv.Itoa(cfg.concurrent),
				"-kubeconfig-qps=" + strconv.Itoa(cfg.qps),
				"-kubeconfig-burst=" + strconv.Itoa(cfg.burst),
				"-log-level=info",
			}
		},
		observe: observeFlaggerLike,
	}
}

// flaggerCanary is canaryFor's Canary as Flagger reads it: the same target, port and analysis.
func flaggerCanary(ns, name string, cfg *config) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1",
		"kind":       "Canary",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"provider":  "istio",
			"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
			"service":   map[string]any{"port": int64(9898)},
			"analysis": map[string]any{
				"interval":   cfg.interval.String(),
				"threshold":  int64(5),
				"stepWeight": int64(cfg.stepWeight),
				"maxWeight":  int64(100),
			},
		},
	}}
	return u
}

// observeFlaggerLike reads Siskin's and Flagger's Canary status, whose fields are the same.
func observeFlaggerLike(u *unstructured.Unstructured) peerObs {
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	o := peerObs{}
	o.applied, _, _ = unstructured.NestedString(u.Object, "status", "lastAppliedSpec")
	o.promoted, _, _ = unstructured.NestedString(u.Object, "status", "lastPromotedSpec")
	o.weight, _, _ = unstructured.NestedInt64(u.Object, "status", "canaryWeight")
	switch phase {
	case "Initialized", "Succeeded":
		o.state = stateRest
	case "Progressing", "Promoting", "Finalising", "Waiting", "WaitingPromotion":
		o.state = stateActive
	case "Failed":
		o.state = stateFailed
	}
	return o
}

// argoDriver runs Argo Rollouts: a Rollout per Deployment (workloadRef), with canary steps of
// the same schedule and Istio VirtualService traffic routing between two Services.
func argoDriver(cfg *config) *driver {
	return &driver{
		name: ctlArgo,
		gvk:  schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Rollout"},
		bin:  cfg.peersDir + "/rollouts-controller",
		crds: cfg.peersDir + "/crds/argo-rollouts.yaml",
		objects: func(ns, name string) []client.Object {
			return argoObjects(ns, name, cfg)
		},
		args: func(_ *envfile.Env, kubeconfig, ns string, ports []int) []string {
			return []string{
				"--kubeconfig=" + kubeconfig,
				"--namespaced",
				"--namespace=" + ns,
				"--leader-elect=false",
				"--metricsport=" + strconv.Itoa(ports[0]),
				"--healthzPort=" + strconv.Itoa(ports[1]),
				"--rollout-threads=" + strconv.Itoa(cfg.concurrent),
				"--qps=" + strconv.Itoa(cfg.qps),
				"--burst=" + strconv.Itoa(cfg.burst),
			}
		},
		observe: observeRollout,
	}
}

// argoSteps is the schedule of Siskin's analysis as Rollout canary steps: a pause of one
// interval before each weight (Siskin's first step comes an interval after the start), and
// one after the last weight before the promotion.
func argoSteps(cfg *config) []any {
	pause := map[string]any{"pause": map[string]any{"duration": cfg.interval.String()}}
	var steps []any
	for w := cfg.stepWeight; ; w += cfg.stepWeight {
		w = min(w, 100)
		steps = append(steps, pause, map[string]any{"setWeight": int64(w)})
		if w == 100 {
			break
		}
	}
	return append(steps, pause)
}

func argoObjects(ns, name string, cfg *config) []client.Object {
	svc := func(n string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"name": n, "namespace": ns},
			"spec": map[string]any{
				"selector": map[string]any{"app": name},
				"ports":    []any{map[string]any{"name": "http", "port": int64(9898), "targetPort": "http"}},
			},
		}}
	}
	stable, canary := name+"-stable", name+"-canary"
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"hosts": []any{name},
			"http": []any{map[string]any{
				"name": "primary",
				"route": []any{
					map[string]any{"destination": map[string]any{"host": stable}, "weight": int64(100)},
					map[string]any{"destination": map[string]any{"host": canary}, "weight": int64(0)},
				},
			}},
		},
	}}
	ro := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"replicas":    int64(1),
			"selector":    map[string]any{"matchLabels": map[string]any{"app": name}},
			"workloadRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
			"strategy": map[string]any{"canary": map[string]any{
				"stableService": stable,
				"canaryService": canary,
				"trafficRouting": map[string]any{"istio": map[string]any{
					"virtualService": map[string]any{"name": name, "routes": []any{"primary"}},
				}},
				"steps": argoSteps(cfg),
			}},
		},
	}}
	return []client.Object{svc(stable), svc(canary), vs, ro}
}

// observeRollout reads a Rollout's status: Healthy is at rest, the revision acted on is the
// current pod hash and the promoted one the stable ReplicaSet's.
func observeRollout(u *unstructured.Unstructured) peerObs {
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	o := peerObs{}
	o.applied, _, _ = unstructured.NestedString(u.Object, "status", "currentPodHash")
	o.promoted, _, _ = unstructured.NestedString(u.Object, "status", "stableRS")
	o.weight, _, _ = unstructured.NestedInt64(u.Object, "status", "canary", "weights", "canary", "weight")
	switch phase {
	case "Healthy":
		if o.promoted != "" {
			o.state = stateRest
		}
	case "Progressing", "Paused":
		o.state = stateActive
	case "Degraded":
		o.state = stateFailed
	}
	return o
}
